"""Fixtures of the deployment tests: a database for Dagster's own instance storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture
def dagster_pg_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's instance storage (dropped after).

    The URL names psycopg2: SQLAlchemy 2.1 takes psycopg 3 for a bare ``postgresql://``, on
    which dagster-postgres's ``NOTIFY`` fails (docs/deployment.md)."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(drivername="postgresql+psycopg2", database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
