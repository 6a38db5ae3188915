"""The fault benchmark runs on both databases, and every scenario converges on the carrier."""

import pytest

from carrier_opt.bench import faults


@pytest.mark.reliability
def test_every_fault_scenario_converges_on_the_carriers_truth(postgres_server_url):
    rows = [
        faults.faulty_sync(400, None),
        faults.killed_sync(400, postgres_server_url, "while paging"),
        faults.missing_bulk_usage(400, None),
        faults.backend_killed_mid_merge(400, postgres_server_url),
        faults.empty_page_mid_listing(400, postgres_server_url),
    ]
    for row in rows:
        assert (row.stored, row.lost, row.extra, row.wrong) == (400, 0, 0, 0), row.line()
        assert row.outcome.endswith("converged"), row.line()
    with_faults, killed, usage, backend, empty_page = rows
    assert with_faults.faults > 0 and with_faults.retries >= with_faults.faults
    assert with_faults.duplicates_dropped == 25
    assert killed.runs == 2 and "Device rows after the kill: 0; resumed True" in killed.outcome
    assert "usage stored for 400 SIMs, 20 read per SIM" in usage.outcome
    assert "first sync: OperationalError, Device rows after it: 0" in backend.outcome
    assert "first sync failed (GET /devices page 5: an empty page" in empty_page.outcome
    assert "0 SIMs merged; the next resumed" in empty_page.outcome
