"""The commands that talk to a running assethost over HTTP (deploy and the ones around it)."""
