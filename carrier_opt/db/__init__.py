"""Persistence: models of the legacy tables, engines, migrations, providers, the carrier sync
(``staging`` load, ``merge`` into ``Device``, ``sync`` orchestration), rate-plan prices and the
instance export (and, later, results)."""
