"""Solve one optimization instance into its queues: the step mobility groups and customers
share (the M2M chain spreads the same steps over several assets for its metadata).

Queues are those of the M2M run: the current assignment, every legacy strategy (cost only,
except the legacy winner) and the optimizer; the cheapest queue with per-SIM rows wins.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.legacy import legacy_baseline, legacy_queues
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.run import default_legacy_sequences
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import RunStatus

CURRENT, OPTIMIZER = "current", "optimizer"


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

    @property
    def gap_pct(self) -> float:
        bound = self.lower_bound
        return 100 * (self.cost_after - bound) / bound if bound > 0 else 0.0

    @property
    def saving(self) -> float:
        return self.cost_before - self.cost_after


def solve_instance(
    engine,
    ids: runs.RunIds,
    instance: Instance,
    *,
    time_limit_s: float,
    write_queue: Callable[[int, np.ndarray], float],
    result_model,
    record_sequences: bool = True,
) -> SolvedInstance:
    """Create the instance's queues, price them, store per-SIM rows through ``write_queue``
    (queue id, assignment → total cost), choose the winner and close the instance."""
    legacy = legacy_baseline(instance, max_sequences=default_legacy_sequences(instance.n_devices))
    result = optimize(instance, time_limit_s=time_limit_s, starts=[legacy.assignment])
    codes = instance.plan_codes
    everything = [str(c) for c in codes[np.argsort(instance.allowance_mb, kind="stable")]]
    tried = legacy_queues(instance, default_legacy_sequences(instance.n_devices))

    def sequence(plans) -> list[str]:
        return [str(c) for c in plans] if record_sequences else []

    queues = [
        (CURRENT, sequence(everything)),
        *((name, sequence(codes[p] for p in plans)) for name, plans in tried),
        (OPTIMIZER, sequence(everything)),
    ]
    runs.create_queues(engine, ids, queues)
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
    runs.update_instance(engine, ids, proven_optimal=result.proven_optimal)
    winner, cost = runs.choose_winner(engine, ids, result_model)
    runs.finish_instance(
        engine, ids, RunStatus.COMPLETED, cost_before=costs[CURRENT], cost_after=cost,
        legacy_cost=legacy.cost, lower_bound=result.bound.value,
    )  # fmt: skip
    return SolvedInstance(
        winner, costs[CURRENT], cost, legacy.cost, result.bound.value, result.proven_optimal,
        np.asarray(assignments[winner]),
    )  # fmt: skip
