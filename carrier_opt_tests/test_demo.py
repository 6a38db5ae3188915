"""The demo runs the three real jobs against fake carriers and ends with their summaries."""

import re
import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from carrier_opt.db.engine import make_engine
from carrier_opt.db.export import require_stored_usage
from carrier_opt.delivery.push_checks import CHECK_INTERVAL, check_push
from carrier_opt.delivery.rate_plan_updates import push_winner
from carrier_opt.delivery.storage import REPORTS_URL_ENV
from carrier_opt.demo import (
    API_KEY_ENV,
    DEMO_CREDENTIALS,
    DEMO_PROVIDER,
    MOBILITY_PROVIDER,
    PORTS_ENV,
    USERNAME_ENV,
    demo_carrier,
    demo_fake,
    run_demo,
    serve_demo_carriers,
)
from carrier_opt.jasper.client import JasperClient
from carrier_opt_tests.delivery.push_support import SMALL, independent_moves
from carrier_opt_tests.delivery.support import seed_instance
from carrier_opt_tests.jasper.support import client_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def demo_ports(monkeypatch):
    """Demo carriers on free ports: a `make ui` on this machine may hold the default ones."""
    ports = (free_port(), free_port())
    monkeypatch.setenv(PORTS_ENV, ",".join(map(str, ports)))
    return ports


def block(lines: list[str], title: str) -> list[str]:
    """The summary lines of the run whose title starts with ``title`` (up to the next rule)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("---"))
    return lines[start:end]


def value(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(label))[len(label) :].strip()


def workbooks(lines: list[str], label: str, reports: Path) -> list[Path]:
    """The workbooks under the folder a ``N under FOLDER`` line names, checked against N."""
    count, folder = value(lines, label).split(" under ")
    found = sorted(Path(folder).rglob("*.xlsx"))
    assert Path(folder).is_relative_to(reports)
    assert len(found) >= int(count) > 0
    return found


def test_demo_optimizes_a_period_and_prints_the_summary(database_url, monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv(REPORTS_URL_ENV, raising=False)
    monkeypatch.setenv("CARRIER_OPT_HOME", str(tmp_path / "home"))
    reports = tmp_path / "home" / "reports"
    lines = list(run_demo(database_url, devices=400, mobility_devices=300))
    text = "\n".join(lines)
    # The credentials `make ui` loads, and three past periods of each provider stored, so
    # that a backfill of them works from the UI.
    env = (tmp_path / "home" / "demo.env").read_text()
    assert f"{USERNAME_ENV}={DEMO_CREDENTIALS[0]}" in env and API_KEY_ENV in env
    stored = [line for line in lines if "SIMs stored" in line]
    assert len(stored) == 6 and sum(line.startswith(DEMO_PROVIDER) for line in stored) == 3
    engine = make_engine(database_url)
    for line in stored:
        provider, period = line.split(":")[0].split()
        assert require_stored_usage(engine, provider, period) > 0
    for label in ("devices optimized:", "cost before:", "cost after:", "saving:", "gap"):
        assert label in text
    # The workbook is left on disk, under CARRIER_OPT_HOME/reports, and its path printed.
    report = Path(next(line for line in lines if line.startswith("report workbook:")).split()[-1])
    assert report.is_file() and report.suffix == ".xlsx"
    assert report.is_relative_to(reports)
    # The run's push is a dry run; its change set is every SIM changing plan, less those the
    # carrier already shows on their target. The demo then approves it and pushes.
    recorded = value(lines, "rate-plan push:")
    assert recorded.startswith("dry run, changes recorded for the push:")
    counts = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", recorded)]
    changes, changing, already = counts[:3]
    assert changes == changing - already > 0
    assert changing == int(value(lines, "SIMs changing plan:").replace(",", ""))
    approved = value(lines, "approved push:")
    assert approved.startswith("by make demo, Go:") and f"of {changes:,} changes" in approved
    expected = value(lines, "expected saving:")
    assert value(lines, "realized saving:").startswith(expected)
    assert expected.split()[0] == value(lines, "saving:").split()[0]
    assert "production keeps Jasper's 5 calls/s" in text

    # Then the same provider and period re-priced on its customers' plans ...
    customers = block(lines, f"customer optimization of {DEMO_PROVIDER} ")
    assert int(value(customers, "customers optimized:").split()[0]) >= 2
    for label in ("cost before:", "cost after:", "saving:", "lower bound:"):
        assert value(customers, label)
    assert " gap " in value(customers, "lower bound:")
    assert int(value(customers, "shared-pool SIMs:").split()[0]) > 0
    customer_books = workbooks(customers, "customer workbooks:", reports / DEMO_PROVIDER)
    assert any("Customer_" in book.name for book in customer_books)
    # ... its bill per optimized period, drawn ...
    trend = block(lines, f"savings over time of {DEMO_PROVIDER} ")
    assert trend[1].startswith("bars start at ") and trend[2].split()[1] == "before"
    assert trend[-1].split()[0] == "saving"
    # ... its idle SIMs over the period and the three past ones stored ...
    idle = block(lines, f"idle SIMs of {DEMO_PROVIDER} ")
    assert idle[1].startswith("idle SIMs: ") and "nothing is deactivated automatically" in idle[1]
    # ... the settled saving of the latest past period, optimized on its stored final usage
    # (nothing was pushed then: its saving was left on the table) ...
    settled = [line.strip() for line in block(lines, "settled saving of a past period, ")]
    assert settled[0].split()[6:8] == [DEMO_PROVIDER, stored[0].split(":")[0].split()[1]]
    assert settled[1].startswith("settled on final usage (")

    def settled_usd(label: str) -> float:
        return float(value(settled, label).split()[0].replace(",", ""))

    assert settled_usd("realized saving on the bill:") == 0
    assert settled_usd("left on the table:") > 0
    assert value(settled, "projection error:").startswith("+0.0 MB (+0.0 %)")
    # ... and the trend shows its settled cost ...
    assert sum(line.split()[:1] == ["settled"] for line in trend) == 1
    # ... a plan offer priced on the same period (what_if_offer, as `carrier-opt what-if`) ...
    offer = [line.strip() for line in block(lines, f"what-if of {DEMO_PROVIDER} ")]
    assert "add M2M Data 20MB (base 2.40 USD, 20 MB, 0.15 USD per 1 MB beyond" in offer[1]

    def usd(label: str) -> float:
        return float(value(offer, label).split()[0].replace(",", ""))

    assert usd("saving:") == pytest.approx(
        usd("optimum as it is:") - usd("optimum with change:"), abs=0.011
    )
    assert usd("break-even base rate of M2M Data 20MB:") >= 0
    assert "bisection" in value(offer, "break-even base rate of M2M Data 20MB:")
    # ... and a mobility provider optimized per optimization group, all three shown.
    mobility = block(lines, f"mobility optimization of {MOBILITY_PROVIDER} ")
    assert value(mobility, "groups optimized:").startswith("3 ")
    assert " gap " in value(mobility, "lower bound:")
    cost = {
        label: float(value(mobility, label).split()[0].replace(",", ""))
        for label in (
            "cost before:",
            "cost after:",
            "lower bound:",
        )
    }
    assert cost["lower bound:"] <= cost["cost after:"] + 0.005 < cost["cost before:"]
    mobility_books = workbooks(mobility, "group workbooks:", reports / MOBILITY_PROVIDER)
    assert len(mobility_books) == 3
    assert value(mobility, "rate-plan push:").startswith("dry run")
    assert lines[-1].startswith("demo seconds in all:")

    # A second demo on the same database reuses the providers, re-loads their prices and
    # customer plans, and completes the three runs again. With the reports folder's address
    # known (`make demo` sets the one `make ui` serves) its reports are linked, in the UI too.
    served = "http://127.0.0.1:3001"
    monkeypatch.setenv(REPORTS_URL_ENV, served)
    again = list(run_demo(database_url, devices=400, mobility_devices=300))
    assert sum(line.startswith("cost after:") for line in again) == 3
    customers = block(again, f"customer optimization of {DEMO_PROVIDER} ")
    linked = value(customers, "customer workbooks:").split(" under ")[1]
    assert linked.startswith(f"{served}/{DEMO_PROVIDER}/") and linked.endswith("/")
    assert value(
        block(again, f"mobility optimization of {MOBILITY_PROVIDER} "), "groups optimized:"
    )
    report = Path(value(again, "report workbook:"))
    link = value(again, "report link:").split()[0]
    assert link == f"{served}/{report.relative_to(reports).as_posix()}"


def test_the_demo_uses_the_carriers_make_ui_serves(demo_ports):
    stop = threading.Event()
    served = serve_demo_carriers(stop, devices=400, mobility_devices=300)
    lines = [next(served), next(served)]  # both carriers listening
    waiting = threading.Thread(target=lambda: list(served), daemon=True)
    waiting.start()
    try:
        assert all(f":{port}/" in line for line, port in zip(lines, demo_ports, strict=True))
        with demo_carrier("m2m", 400) as (url, fleet):
            assert f":{demo_ports[0]}/" in url
            # The served carrier's SIMs, rebuilt from its seed: the carrier knows them.
            assert len(fleet) == 400
            with JasperClient(url, *DEMO_CREDENTIALS) as client:
                for sim in (fleet[0], fleet[-1]):
                    assert client.device_details(sim.iccid).rate_plan == sim.rate_plan
    finally:
        stop.set()
        waiting.join(timeout=10)
    assert not waiting.is_alive()


@pytest.mark.database
def test_restarted_demo_carriers_show_what_was_pushed_so_the_checks_find_it(
    migrated_engine, demo_ports
):
    """Issue 28, point 2: `make ui` restarted the demo carriers from their seed, without the
    demo's approved push, so its re-checks found every one of the changes missing (13,204
    false discrepancies, read SIM by SIM)."""
    seeded = seed_instance(migrated_engine, name=DEMO_PROVIDER, allow_updates=True)
    with demo_fake("m2m", 400).start() as fake, client_for(fake) as client:
        case = independent_moves(fake, 30)
        request = case.request(
            seeded, period_end=fake.now() + timedelta(days=8), synced_at=fake.now()
        )
        outcome = push_winner(migrated_engine, client, request, now=fake.now)
        pushed_at = fake.now()
    assert outcome.sent == 30

    stop = threading.Event()
    served = serve_demo_carriers(stop, devices=400, mobility_devices=300, engine=migrated_engine)
    m2m_line, mobility_line = next(served), next(served)
    waiting = threading.Thread(target=lambda: list(served), daemon=True)
    waiting.start()
    try:
        assert m2m_line.endswith(f"30 rate-plan change(s) pushed to {DEMO_PROVIDER} replayed")
        assert mobility_line.endswith(
            f"0 rate-plan change(s) pushed to {MOBILITY_PROVIDER} replayed"
        )
        url = f"http://127.0.0.1:{demo_ports[0]}/rws/api/v1/"
        with JasperClient(url, *DEMO_CREDENTIALS) as client:
            later = pushed_at + CHECK_INTERVAL + timedelta(seconds=1)
            check = check_push(migrated_engine, client, outcome.push_id, now=lambda: later)
            assert client.device_details(fake.fleet[0].iccid).rate_plan == SMALL
    finally:
        stop.set()
        waiting.join(timeout=10)
    assert check.checked == 30 and check.clean
