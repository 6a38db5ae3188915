"""An M2M optimization run in a process of its own, for tests that kill it mid-way.

``python -m carrier_opt_tests.reliability.run_worker DATABASE_URL PERIOD OFFSET_S REPORTS``
materializes every asset of ``optimize_billing_period`` for acme's PERIOD on the Dagster
instance of ``DAGSTER_HOME``, its clock ``OFFSET_S`` seconds from the wall clock (the fake
carrier's), the carrier credentials in the environment.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import dagster as dg

from carrier_opt.defs import run_context
from carrier_opt.defs.resources import NotifierResource, ResultStoreResource
from carrier_opt_tests.defs.test_delivery_assets import materialize_partition


def main(database_url: str, period: str, offset_s: str, reports: str) -> None:
    offset = timedelta(seconds=float(offset_s))
    run_context.clock = lambda: datetime.now(UTC) + offset
    with dg.DagsterInstance.get() as instance:
        result = materialize_partition(
            database_url,
            period,
            result_store=ResultStoreResource(folder=reports),
            notifier=NotifierResource(),
            instance=instance,
        )
    print("success" if result.success else "failure", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
