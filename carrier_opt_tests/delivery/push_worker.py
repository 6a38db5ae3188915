"""A push in a process of its own, for tests that kill it mid-batch.

``python -m carrier_opt_tests.delivery.push_worker DATABASE_URL BASE_URL CASE_FILE`` reads a
pickled ``(request, clock_offset, username, api_key)``, pushes, and prints the outcome.
"""

from __future__ import annotations

import pickle
import sys
from datetime import UTC, datetime

from carrier_opt.db.engine import make_engine
from carrier_opt.delivery.rate_plan_updates import push_winner
from carrier_opt.jasper.client import JasperClient
from carrier_opt_tests.jasper.support import FAST_CALLS_PER_SECOND, FAST_RETRIES


def main(database_url: str, base_url: str, case_file: str) -> None:
    with open(case_file, "rb") as handle:
        request, offset, username, api_key = pickle.load(handle)
    engine = make_engine(database_url)
    client = JasperClient(
        base_url,
        username,
        api_key,
        retry_policy=FAST_RETRIES,
        calls_per_second=FAST_CALLS_PER_SECOND,
    )
    with client:
        outcome = push_winner(engine, client, request, now=lambda: datetime.now(UTC) + offset)
    print(outcome.summary(), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
