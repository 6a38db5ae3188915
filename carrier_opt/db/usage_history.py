"""A provider's stored usage over several billing periods, per SIM (idle SIMs, issue 31).

Reads ``DeviceUsagePeriod`` — what the syncs of each period stored, or the carrier's past
cycles — for the periods up to one period, so that a streak of periods without usage can be
counted from records, not guessed: a period not stored has no rows and breaks every streak.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.billing import periods_ending_with
from carrier_opt.core.idle import HISTORY_COLUMNS
from carrier_opt.db.merge import DEVICE, USAGE_PERIOD
from carrier_opt.db.models import BillingPeriod
from carrier_opt.db.providers import load_provider


def usage_history(
    engine: Engine, provider_name: str, period_key: str, periods: int
) -> tuple[list[str], pd.DataFrame]:
    """(the ``periods`` period keys up to ``period_key``, oldest first; one row per SIM and
    stored period with its data bytes, SMS and voice seconds: :data:`HISTORY_COLUMNS`)."""
    keys = periods_ending_with(period_key, periods)
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        rows = connection.execute(
            select(
                DEVICE.c.iccid,
                BillingPeriod.period_key,
                USAGE_PERIOD.c.ctd_data_usage_bytes,
                USAGE_PERIOD.c.ctd_sms_usage,
                USAGE_PERIOD.c.ctd_voice_usage_seconds,
            )
            .select_from(
                USAGE_PERIOD.join(DEVICE, DEVICE.c.id == USAGE_PERIOD.c.device_id).join(
                    BillingPeriod, BillingPeriod.id == USAGE_PERIOD.c.billing_period_id
                )
            )
            .where(
                BillingPeriod.service_provider_id == provider.id,
                BillingPeriod.period_key.in_(keys),
            )
        ).all()
    return keys, pd.DataFrame([tuple(row) for row in rows], columns=list(HISTORY_COLUMNS))


def periods_with_usage(history: pd.DataFrame) -> int:
    """How many of the periods looked at have any usage stored."""
    return int(history["period_key"].nunique()) if not history.empty else 0
