"""The console's pages, one module per role (and the public market)."""
