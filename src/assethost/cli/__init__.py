"""The `assethost` command."""
