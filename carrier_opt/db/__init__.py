"""Persistence: models of the legacy tables, engines, migrations (and, later, sync and results)."""
