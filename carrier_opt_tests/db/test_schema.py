"""Migrations build the schema on SQLite and PostgreSQL, idempotently, matching the models."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from carrier_opt.db import migrate
from carrier_opt.db.models import (
    Base,
    BillingPeriod,
    Device,
    IntegrationType,
    JasperCarrierRatePlan,
    OptimizationInstance,
    OptimizationSession,
    ServiceProvider,
)
from carrier_opt.db.views import SESSION_RUNNING_VIEW, session_running_view_table


def schema_snapshot(engine: Engine) -> dict:
    """Everything a migration could change: tables, columns, keys, indexes, views."""
    inspector = inspect(engine)
    snapshot = {"views": sorted(inspector.get_view_names())}
    for table in inspector.get_table_names():
        snapshot[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (fk["name"] or "", tuple(fk["constrained_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        }
    return snapshot


def add_provider(connection, name: str = "acme") -> int:
    integration = connection.execute(
        insert(IntegrationType.__table__).values(
            name=f"Jasper-{name}", created_at=datetime.now(UTC)
        )
    ).inserted_primary_key[0]
    return connection.execute(
        insert(ServiceProvider.__table__).values(
            name=name,
            integration_type_id=integration,
            billing_cycle_end_day=18,
            billing_cycle_end_hour=0,
            time_zone="America/Chicago",
            is_active=True,
            allow_automatic_rate_plan_updates=False,
            max_rate_plans_per_group=15,
            created_at=datetime.now(UTC),
        )
    ).inserted_primary_key[0]


def add_device(connection, provider_id: int, iccid: str, **values) -> None:
    connection.execute(
        insert(Device.__table__).values(
            service_provider_id=provider_id,
            iccid=iccid,
            is_active=True,
            created_at=datetime.now(UTC),
            **values,
        )
    )


def test_upgrade_creates_every_table_and_the_view(engine):
    before, after = migrate.upgrade(engine)
    assert before is None
    assert after == migrate.head_revision()
    assert set(migrate.table_names(engine)) == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate.view_names(engine) == [SESSION_RUNNING_VIEW]


def test_upgrade_twice_changes_nothing(engine):
    migrate.upgrade(engine)
    first = schema_snapshot(engine)
    before, after = migrate.upgrade(engine)
    assert before == after == migrate.head_revision()
    assert schema_snapshot(engine) == first


def test_migrations_match_the_models(migrated_engine):
    """No drift: autogenerate finds nothing to add between the migrations and the models."""
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_downgrade_to_base_removes_everything(migrated_engine):
    migrate.downgrade(migrated_engine, "base")
    assert migrate.table_names(migrated_engine) == ["alembic_version"]
    assert migrate.view_names(migrated_engine) == []


def test_iccid_is_unique_per_service_provider(migrated_engine):
    with migrated_engine.begin() as connection:
        acme, other = add_provider(connection, "acme"), add_provider(connection, "other")
        add_device(connection, acme, "8901000000000000001")
        add_device(connection, other, "8901000000000000001")  # same SIM id, other account
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        add_device(connection, acme, "8901000000000000001")


def test_foreign_keys_are_enforced(migrated_engine):
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        add_device(connection, 424242, "8901000000000000002")


def test_timestamps_round_trip_as_aware_utc(migrated_engine):
    chicago_noon = datetime(2026, 3, 8, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    with migrated_engine.begin() as connection:
        provider = add_provider(connection)
        add_device(connection, provider, "8901000000000000003", date_activated=chicago_noon)
    with migrated_engine.connect() as connection:
        stored = connection.scalar(select(Device.date_activated))
    assert stored == chicago_noon
    assert stored.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(migrated_engine):
    with pytest.raises(Exception, match="naive datetime"), migrated_engine.begin() as connection:
        provider = add_provider(connection)
        add_device(connection, provider, "8901000000000000004", date_activated=datetime(2026, 1, 1))


def test_money_keeps_four_decimals(migrated_engine):
    with migrated_engine.begin() as connection:
        provider = add_provider(connection)
        connection.execute(
            insert(JasperCarrierRatePlan.__table__).values(
                service_provider_id=provider,
                rate_plan_code="RP1",
                base_rate=Decimal("13.3333"),
                data_allowance_mb=Decimal("100"),
                overage_rate=Decimal("0.1333"),
                data_per_overage_charge_mb=Decimal("0.001"),
                sms_rate=Decimal("0.05"),
                is_pooled=True,
                charge_type="rate_and_overage",
                is_active=True,
                created_at=datetime.now(UTC),
            )
        )
    with migrated_engine.connect() as connection:
        row = connection.execute(
            select(
                JasperCarrierRatePlan.base_rate, JasperCarrierRatePlan.data_per_overage_charge_mb
            )
        ).one()
    assert row == (Decimal("13.3333"), Decimal("0.001"))


def test_a_rate_plan_without_a_positive_overage_unit_is_refused(migrated_engine):
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        provider = add_provider(connection)
        connection.execute(
            insert(JasperCarrierRatePlan.__table__).values(
                service_provider_id=provider,
                rate_plan_code="BAD",
                base_rate=1,
                data_allowance_mb=1,
                overage_rate=1,
                data_per_overage_charge_mb=0,
                sms_rate=0,
                is_pooled=False,
                charge_type="rate_and_overage",
                is_active=True,
                created_at=datetime.now(UTC),
            )
        )


def test_running_view_lists_only_sessions_still_running(migrated_engine):
    now = datetime.now(UTC)
    with migrated_engine.begin() as connection:
        provider = add_provider(connection)
        period = connection.execute(
            insert(BillingPeriod.__table__).values(
                service_provider_id=provider,
                period_key="2026-11",
                time_zone="America/Chicago",
                period_start=now - timedelta(days=20),
                period_end=now + timedelta(days=10),
                created_at=now,
            )
        ).inserted_primary_key[0]
        for guid, status, instance_status in (
            ("running-guid", "running", "completed"),
            ("done-guid", "completed", "completed"),
        ):
            session = connection.execute(
                insert(OptimizationSession.__table__).values(
                    session_guid=guid,
                    service_provider_id=provider,
                    billing_period_id=period,
                    optimization_type="m2m",
                    status=status,
                    progress_percent=50,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            connection.execute(
                insert(OptimizationInstance.__table__).values(
                    optimization_session_id=session,
                    service_provider_id=provider,
                    billing_period_id=period,
                    status=instance_status,
                    created_at=now,
                )
            )
    view = session_running_view_table()
    with migrated_engine.connect() as connection:
        rows = connection.execute(select(view.c.session_guid, view.c.instance_status)).all()
    assert rows == [("running-guid", "completed")]
