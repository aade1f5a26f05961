"""Features: each a module with setup(ctx) / close(), loaded from a list (data)."""
