"""Declarative base, naming convention and the small vocabularies the tables share."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carrier_opt.db.types import UtcDateTime, utc_now

# Explicit constraint names make migrations reproducible and the DDL readable on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every carrier_opt table; legacy table names are kept as ``__tablename__``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditMixin:
    """When a row was created and last changed (aware UTC)."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, nullable=False)
    modified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), onupdate=utc_now)


class RunStatus(StrEnum):
    """Life cycle of a session, instance, queue or customer run."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)


class OptimizationType(StrEnum):
    """The three kinds of optimization the legacy system ran."""

    M2M = "m2m"
    MOBILITY = "mobility"
    CUSTOMER = "customer"


class Fleet(StrEnum):
    """What a provider's SIMs are: M2M devices (``Device``) or mobility devices (phones and
    tablets, also in ``MobilityDevice`` with their optimization group)."""

    M2M = "m2m"
    MOBILITY = "mobility"


class AccountType(StrEnum):
    """What the carrier account may call (Cisco's "REST API/Account Type/Role Matrix").

    ``auto``: found out from the carrier (a refusal of Get Usage by Rate Plan while other calls
    work is recorded); ``advantage``: every function; ``essential``: no Get Usage by Rate Plan,
    no usage by zone, no audit history, so every usage refresh is one call per SIM."""

    AUTO = "auto"
    ADVANTAGE = "advantage"
    ESSENTIAL = "essential"


class Capability(StrEnum):
    """What was found out about one carrier function on an account."""

    ALLOWED = "allowed"
    REFUSED = "refused"


class ChargeType(StrEnum):
    """How a plan bills: base rate and overage (default), overage only, base rate only."""

    RATE_AND_OVERAGE = "rate_and_overage"
    OVERAGE_ONLY = "overage_only"
    RATE_ONLY = "rate_only"


class SecretSource(StrEnum):
    """Where a carrier API secret is kept; the database only holds a reference to it."""

    ENV = "env"
    AWS_SECRETS_MANAGER = "aws_secretsmanager"


def one_of(column: str, values: type[StrEnum], name: str) -> CheckConstraint:
    """A CHECK constraint limiting ``column`` to an enum's values (portable to every dialect)."""
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)
