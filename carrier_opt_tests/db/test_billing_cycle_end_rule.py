"""Issue 13, case 1: the billing period ends as in the legacy system — the end day *at* the end
hour, local time — and stored providers keep their cycle end through the migration."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, column, insert, select, table

from carrier_opt import clock
from carrier_opt.cli import cli
from carrier_opt.core.billing import AFTER_END_DAY, BillingCycle, period_for_key
from carrier_opt.core.go_no_go import go_no_go
from carrier_opt.db import migrate
from carrier_opt.db.models import ServiceProvider
from carrier_opt.db.providers import load_provider

CHICAGO = ZoneInfo("America/Chicago")


def test_day_18_hour_23_ends_on_the_18th_at_23_00_and_the_19th_is_a_no_go(
    migrated_engine, database_url, monkeypatch
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    added = CliRunner().invoke(
        cli,
        [
            "provider",
            "add",
            "acme",
            "--jasper-url",
            "https://jasper.example.com/rws/api/v1/",
            "--billing-cycle-end-day",
            "18",
            "--billing-cycle-end-hour",
            "23",
            "--timezone",
            "America/Chicago",
            "--database-url",
            database_url,
        ],
    )
    assert added.exit_code == 0, added.output
    with migrated_engine.connect() as connection:
        cycle = load_provider(connection, "acme").cycle
    period = period_for_key(cycle, "2026-01")
    assert period.end == datetime(2026, 1, 18, 23, 0, tzinfo=CHICAGO)
    # 19 January 10:00 local, 1,000 changes waiting: the legacy says the cycle is over.
    now = datetime(2026, 1, 19, 10, 0, tzinfo=CHICAGO)
    decision = go_no_go(now, period.end, 1_000, None)
    assert not decision.go and decision.minutes_remaining < 0
    # The old reading (the midnight after the end day + 23 h) would have said Go, 780 minutes.
    old = period_for_key(BillingCycle(18, 23, "America/Chicago", AFTER_END_DAY), "2026-01")
    assert go_no_go(now, old.end, 1_000, None).minutes_remaining == 780
    # `provider show` says which period "now" is in and when it ends.
    monkeypatch.setattr(clock, "now", lambda: now.astimezone(UTC))
    shown = CliRunner().invoke(cli, ["provider", "show", "acme", "--database-url", database_url])
    assert shown.exit_code == 0, shown.output
    assert "at_end_hour" in shown.output
    assert "2026-02, ends 2026-02-18 23:00 America/Chicago" in shown.output


def test_the_help_says_what_the_two_numbers_mean():
    help_text = " ".join(CliRunner().invoke(cli, ["provider", "add", "--help"]).output.split())
    assert "ends on this day AT the end hour, local time, as in the legacy system" in help_text
    assert "after_end_day" in help_text


PROVIDER_0007 = table(
    "ServiceProvider",
    *(
        column(name)
        for name in (
            "id",
            "name",
            "integration_type_id",
            "is_active",
            "time_zone",
            "billing_cycle_end_day",
            "billing_cycle_end_hour",
            "allow_automatic_rate_plan_updates",
            "max_rate_plans_per_group",
            "created_at",
        )
    ),
)


@pytest.mark.parametrize(
    ("day", "hour", "zone"),
    [
        (18, 23, "America/Chicago"),
        (1, 0, "UTC"),
        (27, 6, "Europe/Berlin"),
        (28, 0, "UTC"),
        (30, 2, "America/Chicago"),
        (31, 0, "UTC"),
    ],
)
def test_the_upgrade_keeps_every_stored_cycle_end(engine: Engine, day, hour, zone):
    migrate.upgrade(engine, "0007")
    now = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as connection:
        kind = table("IntegrationType", column("id"), column("name"), column("created_at"))
        connection.execute(insert(kind).values(id=1, name="Jasper", created_at=now))
        connection.execute(
            insert(PROVIDER_0007).values(
                id=1,
                name="acme",
                integration_type_id=1,
                is_active=True,
                time_zone=zone,
                billing_cycle_end_day=day,
                billing_cycle_end_hour=hour,
                allow_automatic_rate_plan_updates=False,
                max_rate_plans_per_group=15,
                created_at=now,
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(
            select(
                ServiceProvider.billing_cycle_end_day,
                ServiceProvider.billing_cycle_end_hour,
                ServiceProvider.billing_cycle_end_rule,
            )
        ).one()
    before = BillingCycle(day, hour, zone, AFTER_END_DAY)
    after = BillingCycle(row[0], row[1], zone, row[2])
    assert row[2] == ("after_end_day" if day >= 28 else "at_end_hour")
    for key in ("2026-01", "2026-02", "2028-02", "2026-03", "2026-04", "2026-11", "2026-12"):
        assert period_for_key(after, key) == period_for_key(before, key), key
