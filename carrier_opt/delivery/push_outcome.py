"""What a push is asked to do and what it did: the request, its knobs, each batch's bills and
the outcome (every count of which is also on the push's ``RatePlanPush`` row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from carrier_opt.core.go_no_go import Decision
from carrier_opt.core.instance import Instance
from carrier_opt.core.money import cents, usd_text
from carrier_opt.core.push_batches import BATCH_LIMIT
from carrier_opt.db.models import RatePlanPushMode, RatePlanPushStatus
from carrier_opt.delivery import push_lock
from carrier_opt.delivery.push_checks import CHECK_INTERVAL


@dataclass(frozen=True)
class PushRequest:
    """One instance's winner to push: the instance as solved (``current_plan`` is what the run
    synced), the winner's plan index per SIM, and the circumstances."""

    provider_id: int
    instance_id: int
    instance: Instance
    target: np.ndarray
    period_end: datetime
    synced_at: datetime
    """When the run read the carrier: the re-read asks for SIMs changed since then."""
    mode: RatePlanPushMode
    holder: str
    """Who pushes, for the lock and the audit: ``run <id>`` or ``command line``."""
    run_id: str | None = None
    approved_by: str | None = None
    cost_before_usd: float | None = None
    """The instance's stored cost before optimization (the report's)."""


@dataclass(frozen=True)
class PushSettings:
    """Knobs of a push (the defaults are the legacy system's numbers)."""

    batch_limit: int = BATCH_LIMIT
    stale_after: timedelta = push_lock.DEFAULT_STALE_AFTER
    lock_wait_s: float = 0.0
    heartbeat_every: int = 25
    check_interval: timedelta = CHECK_INTERVAL


@dataclass(frozen=True)
class BatchOutcome:
    """One batch sent: how many devices, how many succeeded, how fast, the bills around it."""

    batch_number: int
    devices: int
    succeeded: int
    failed: int
    devices_per_minute: float | None
    bill_before_usd: float
    planned_bill_after_usd: float
    bill_after_usd: float


@dataclass
class PushOutcome:
    """What a push did; every count is also on its ``RatePlanPush`` row."""

    push_id: int
    mode: RatePlanPushMode
    status: RatePlanPushStatus = RatePlanPushStatus.RUNNING
    decision: Decision | None = None
    changes: int = 0
    already_on_target: int = 0
    moved_since_sync: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    not_sent: int = 0
    held_back: int = 0
    dry_run: int = 0
    planned_batches: int = 0
    held_back_reason: str | None = None
    stop_reason: str | None = None
    resolved_after_crash: int = 0
    cost_before_usd: float | None = None
    bill_before_usd: float | None = None
    expected_bill_usd: float | None = None
    realized_bill_usd: float | None = None
    batches: list[BatchOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    locked: bool = False
    """True when another push of the provider held the lock: nothing was read or sent."""

    @property
    def enabled(self) -> bool:
        """True unless this was a dry run."""
        return self.mode is not RatePlanPushMode.DRY_RUN

    @property
    def verdict(self) -> str:
        """``Go``, ``No Go``, ``Refused`` (another push held the lock) or ``n/a``."""
        if self.locked:
            return "Refused"
        if self.decision is None:
            return "No Go" if self.status is RatePlanPushStatus.NO_GO else "n/a"
        return "Go" if self.decision.go else "No Go"

    @property
    def expected_saving_usd(self) -> float | None:
        """Cost before optimization minus the bill once every change is made."""
        return _minus(self.cost_before_usd, self.expected_bill_usd)

    @property
    def realized_saving_usd(self) -> float | None:
        """Cost before optimization minus the bill of what the carrier shows after the push;
        0.00 for a dry run, which sends nothing (the workbook, the asset page and the mail
        say the same: it used to be ``n/a`` in the mail and 0 in the workbook)."""
        if not self.enabled:
            return 0.0
        return _minus(self.cost_before_usd, self.realized_bill_usd)

    @property
    def best_devices_per_minute(self) -> float | None:
        """The fastest batch of this push."""
        rates = [b.devices_per_minute for b in self.batches if b.devices_per_minute]
        return max(rates) if rates else None

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (
            f"{self.mode.value} push {self.push_id}: {self.status.value}, {self.verdict}; "
            f"{self.changes} change(s) ({self.already_on_target} already on target); "
            f"sent {self.sent}, failed {self.failed}, not sent {self.not_sent}, held back "
            f"{self.held_back}, dry run {self.dry_run}; expected saving "
            f"{usd_text(self.expected_saving_usd)}, realized {usd_text(self.realized_saving_usd)}"
            + (f"; stopped: {self.stop_reason}" if self.stop_reason else "")
        )


def _minus(a: float | None, b: float | None) -> float | None:
    """A saving: the difference of the two amounts rounded to the cent, as every report
    computes it (:mod:`carrier_opt.core.money`)."""
    return None if a is None or b is None else (cents(a) - cents(b)) / 100
