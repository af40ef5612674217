"""assethost: a self-hosted, Twilio-compatible Assets service."""

__version__ = "0.1.0"
