"""Storage adapters: SQL (functions taking a Session), vectors (Chroma over HTTP), queue (rq)."""
