"""Pure pipeline stages: no web, database, queue or vector-store imports (tests/test_layout.py)."""
