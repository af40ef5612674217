"""The operator's face: health and readiness probes, Prometheus metrics, the access log and
JSON server logs. Served on the API origin (never on an environment's domain, which is the
tenant's)."""
