"""Column types shared by every table, so each dialect stores the same thing.

* Money is ``Numeric(18, 4)`` everywhere (``MONEY`` would tie us to SQL Server).
* Timestamps are timezone-aware: ``TIMESTAMPTZ`` on PostgreSQL, ``DATETIMEOFFSET`` on SQL Server.
  SQLite has no zone, so :class:`UtcDateTime` stores UTC there and hands back aware UTC values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from carrier_opt import clock

MONEY = Numeric(18, 4)
"""Money in USD with four decimals, as the legacy schema stored it."""

DATA_MB = Numeric(18, 6)
"""Rate-plan sizes in MB (allowances, overage units such as 0.001 MB)."""

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
"""Primary key for tables that grow by millions of rows; SQLite only autoincrements INTEGER."""


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default for audit columns).

    It reads the one clock (:func:`carrier_opt.clock.now`, looked up per call), so a test or a
    replay that pins the clock also pins every stamp written to the database.
    """
    return clock.now().astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC before storing; a naive value is a bug in the caller."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes (UTC) only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Hand back aware UTC, whatever the dialect returned."""
        if value is None:
            return None
        if isinstance(value, str):  # SQLite rows written by hand or another tool
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def money_value(value: float) -> Decimal:
    """A USD amount as the :data:`MONEY` columns keep it: four decimals."""
    return Decimal(f"{value:.4f}")
