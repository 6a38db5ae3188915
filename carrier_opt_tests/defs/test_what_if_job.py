"""The what_if_offer job (issue 31, point 4): a plan offer priced on a stored period from the
Dagster UI, with the same figures as `carrier-opt what-if`, on both databases."""

import pytest

from carrier_opt.core.what_if import PlanOffer, break_even_base_rate
from carrier_opt.db.export import instance_tables
from carrier_opt.defs import run_context
from carrier_opt.defs.assets.insights import rate_plan_offer_what_if
from carrier_opt.defs.partitions import partition_key
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.solved import m2m_instance
from carrier_opt_tests.db.sync_support import synced_priced_provider
from carrier_opt_tests.defs.support import materialize_partition

OFFER = "OFFER_2GB,6.5,2048,0.02,1,false"


@pytest.fixture
def stored_period(migrated_engine, monkeypatch, tmp_path):
    """'acme' (300 SIMs) synced from the fake, its prices loaded: (period key, fake)."""
    with FakeJasper(devices=300, seed=11) as fake:
        monkeypatch.setattr(run_context, "clock", fake.now)
        synced_priced_provider(migrated_engine, fake, monkeypatch, tmp_path / "prices")
        yield fake.now().strftime("%Y-%m")


def run_what_if(database_url: str, period: str, **config):
    return materialize_partition(
        database_url,
        [rate_plan_offer_what_if],
        partition_key("acme", period),
        run_config={"ops": {"rate_plan_offer_what_if": {"config": config}}},
    )


def test_an_offer_is_priced_on_the_stored_period(database_url, migrated_engine, stored_period):
    result = run_what_if(database_url, stored_period, add_plan=OFFER, time_limit_s=10)
    assert result.success
    [materialization] = result.asset_materializations_for_node("rate_plan_offer_what_if")
    meta = {key: value.value for key, value in materialization.metadata.items()}
    assert meta["saving_usd"] == pytest.approx(
        meta["cost_now_usd"] - meta["cost_with_change_usd"], abs=0.011
    )
    assert meta["saving_usd"] > 0 and meta["sims_onto_offer"] > 0
    assert meta["sims_moving"] >= meta["sims_onto_offer"]
    assert meta["change"].startswith("add OFFER_2GB (base 6.50 USD, 2,048 MB")
    # The break-even is the one `carrier-opt what-if` finds on the same instance.
    instance, _, _ = m2m_instance(
        migrated_engine, "acme", instance_tables(migrated_engine, "acme", stored_period)
    )
    expected, _ = break_even_base_rate(instance, PlanOffer.parse(OFFER))
    assert meta["break_even_base_rate_usd"] == pytest.approx(expected, abs=0.011)
    assert meta["break_even_base_rate_usd"] > 6.5  # it saves at 6.50, so it breaks even above
    assert "break-even base rate of OFFER_2GB" in meta["report"]


def test_a_mistyped_offer_fails_the_run_naming_the_field(database_url, stored_period):
    result = run_what_if(database_url, stored_period, add_plan="OFFER,6.5,2GB,0.02,1,false")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error.message)
    assert "ALLOWANCE_MB is not a number: '2GB'" in message, message
