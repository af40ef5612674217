"""The Serverless API v1 face: Twilio's paths, form parameters, JSON shapes and errors."""
