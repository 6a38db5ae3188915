"""Helpers shared by the optimization-group and customer-plan tests."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Engine, insert

from carrier_opt.db.models import Device
from carrier_opt.db.providers import add_provider
from carrier_opt.db.types import utc_now


def add_test_provider(engine: Engine, name: str = "acme", fleet: str = "m2m") -> int:
    """A provider that is never called (its URL points nowhere)."""
    return add_provider(
        engine,
        name,
        jasper_url="http://127.0.0.1:9/rws/api/v1/",
        billing_cycle_end_day=31,
        billing_cycle_end_rule="after_end_day",
        time_zone="UTC",
        fleet=fleet,
    )


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A CSV file with ``header`` and ``rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def insert_devices(
    engine: Engine, provider_id: int, iccids: Iterable[str], customer: str | None = "Acme"
) -> None:
    """``Device`` rows as a sync would leave them (only what the tests read)."""
    now = utc_now()
    rows = [
        {
            "service_provider_id": provider_id,
            "iccid": iccid,
            "customer": customer,
            "status": "ACTIVATED",
            "is_active": True,
            "created_at": now,
        }
        for iccid in iccids
    ]
    with engine.begin() as connection:
        connection.execute(insert(Device), rows)
