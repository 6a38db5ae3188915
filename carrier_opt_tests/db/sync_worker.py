"""A sync in a process of its own, for tests that kill it part-way.

``python -m carrier_opt_tests.db.sync_worker DATABASE_URL PROVIDER [CALLS_PER_SECOND]`` syncs
the provider (its credentials in the environment, its URL in the database) and prints the
summary. The client is built from the stored settings as a sync's is; only its call rate may
be raised above Cisco's 5 calls/s, for a fake carrier (the rate is tested on its own).
"""

from __future__ import annotations

import sys

from carrier_opt.db.engine import make_engine
from carrier_opt.db.providers import jasper_credentials, load_provider
from carrier_opt.jasper.client import DEFAULT_CALLS_PER_SECOND, JasperClient
from carrier_opt.pipeline.sync import sync_provider


def main(database_url: str, provider: str, calls_per_second: float) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        settings = load_provider(connection, provider)
    client = JasperClient(
        settings.base_url, *jasper_credentials(settings), calls_per_second=calls_per_second
    )
    report = sync_provider(engine, provider, client=client, holder="sync worker")
    print(report.summary(), flush=True)


if __name__ == "__main__":
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_CALLS_PER_SECOND
    main(sys.argv[1], sys.argv[2], rate)
