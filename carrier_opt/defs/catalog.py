"""How the assets and jobs present themselves in the Dagster catalog: who owns them, what
they touch, whether they change anything at the carrier, and how long a run may take.

* **Owners**: one team, :data:`OWNERS`, on every asset and job (Dagster takes an e-mail
  address or ``team:<name>``).
* **Kinds** (the badges on the asset graph): every asset is ``python``; the systems it touches
  are its other kinds — ``sqlalchemy`` for the project's database (whichever engine
  ``CARRIER_OPT_DATABASE_URL`` names: PostgreSQL, SQLite or SQL Server, so not one engine's
  name), ``jasper`` for the carrier API, ``excel`` for workbooks, ``email`` for mails.
* **Tag** :data:`CARRIER_TAG` on every asset and job: ``changes`` (it pushes rate plans: money
  moves), ``reads`` (it calls the carrier, changes nothing) or ``none``. In the UI,
  ``tag:carrier_opt/carrier=changes`` selects everything that can change a bill.
* **Run timeout**: every job carries ``dagster/max_runtime`` (seconds); with run monitoring on
  (``run_monitoring: enabled: true`` in the instance's ``dagster.yaml``, as the repository's
  and ``deploy/``'s are), the daemon fails a run that runs longer. A run stuck on a hung call
  then stops holding its provider's one run slot (the run queue allows one run per provider),
  and its session is taken over by the next run. Runs launched outside these jobs (a single
  asset materialized from the catalog) carry no timeout.
"""

from collections.abc import Mapping
from datetime import timedelta

OWNERS = ["team:carrier-opt"]
"""Who answers for every asset and job."""

PYTHON = "python"
DATABASE = "sqlalchemy"
JASPER = "jasper"
EXCEL = "excel"
EMAIL = "email"

CARRIER_TAG = "carrier_opt/carrier"
CHANGES_CARRIER = "changes"
READS_CARRIER = "reads"
NO_CARRIER = "none"

MAX_RUNTIME_TAG = "dagster/max_runtime"

CARRIER_RUN_LIMIT = timedelta(hours=8)
"""The default for a job that syncs, optimizes or pushes: above the longest legitimate run
(a first sync of 50,000 SIMs, about 3 h, then a push of every one of them at the carrier's
5 calls/s, under 3 h; ``docs/benchmarks.md``), below the 12 h after which an open session is
presumed dead anyway (``SESSION_STALE_AFTER``)."""

SHORT_RUN_LIMIT = timedelta(hours=1)
"""A job that only queries or migrates the database."""


def asset_kinds(*kinds: str) -> set[str]:
    """An asset's kinds: Python and the project's database, plus the systems it touches."""
    return {PYTHON, DATABASE, *kinds}


def asset_tags(carrier: str) -> dict[str, str]:
    """An asset's tags: how it treats the carrier (:data:`CARRIER_TAG`)."""
    return {CARRIER_TAG: carrier}


def job_tags(carrier: str, max_runtime: timedelta = CARRIER_RUN_LIMIT) -> Mapping[str, str]:
    """A job's tags, which Dagster also puts on each of its runs: the run timeout in seconds
    and how its assets treat the carrier."""
    return {MAX_RUNTIME_TAG: str(int(max_runtime.total_seconds())), CARRIER_TAG: carrier}
