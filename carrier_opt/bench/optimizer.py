"""Optimizer benchmark: generated fleets of 2 k to 1 M SIMs plus every reference instance.

Generated rows: ``synthetic`` IoT fleets (``--sizes``), ``mobility`` optimization groups of
phones (``--mobility-sizes``), ``customer`` instances with other customers' SIMs locked in
the shared pools (``--customer-sizes``) and ``shared_pool`` IoT fleets whose pooled tiers form
three multi-plan pools (``--shared-pool-sizes``); each is seeded with its size (see
core/synthetic.py).

Each row runs in its own Python process so its peak RSS is its own. Columns: devices, seconds
(optimizer only: bound, search, proof — not file loading or the legacy baseline), peak RSS,
the seconds until the answer was within 0.01 % of its final cost
(*0.01% s*, time to quality: measured at the end of the stage that got there), cost, bound
(the LP's, from the Lagrangian), gap % (above that bound), proven % (above the best bound the
run proved, the exact MILP's included: what the gap target is held to), legacy cost and the
saving against it, whether the answer is proven
optimal and what stopped the search (``optimal``, ``gap_target`` or ``time_limit``, as the
optimize command's summary says). Compare rows of one run: machines are noisy, ratios are
what carry over.

    python -m carrier_opt.bench.optimizer [--sizes 2000,20000,...] [--mobility-sizes N,...]
        [--customer-sizes N,...] [--shared-pool-sizes N,...] [--instances DIR]
        [--time-limit SECONDS] [--gap-target PERCENT]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SIZES = (2_000, 20_000, 200_000, 1_000_000)
DEFAULT_MOBILITY_SIZES = (20_000, 200_000)
DEFAULT_CUSTOMER_SIZES = (20_000, 200_000)
DEFAULT_SHARED_POOL_SIZES = (20_000, 200_000, 1_000_000)
GENERATED_KINDS = ("synthetic", "mobility", "customer", "shared_pool")
DEFAULT_INSTANCES = Path(__file__).resolve().parents[2] / "benchmarks" / "instances"
COLUMNS = (
    ("instance", "{:<22}"),
    ("devices", "{:>9,}"),
    ("seconds", "{:>8.1f}"),
    ("to_quality_s", "{:>8.1f}"),
    ("peak_rss_mb", "{:>8,.0f}"),
    ("cost", "{:>15,.2f}"),
    ("bound", "{:>15,.2f}"),
    ("gap_pct", "{:>8.4f}"),
    ("proven_gap_pct", "{:>8.4f}"),
    ("legacy_cost", "{:>15,.2f}"),
    ("saving_vs_legacy_pct", "{:>8.2f}"),
    ("proven", "{:>6}"),
    ("stopped_by", "{:>10}"),
)
HEADERS = (
    "instance",
    "devices",
    "seconds",
    "0.01% s",
    "RSS MB",
    "cost",
    "bound",
    "gap %",
    "proven %",
    "legacy cost",
    "vs leg %",
    "proven",
    "stopped by",
)


TIME_TO_QUALITY_PCT = 0.01
"""The *0.01% s* column: seconds until the answer was within this many percent of its final
cost (at the end of the optimizer stage that found it)."""


def generated_instance(source: str):
    """``(instance, row name)`` of a generated source ``KIND:N`` (seeded with N), else None."""
    from carrier_opt.core import synthetic

    kind, _, size = source.partition(":")
    if kind not in GENERATED_KINDS or not size:
        return None
    n = int(size)
    account = getattr(synthetic, f"{kind}_account")(n, seed=n)
    label = f"{n // 1000}k" if n >= 1000 else str(n)
    return account.instance(), f"{kind}-{label}"


def measure(source: str, time_limit_s: float, gap_target_pct: float | None = None) -> dict:
    """Optimize one instance (``KIND:N`` generated, or a folder) in this process, measured
    (``gap_target_pct`` None: the contract's default target)."""
    from carrier_opt.core.instance import load_instance
    from carrier_opt.core.legacy import legacy_baseline
    from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT, optimize
    from carrier_opt.core.run import default_legacy_sequences

    generated = generated_instance(source)
    if generated is not None:
        instance, name = generated
    else:
        instance, name = load_instance(source), Path(source).name
    legacy = legacy_baseline(instance, max_sequences=default_legacy_sequences(instance.n_devices))
    started = time.monotonic()
    if gap_target_pct is None:
        gap_target_pct = DEFAULT_GAP_TARGET_PCT
    result = optimize(
        instance,
        time_limit_s=time_limit_s,
        gap_target_pct=gap_target_pct,
        starts=[legacy.assignment],
    )
    seconds = time.monotonic() - started
    return {
        "instance": name,
        "devices": instance.n_devices,
        "seconds": seconds,
        "to_quality_s": result.seconds_to_within(TIME_TO_QUALITY_PCT),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cost": result.cost,
        "bound": result.bound.value,
        "gap_pct": 100 * result.gap,
        "proven_gap_pct": result.proven_gap_pct,
        "legacy_cost": legacy.cost,
        "saving_vs_legacy_pct": 100 * (legacy.cost - result.cost) / legacy.cost,
        "proven": "yes" if result.proven_optimal else "no",
        "stopped_by": result.stopped_by,
    }


def run_row(source: str, time_limit_s: float, gap_target_pct: float | None = None) -> dict:
    """Measure one row in a fresh interpreter (own peak RSS, JIT cache shared on disk)."""
    target = [] if gap_target_pct is None else ["--gap-target", str(gap_target_pct)]
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "carrier_opt.bench.optimizer",
            "--one",
            source,
            "--time-limit",
            str(time_limit_s),
            *target,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table (also valid Markdown when fenced)."""
    widths = [len(fmt.format(rows[0][key])) if rows else 8 for key, fmt in COLUMNS]
    header = " ".join(
        h.rjust(w) if i else h.ljust(w)
        for i, (h, w) in enumerate(zip(HEADERS, widths, strict=True))
    )
    lines = [header, "-" * len(header)]
    lines += [" ".join(fmt.format(row[key]) for key, fmt in COLUMNS) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line of the benchmark (also behind `carrier-opt bench optimizer`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--mobility-sizes", default=",".join(map(str, DEFAULT_MOBILITY_SIZES)))
    parser.add_argument("--customer-sizes", default=",".join(map(str, DEFAULT_CUSTOMER_SIZES)))
    parser.add_argument(
        "--shared-pool-sizes", default=",".join(map(str, DEFAULT_SHARED_POOL_SIZES))
    )
    parser.add_argument("--instances", default=str(DEFAULT_INSTANCES))
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument(
        "--gap-target", type=float, default=None, help="percent (default: the contract's 0.001)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.time_limit, args.gap_target)))
        return
    sources = [
        f"{kind}:{int(n)}"
        for kind, sizes in zip(
            GENERATED_KINDS,
            (args.sizes, args.mobility_sizes, args.customer_sizes, args.shared_pool_sizes),
            strict=True,
        )
        for n in sizes.split(",")
        if n
    ]
    folder = Path(args.instances)
    if folder.is_dir():
        sources += [str(p) for p in sorted(folder.iterdir()) if (p / "devices.csv").is_file()]
    rows = []
    for source in sources:
        rows.append(run_row(source, args.time_limit, args.gap_target))
        print(f"  done: {rows[-1]['instance']}", file=sys.stderr, flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main()
