"""A sync in a process of its own, for tests that kill it part-way.

``python -m carrier_opt_tests.db.sync_worker DATABASE_URL PROVIDER`` syncs the provider (its
credentials in the environment, its URL in the database) and prints the summary.
"""

from __future__ import annotations

import sys

from carrier_opt.db.engine import make_engine
from carrier_opt.pipeline.sync import sync_provider


def main(database_url: str, provider: str) -> None:
    report = sync_provider(make_engine(database_url), provider, holder="sync worker")
    print(report.summary(), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
