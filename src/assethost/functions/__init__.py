"""Functions: run the JavaScript (and Python) code of a build next to its assets.

- `package`: when a build completes, write its own folder (function sources, private assets,
  installed npm dependencies) under `{data}/builds/{ZB}/`.
- `workers` / `runner`: supervised worker processes running our own harness, one pool per live
  build, with time limits and per-account concurrency bounds.
- `logs`: what functions print, kept per environment in batches and read by the Logs resource.
"""
