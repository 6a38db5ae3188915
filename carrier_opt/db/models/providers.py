"""Service providers, how we reach their carrier platform, and their billing periods."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from carrier_opt.db.models.base import AccountType, AuditMixin, Base, Fleet, SecretSource, one_of
from carrier_opt.db.types import UtcDateTime


class IntegrationType(AuditMixin, Base):
    """Kind of carrier platform a provider is reached through (Jasper, ...)."""

    __tablename__ = "IntegrationType"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))


class ServiceProvider(AuditMixin, Base):
    """A carrier account we optimize, with its billing cycle and run settings.

    The billing cycle is described by the day of month (and hour) it ends in the provider's own
    time zone; periods are resolved from it into :class:`BillingPeriod` rows.
    """

    __tablename__ = "ServiceProvider"
    __table_args__ = (
        CheckConstraint(
            "billing_cycle_end_day BETWEEN 1 AND 31", name="billing_cycle_end_day_range"
        ),
        CheckConstraint(
            "billing_cycle_end_hour BETWEEN 0 AND 23", name="billing_cycle_end_hour_range"
        ),
        CheckConstraint(
            "optimization_start_hour_local IS NULL OR "
            "optimization_start_hour_local BETWEEN 0 AND 23",
            name="optimization_start_hour_range",
        ),
        one_of("account_type", AccountType, "account_type_known"),
        one_of("fleet", Fleet, "fleet_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    integration_type_id: Mapped[int] = mapped_column(ForeignKey("IntegrationType.id"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    billing_cycle_end_day: Mapped[int] = mapped_column(Integer)
    billing_cycle_end_hour: Mapped[int] = mapped_column(Integer, default=0)
    billing_cycle_end_rule: Mapped[str] = mapped_column(
        String(20), default="at_end_hour", server_default="at_end_hour"
    )
    """How the two numbers are read (``core.billing``): ``at_end_hour``, the legacy rule (the
    end day at the end hour), or ``after_end_day`` (the midnight after the end day, plus the
    end hour: calendar months, and providers stored before the legacy rule was adopted)."""
    # Missing hour = no hourly runs on the last day (the sensor warns instead of crashing).
    optimization_start_hour_local: Mapped[int | None] = mapped_column(Integer)
    allow_automatic_rate_plan_updates: Mapped[bool] = mapped_column(Boolean, default=False)
    max_rate_plans_per_group: Mapped[int] = mapped_column(Integer, default=15)
    # m2m: SIMs optimized per communication group; mobility: per optimization group.
    fleet: Mapped[str] = mapped_column(String(20), default=Fleet.M2M.value, server_default="m2m")
    bulk_usage: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """Read usage per rate plan (``GET /usages``); off: per SIM (``ctdUsages``) only."""
    account_type: Mapped[str] = mapped_column(
        String(20), default=AccountType.AUTO.value, server_default="auto"
    )
    """What the account may call, as the operator set it (``provider set --account-type``):
    ``auto`` trusts :attr:`usage_by_rate_plan`, found out from the carrier."""
    usage_by_rate_plan: Mapped[str | None] = mapped_column(String(10))
    """Whether the account may call Get Usage by Rate Plan (``allowed``/``refused``; unknown
    until a probe, ``jasper check`` or a sync finds out)."""
    capabilities_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    capabilities_note: Mapped[str | None] = mapped_column(String(500))
    """How it was found out: the call and the carrier's answer, e.g. ``GET /usages refused
    (HTTP 403 ...) while Search Devices worked``."""
    daily_sync_hour_local: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    """Local hour (provider's zone) at which the ``daily_sync`` schedule syncs the provider."""
    idle_periods: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    """Consecutive stored periods without data, SMS or voice after which a SIM is listed as
    idle (never deactivated automatically)."""
    uses_proration: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """The legacy per-provider setting: SIMs activated mid-period are billed for the days they
    were active (on), or for the whole period (off). Mobility and customer runs never prorate."""

    integration_type: Mapped[IntegrationType] = relationship()


class JasperAuthentication(AuditMixin, Base):
    """How to call a provider's Jasper API.

    Holds only a *reference* to the API key (an environment variable name or an AWS Secrets
    Manager id), never the key itself, so a database dump leaks no credential.

    The username is either stored literally in ``username`` or, when ``username_ref`` is set,
    read at run time from the place ``username_ref`` names (an environment variable for
    ``secret_source='env'``); ``username`` is then the empty string.
    """

    __tablename__ = "JasperAuthentication"
    __table_args__ = (one_of("secret_source", SecretSource, "secret_source_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(
        ForeignKey("ServiceProvider.id", ondelete="CASCADE"), unique=True
    )
    base_url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(255))
    username_ref: Mapped[str | None] = mapped_column(String(500))
    secret_source: Mapped[str] = mapped_column(String(30), default=SecretSource.ENV.value)
    secret_ref: Mapped[str] = mapped_column(String(500))
    account_id: Mapped[str | None] = mapped_column(String(50))
    max_pages_to_process: Mapped[int | None] = mapped_column(Integer)

    service_provider: Mapped[ServiceProvider] = relationship()


class BillingPeriod(AuditMixin, Base):
    """One billing cycle of a provider, keyed ``YYYY-MM`` by the month in which it ends.

    Start and end are stored as aware UTC instants; ``time_zone`` is the provider's zone the
    period was resolved in, kept so reports can show local dates.
    """

    __tablename__ = "BillingPeriod"
    __table_args__ = (
        UniqueConstraint("service_provider_id", "period_key"),
        CheckConstraint("period_end > period_start", name="period_end_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    period_key: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime())
    period_end: Mapped[datetime] = mapped_column(UtcDateTime())
    time_zone: Mapped[str] = mapped_column(String(64))
