"""Every HTTP entry point: one blueprint per audience, the web helpers, and api/ (/api/v1)."""
