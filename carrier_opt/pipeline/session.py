"""A run's optimization session seen from the run: its milestones and how it ends.

Progress has two audiences that must never disagree: the session row
(``OptimizationSession.progress_percent``, which the legacy platform polls) and the platform's
progress API (a POST per milestone). :class:`RunProgress` writes both at once, so no step can
record one and forget the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import RunStatus
from carrier_opt.errors import CarrierOptError


class ProgressPoster(Protocol):
    """Posts a milestone to the platform (``defs.resources.PlatformProgress`` in a run)."""

    def report(self, session_guid: str, percent: int, message: str) -> None: ...


@dataclass(frozen=True)
class RunProgress:
    """One run's milestones (0/20/30/40/50/100 %) on its session and on the platform."""

    engine: Engine
    ids: runs.RunIds
    platform: ProgressPoster

    def milestone(self, percent: int, message: str) -> None:
        """Record ``percent`` on the session, then post it with ``message``."""
        runs.set_progress(self.engine, self.ids, percent)
        self.platform.report(self.ids.session_guid, percent, message)

    def close(self, message: str) -> None:
        """Close the session as completed (its instances were closed when solved), at 100 %."""
        runs.finish_session(self.engine, self.ids, RunStatus.COMPLETED)
        self.milestone(100, message)


@dataclass(frozen=True)
class PeriodRun:
    """One run of a provider's billing period, as every step below Dagster needs it: where it
    writes, the session it reports to, its clock (looked up at each use) and its log."""

    engine: Engine
    progress: RunProgress
    provider: str
    period_key: str
    now: Callable[[], datetime]
    log: logging.Logger | logging.LoggerAdapter

    @property
    def ids(self) -> runs.RunIds:
        return self.progress.ids


@contextmanager
def session_ends_here(progress: RunProgress, message: str = "results delivered") -> Iterator[None]:
    """The body is the session's last step (a push): the session fails with it, or completes
    at 100 %."""
    try:
        yield
    except Exception as error:
        runs.finish_session(
            progress.engine, progress.ids, RunStatus.FAILED, error=_error_text(error)
        )
        raise
    progress.close(message)


def fail_session_of_run(engine: Engine, run_id: str, error: BaseException) -> None:
    """Mark the run's session (and instance) failed so it does not block the provider's next
    run; nothing to do when the run opened no session."""
    try:
        ids = runs.run_ids_for(engine, run_id)
    except CarrierOptError:
        return
    runs.finish(engine, ids, RunStatus.FAILED, error=_error_text(error))


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
