"""The web console: server-rendered pages under /console on the API origin."""
