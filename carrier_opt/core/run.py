"""One optimization of an instance folder, end to end: what ``carrier-opt optimize`` does.

Order matters for the user: the whole instance is validated before anything is computed, and
nothing is written until the answer is known — then the assignment and the summary are each
written atomically, so a crash or bad input never leaves a half-written file at ``--out``.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carrier_opt.core.instance import Instance, atomic_write_text, load_instance, write_assignment
from carrier_opt.core.legacy import LegacyResult, legacy_baseline
from carrier_opt.core.optimizer import (
    BOUND_STAGE,
    DEFAULT_GAP_TARGET_PCT,
    OptimizationResult,
    ProgressCallback,
    check_gap_target,
    optimize,
)
from carrier_opt.core.summary import optimization_summary
from carrier_opt.errors import InputError


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced, for the command line's closing line."""

    instance: Instance
    result: OptimizationResult
    summary: dict[str, Any]

    def headline(self) -> str:
        """One line: devices, cost before/after, bound and gap, legacy comparison, time and
        what stopped the search."""
        s = self.summary
        current = "n/a" if s["current_cost"] is None else f"{s['current_cost']:,.2f}"
        legacy = "n/a" if s["legacy_cost"] is None else f"{s['legacy_cost']:,.2f}"
        proof = ", proven optimal" if s["proven_optimal"] else ""
        written = ""
        if s.get("strategy_written") == "legacy":
            written = "; wrote the legacy strategies' assignment"
        return (
            f"{s['devices']} devices: current {current} -> optimized "
            f"{s['optimized_cost']:,.2f} USD (legacy {legacy}); lower bound "
            f"{s['lower_bound']:,.2f}, gap {100 * max(s['gap'], 0.0):.4f} %{proof}; "
            f"{s['devices_changed']} SIMs change plan; {s['seconds']:.1f} s, stopped by "
            f"{s['stopped_by'].replace('_', ' ')}: {s['stop_reason']}{written}"
        )


def run_optimization(
    instance_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    summary_path: str | os.PathLike[str] | None = None,
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
    legacy_sequences: int | None = None,
    strategy: str = "optimizer",
    progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Load, compute the legacy baseline, optimize, then write the assignment and summary.

    ``strategy="legacy"`` writes the legacy strategies' answer instead of the optimizer's
    (to reproduce what the old system would have done); the summary still reports both.
    The optimizer stops once its answer is proven within ``gap_target_pct`` percent of the
    optimum; ``time_limit_s`` is its ceiling.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    check_gap_target(gap_target_pct)  # before the long load, not after it
    started = time.monotonic()
    instance = load_instance(instance_dir)
    _check_writable(Path(out), Path(summary_path) if summary_path else None)
    legacy, result = legacy_and_optimized(
        instance,
        time_limit_s=time_limit_s,
        gap_target_pct=gap_target_pct,
        legacy_sequences=legacy_sequences,
        progress=progress,
    )
    summary = optimization_summary(
        instance, result, legacy_cost=legacy.cost, seconds=time.monotonic() - started
    )
    summary["legacy_winner"] = legacy.winner
    summary["strategy_written"] = strategy
    written = result.assignment if strategy == "optimizer" else legacy.assignment
    write_assignment(out, instance, written, {"current_rate_plan_code": _current_codes(instance)})
    if summary_path is not None:
        atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    if progress is not None:
        progress("done", 1.0)
    return RunOutcome(instance, result, summary)


STRATEGIES = ("optimizer", "legacy")


def legacy_and_optimized(
    instance: Instance,
    *,
    time_limit_s: float,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
    legacy_sequences: int | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[LegacyResult, OptimizationResult]:
    """The legacy baseline and the optimizer's answer, which is never worse than it.

    The baseline is computed beside the optimizer, started when the optimizer's bound is
    done: the bound prices its blocks on both cores, while the tie split and the polish after
    it run on one. The optimizer waits for it only when it compares its starts. Started with
    the bound instead, the baseline made the bound's two workers share the cores with it: on
    a 1 M-SIM fleet the bound took 9.6-10.7 s instead of 6.5-6.7 s, and the whole run
    16.4-18.5 s instead of 13.6-14.2 s (one after the other: 3.7 s of baseline on two
    threads, then 12.0 s of optimizer). The baseline prices its queues on one thread per core
    beside the optimizer's one: once the sifted two-line LP made the 1 M fleet's tie split
    2 s shorter, the optimizer waited 2.3 s for a baseline on one thread (4.4 s); on two it
    took 3.5 s and the run 10.8 s instead of 11.5 s. Its answer does not depend on its
    threads, and the optimizer reads it at the same point either way, so both answers are
    the ones computed one after the other, except where a stage is cut by the time limit:
    the two share the cores, so a time-boxed stage may get less done. ``time_limit_s`` is the
    optimizer's ceiling from its start (the baseline is not waited for first)."""
    if legacy_sequences is None:
        legacy_sequences = default_legacy_sequences(instance.n_devices)
    with ThreadPoolExecutor(1, thread_name_prefix="legacy") as pool:
        baseline: list[Future[LegacyResult]] = []

        def start_baseline() -> Future[LegacyResult]:
            if not baseline:
                baseline.append(pool.submit(legacy_baseline, instance, legacy_sequences))
            return baseline[0]

        def reported(stage: str, fraction: float) -> None:
            if stage == BOUND_STAGE:
                start_baseline()
            if progress is not None:
                progress(stage, fraction)

        result = optimize(
            instance,
            time_limit_s=time_limit_s,
            gap_target_pct=gap_target_pct,
            starts=lambda: [start_baseline().result().assignment],
            progress=reported,
        )
        return start_baseline().result(), result


def default_legacy_sequences(n_devices: int) -> int:
    """Rate-plan sequences for the legacy baseline: 200 as the seed runs used, fewer on big
    fleets, where each queue is a full greedy pass (keeps the baseline to a few seconds)."""
    return int(min(200, max(10, 200 * 20_000 // max(n_devices, 1))))


def _current_codes(instance: Instance) -> np.ndarray:
    """Each SIM's current plan code, empty where it has none (0.02 s at 1 M SIMs, where a
    list built SIM by SIM took 0.08 s)."""
    current = instance.current_plan
    if len(instance.plan_codes) == 0:
        return np.full(len(current), "", dtype=object)
    return np.where(current >= 0, instance.plan_codes[np.maximum(current, 0)], "")


def _check_writable(*paths: Path | None) -> None:
    """Fail before the long computation when an output folder does not exist."""
    for path in paths:
        if path is not None and not path.parent.resolve().is_dir():
            raise InputError(f"{path}: folder {path.parent} does not exist")
