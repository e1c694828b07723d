"""Background workers: rq job functions (jobs.py) and the worker entry point (__main__.py)."""
