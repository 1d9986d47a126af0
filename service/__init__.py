"""The wiring: settings, database, the REST API and the `sluice` CLI. Thin by design."""
