"""Pure pipeline stages: no web, database, queue or vector-store imports (tests/unit/test_layout.py)."""
