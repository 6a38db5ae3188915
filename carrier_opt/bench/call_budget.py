"""Call-budget benchmark (issue 27): what a budget of carrier calls buys the decision.

The fake serves an **Essential** account (no Get Usage by Rate Plan: usage is one call per
SIM) whose usage grows day by day (:mod:`carrier_opt.jasper.fake.growth`). A first full sync
runs on day 20 of a 30-day period; then, each from a copy of that database, runs on day 27
refresh within budgets of 5 %, 15 % and 50 % of a full refresh, in the call plan's order
(most money at stake first) and in the baseline order (stalest reading first), plus a full
refresh and no refresh. Each run's decision (the optimizer on the instance the run exports)
is priced on the fake's **true end-of-period usage**. ``closed`` is the share of the cost
difference between the no-refresh and the full-refresh decisions that a run's decision
closes.

    carrier-opt bench call-budget [--sims 20000] [--time-limit 20]
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from carrier_opt.bench.fake_provider import add_fake_provider

DAY_20 = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
DAY_27 = datetime(2026, 9, 27, 12, 0, tzinfo=UTC)
PERIOD = "2026-09"
PROVIDER = "bench"
SHARES = (0.05, 0.15, 0.50)
HEADER = (
    f"{'run':<24} {'budget':>7} {'calls':>7} {'refreshed':>9} {'stale>24h':>9} "
    f"{'oldest reading':<17} {'stake bound $':>13} {'cost on truth $':>15} {'closed':>7}"
)


@dataclass
class Row:
    run: str
    budget: int | None
    calls: int = 0
    refreshed: int = 0
    stale: int = 0
    oldest: str = "-"
    bound: float = 0.0
    cost: float = 0.0
    closed: float | None = None

    def line(self) -> str:
        budget = "-" if self.budget is None else f"{self.budget:,}"
        closed = "-" if self.closed is None else f"{self.closed:.0%}"
        bound = "inf" if not math.isfinite(self.bound) else f"{self.bound:,.2f}"
        return (
            f"{self.run:<24} {budget:>7} {self.calls:>7,} {self.refreshed:>9,} {self.stale:>9,} "
            f"{self.oldest:<17} {bound:>13} {self.cost:>15,.2f} {closed:>7}"
        )


def run(sims: int, time_limit_s: float) -> list[Row]:
    """Every row of the table (see the module docstring)."""
    from carrier_opt.jasper.fake import FakeJasper

    with (
        tempfile.TemporaryDirectory() as folder,
        FakeJasper(sims, seed=27, now=DAY_20, account_type="essential", usage_growth=True) as fake,
    ):
        base = Path(folder) / "day20.db"
        _first_sync(base, fake, Path(folder))
        fake.move_clock(DAY_27)
        truth = {d.iccid: fake.end_of_cycle_bytes(d.iccid) / 2**20 for d in fake.fleet}
        full_calls = None
        rows: list[Row] = []
        plans = [("no refresh", None, None), ("full refresh", None, "value")]
        for share in SHARES:
            plans += [(f"value first, {share:.0%}", share, "value")]
            plans += [(f"stalest first, {share:.0%}", share, "stalest")]
        for label, share, order in plans:
            if share is not None and full_calls is None:
                raise AssertionError("the full refresh runs before the budgets")
            budget = None if share is None else max(1, round(full_calls * share))
            copy = Path(folder) / f"run{len(rows)}.db"
            shutil.copy(base, copy)
            row = _decide(copy, fake, truth, label, budget, order, Path(folder), time_limit_s)
            if label == "full refresh":
                full_calls = row.calls
            rows.append(row)
    none, full = rows[0].cost, rows[1].cost
    for row in rows[2:]:
        row.closed = (none - row.cost) / (none - full) if none != full else None
    return rows


def _engine(path: Path):
    from carrier_opt.db.engine import make_engine

    return make_engine(f"sqlite:///{path}")


def _first_sync(path: Path, fake, folder: Path) -> None:
    from sqlalchemy import update

    from carrier_opt.db import migrate
    from carrier_opt.db.loads.rate_plans import load_rate_plans
    from carrier_opt.db.models import ServiceProvider
    from carrier_opt.jasper.fake.prices import write_fake_prices
    from carrier_opt.pipeline.sync import sync_provider

    engine = _engine(path)
    migrate.upgrade(engine)
    add_fake_provider(engine, fake, PROVIDER)
    with engine.begin() as connection:
        connection.execute(update(ServiceProvider).values(account_type="essential"))
    load_rate_plans(engine, PROVIDER, *write_fake_prices(folder / "prices"))
    with _client(fake) as client:
        sync_provider(engine, PROVIDER, client=client, now=DAY_20)
    engine.dispose()


def _client(fake):
    from carrier_opt.jasper.client import JasperClient

    return JasperClient(fake.base_url, *fake.credentials, calls_per_second=1e6)


def _decide(path, fake, truth, label, budget, order, folder, time_limit_s) -> Row:
    """One run on day 27: sync (unless no refresh), export, optimize, price on the truth."""
    from sqlalchemy import select

    from carrier_opt.core.billing import period_for_key
    from carrier_opt.db.export import export_instance
    from carrier_opt.db.models import Device
    from carrier_opt.db.providers import load_provider
    from carrier_opt.pipeline.sync import activated_staleness, sync_provider

    engine = _engine(path)
    row = Row(label, budget)
    with engine.connect() as connection:
        before = dict(connection.execute(select(Device.iccid, Device.usage_date)).all())
        cycle = load_provider(connection, PROVIDER).cycle
    if label != "no refresh":
        fake.clear_request_log()
        with _client(fake) as client:
            sync_provider(
                engine, PROVIDER, client=client, now=DAY_27, max_calls=budget, refresh_by=order
            )
        row.calls = len(fake.request_log)
    with engine.connect() as connection:
        after = dict(connection.execute(select(Device.iccid, Device.usage_date)).all())
    row.refreshed = sum(1 for iccid, moment in after.items() if moment != before.get(iccid))
    period = period_for_key(cycle, PERIOD)
    provider_id = 1
    figures = activated_staleness(engine, provider_id, period, DAY_27)
    row.stale, row.bound = figures.stale_sims, figures.money_bound_usd
    if figures.oldest_reading is not None:
        row.oldest = f"{figures.oldest_reading:%m-%d %H:%M}"
    instance_dir = folder / f"{path.stem}-instance"
    export_instance(engine, PROVIDER, PERIOD, instance_dir)
    engine.dispose()
    row.cost = _cost_on_truth(instance_dir, truth, time_limit_s)
    return row


def _cost_on_truth(instance_dir: Path, truth: dict[str, float], time_limit_s: float) -> float:
    """The optimizer's assignment for the exported instance, priced on the true usage."""
    from carrier_opt.core.instance import load_instance, read_assignment
    from carrier_opt.core.pricing import total_cost
    from carrier_opt.core.run import run_optimization

    out = instance_dir / "assignment.csv"
    run_optimization(instance_dir, out, time_limit_s=time_limit_s)
    true_dir = instance_dir.with_name(instance_dir.name + "-truth")
    shutil.copytree(instance_dir, true_dir)
    devices = true_dir / "devices.csv"
    with devices.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for record in rows:
        record["usage_mb"] = f"{truth.get(record['iccid'], float(record['usage_mb'])):.6f}"
    with devices.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    instance = load_instance(true_dir)
    return total_cost(instance, read_assignment(out, instance))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--time-limit", type=float, default=20.0)
    options = parser.parse_args(argv)
    print(f"Essential account, {options.sims:,} SIMs; sync on day 20, decisions on day 27")
    print(HEADER)
    for row in run(options.sims, options.time_limit):
        print(row.line(), flush=True)
