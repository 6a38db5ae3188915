"""Solving one optimization instance, for every kind: its queues, priced and recorded.

Queues are the current assignment, every legacy strategy (cost only, except the legacy
winner) and the optimizer; the cheapest queue with per-SIM rows wins. The M2M chain spreads
the steps over several assets for their metadata (:func:`queue_sequences` when it records the
queues, :func:`price_queues` when it prices them); a mobility group or a customer is solved in
one go by :func:`solve_instance`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.legacy import LegacyResult
from carrier_opt.core.optimizer import OptimizationResult, StoppedBy
from carrier_opt.core.run import legacy_and_optimized
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import RunStatus

CURRENT, OPTIMIZER = "current", "optimizer"
"""Queue names of the current assignment and the optimizer (legacy queues: core.legacy)."""


@dataclass(frozen=True)
class SolvedInstance:
    """What one instance's run found."""

    winning_queue: str
    cost_before: float
    cost_after: float
    legacy_cost: float
    lower_bound: float
    proven_optimal: bool
    assignment: np.ndarray
    """The winner's assignment (plan index per SIM of the instance)."""
    stopped_by: StoppedBy
    """What ended the optimizer's search: ``optimal``, ``gap_target`` or ``time_limit``."""

    @property
    def gap_pct(self) -> float:
        bound = self.lower_bound
        return 100 * (self.cost_after - bound) / bound if bound > 0 else 0.0

    @property
    def saving(self) -> float:
        return self.cost_before - self.cost_after


def queue_sequences(
    instance: Instance, legacy: Iterable[tuple[str, tuple[int, ...]]], *, record: bool = True
) -> list[tuple[str, list[str]]]:
    """(queue name, rate-plan codes in sequence) of every queue: the current assignment and the
    optimizer over every plan by allowance, the legacy queues with their own sequences.
    ``record=False`` leaves the sequences empty (customer plans have no carrier-plan rows)."""
    codes = instance.plan_codes

    def sequence(plans: Iterable[int]) -> list[str]:
        return [str(codes[p]) for p in plans] if record else []

    everything = sequence(np.argsort(instance.allowance_mb, kind="stable"))
    return [
        (CURRENT, everything),
        *((name, sequence(plans)) for name, plans in legacy),
        (OPTIMIZER, everything),
    ]


def price_queues(
    engine,
    ids: runs.RunIds,
    instance: Instance,
    legacy: LegacyResult,
    result: OptimizationResult,
    write_queue: Callable[[int, np.ndarray], float],
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Store per-SIM rows (through ``write_queue``: queue id, assignment → total cost) of the
    queues that can win — current, the legacy winner, the optimizer — and the cost alone of the
    other legacy queues (the legacy system deleted their rows anyway). Answers each row-holding
    queue's cost; their assignments are under ``"assignments"``."""
    queue_ids = runs.queues_of(engine, ids)
    assignments = {
        CURRENT: instance.current_plan,
        legacy.winning_queue: legacy.assignment,
        OPTIMIZER: result.assignment,
    }
    costs = {name: write_queue(queue_ids[name], a) for name, a in assignments.items()}
    runs.record_queue_costs(
        engine, ids, {q.name: q.cost for q in legacy.tried if q.name != legacy.winning_queue}
    )
    return costs, assignments


def solve_instance(
    engine,
    ids: runs.RunIds,
    instance: Instance,
    *,
    time_limit_s: float,
    gap_target_pct: float,
    write_queue: Callable[[int, np.ndarray], float],
    result_model,
    record_sequences: bool = True,
) -> SolvedInstance:
    """Create the instance's queues, price them, store per-SIM rows through ``write_queue``
    (queue id, assignment → total cost), choose the winner and close the instance. The
    optimizer stops at ``gap_target_pct`` percent above its proven bound, or at
    ``time_limit_s``."""
    legacy, result = legacy_and_optimized(
        instance, time_limit_s=time_limit_s, gap_target_pct=gap_target_pct
    )
    # The baseline has tried every legacy queue already: record them as it tried them.
    tried = ((queue.name, queue.plans) for queue in legacy.tried)
    runs.create_queues(engine, ids, queue_sequences(instance, tried, record=record_sequences))
    costs, assignments = price_queues(engine, ids, instance, legacy, result, write_queue)
    runs.update_instance(engine, ids, proven_optimal=result.proven_optimal)
    winner, cost = runs.choose_winner(engine, ids, result_model)
    runs.finish_instance(
        engine,
        ids,
        RunStatus.COMPLETED,
        cost_before=costs[CURRENT],
        cost_after=cost,
        legacy_cost=legacy.cost,
        lower_bound=result.bound.value,
    )
    return SolvedInstance(
        winner,
        costs[CURRENT],
        cost,
        legacy.cost,
        result.bound.value,
        result.proven_optimal,
        np.asarray(assignments[winner]),
        result.stopped_by,
    )
