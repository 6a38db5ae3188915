"""Whether a period can be settled: the launch check of the settlement job and the first thing
:func:`carrier_opt.pipeline.settlement.settle_period` asks. Apart from the settlement itself,
which imports the optimizer: the run coordinator asks this at every launch and should not
load numba for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from carrier_opt.core.billing import BillingPeriodSpan
from carrier_opt.db.providers import ProviderSettings
from carrier_opt.errors import InputError
from carrier_opt.pipeline.push import latest_completed_session


def settlement_problem(
    engine: Engine, provider: ProviderSettings, period: BillingPeriodSpan, now: datetime
) -> str | None:
    """Why ``provider``'s ``period`` cannot be settled at ``now`` (one line), or None: it has
    not closed, or it has no completed optimization to settle (the launch check's and
    :func:`settle_period`'s reason)."""
    if now < period.end:
        return (
            f"{provider.name} {period.key} has not closed (it ends {period.end.isoformat()}): a "
            "period is settled on its final usage, once it is known"
        )
    try:
        latest_completed_session(engine, provider.id, provider.name, period.key)
    except InputError:
        return (
            f"{provider.name} {period.key}: no completed optimization to settle; run (or "
            "backfill) the partition first"
        )
    return None
