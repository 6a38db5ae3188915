"""Optimization instance: the three CSV files of the optimizer contract, loaded and checked.

An instance folder holds ``rate_plans.csv``, ``comm_plan_rate_plans.csv`` and ``devices.csv``
(see ``optimizer-contract.md``). :func:`load_instance` reads them into an :class:`Instance` of
numpy arrays that the pricing, the lower bound and the optimizer share.

Validation never stops at the first problem: every problem found is collected and one
:class:`InstanceInputError` is raised whose message holds one line per problem, formatted
``file:row:column: what is wrong``. ``row`` is the 1-based line number in the file counting the
header (so the first data row is 2); ``-`` stands for "the whole file" or "no single column".
To keep the message readable on huge files, at most :data:`MAX_PROBLEMS_PER_KIND` lines are
written per (file, column, kind of problem); one more line then says how many were left out.

``rate_plans.csv`` may carry an optional ``charge_type`` column (see
``docs/optimizer-contract-extensions.md``): ``rate_and_overage`` (the contract's model, and the
meaning of an absent column or an empty cell), ``overage_only`` (the base rate is billed in
advance elsewhere, so only allowance overage and SMS are charged here) or ``rate_only`` (base
rate and SMS, never any overage). :class:`Instance` keeps the listed prices untouched and
exposes the *billed* ones (:attr:`Instance.billed_base_rate`, :attr:`Instance.billed_overage_rate`,
:attr:`Instance.bills_pool`) that every cost computation uses.

``rate_plans.csv`` may also carry the contract's optional ``rate_pool`` column: pooled plans
naming the same pool share **one** pool (allowances add up, overage is priced once), the way the
legacy system pooled every pooled plan of a mobility group or of a customer rate pool. An
empty cell means the plan is its own pool. :attr:`Instance.pool_of` maps every plan to its
billed pool (``-1``: none), and every cost computation works per pool.

Rate plans that cannot be priced (``data_per_overage_charge_mb <= 0``, a negative price or a
negative allowance, an ``overage_rate`` of 0 on a plan that bills overage, or a ``rate_pool``
whose plans disagree on the overage price) are not fatal: they are left out of the offer and
listed in :attr:`Instance.dropped_plans`, as the fixed contract asks ("not offered to the
optimizer; the run reports them"); ``carrier-opt optimize`` names each on standard error.
Devices currently on such a plan keep ``current_plan == -1``; a *locked* device on such a plan
is fatal because it cannot be priced and may not move. (``rate-plans load`` refuses the same
values when they are stored; the contract's command drops them, and says so.)

A problem in ``rate_plans.csv`` is reported once, where it is: the rows of the other files that
name a refused plan are not reported again (they are fine once the plan is), and when a plan row
has no code at all, the rows naming a code that is not in the file are reported once per code.
A file with a header row but no rate plans or no devices is refused: an instance needs both.

The module also reads and writes assignment files (``iccid, rate_plan_code``), writing through
a temporary file and :func:`os.replace` so that a crash never leaves half a file behind.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from carrier_opt.core.memory import release_freed_memory
from carrier_opt.core.text_files import first_undecodable_line, not_utf8_message
from carrier_opt.errors import InputError


def _arrow_frees_what_it_frees() -> None:
    """Give Arrow (pandas 3's string storage) the system allocator.

    Arrow's default pool (mimalloc) keeps the memory of freed columns for reuse by Arrow, and
    Arrow is done once the CSVs are parsed: at 1 M SIMs the optimizer's arrays then came on top
    of about 100 MB nobody used (peak 1.35 GB instead of 1.2 GB)."""
    try:
        import pyarrow
    except ImportError:  # pandas falls back to Python strings: slower, still correct
        return
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


_arrow_frees_what_it_frees()

RATE_PLANS_FILE = "rate_plans.csv"
COMM_PLAN_RATE_PLANS_FILE = "comm_plan_rate_plans.csv"
DEVICES_FILE = "devices.csv"

RATE_PLAN_COLUMNS = (
    "rate_plan_code",
    "base_rate",
    "data_allowance_mb",
    "overage_rate",
    "data_per_overage_charge_mb",
    "sms_rate",
    "pooled",
)
COMM_PLAN_COLUMNS = ("communication_plan", "rate_plan_code")
DEVICE_COLUMNS = ("iccid", "communication_plan", "rate_plan_code", "usage_mb")
OPTIONAL_DEVICE_COLUMNS = ("sms_count", "proration", "locked")
OPTIONAL_RATE_PLAN_COLUMNS = ("charge_type", "rate_pool")

RATE_AND_OVERAGE = "rate_and_overage"
OVERAGE_ONLY = "overage_only"
RATE_ONLY = "rate_only"
CHARGE_TYPES = (RATE_AND_OVERAGE, OVERAGE_ONLY, RATE_ONLY)
"""Values of the optional ``charge_type`` column (the database's ``charge_type`` values)."""
DEFAULT_CHARGE_TYPE = RATE_AND_OVERAGE
"""Charge type of a plan whose ``charge_type`` is absent or empty: the contract's model."""
ASSIGNMENT_COLUMNS = ("iccid", "rate_plan_code")

MAX_PROBLEMS_PER_KIND = 100
"""Cap on reported lines per (file, column, kind); a summary line tells how many were cut."""

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
"""The words a true/false cell may say true with (case-insensitive)."""
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
_FIRST_DATA_ROW = 2  # line 1 is the header


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as the input allows."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        row = "-" if self.row is None else str(self.row)
        column = self.column or "-"
        return f"{self.file}:{row}:{column}: {self.message}"


class InstanceInputError(InputError):
    """Bad instance or assignment files; ``problems`` lists each one (also one line each in str)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass
class _ProblemLog:
    """Collects problems, capping each (file, column, kind) so huge files stay readable."""

    problems: list[Problem] = field(default_factory=list)
    _counts: Counter[tuple[str, str | None, str]] = field(default_factory=Counter)
    _rows: set[tuple[str, int]] = field(default_factory=set)

    def add(self, file: str, row: int | None, column: str | None, message: str, kind: str) -> None:
        key = (file, column, kind)
        self._counts[key] += 1
        if row is not None:
            self._rows.add((file, row))
        if self._counts[key] <= MAX_PROBLEMS_PER_KIND:
            self.problems.append(Problem(file, row, column, message))

    def has_problem(self, file: str, row: int) -> bool:
        """Whether a problem was recorded on ``row`` of ``file`` (also beyond the cap)."""
        return (file, row) in self._rows

    def raise_if_any(self) -> None:
        """Raise one error with every problem collected so far (and the cut-off counts)."""
        if not self.problems:
            return
        for (file, column, kind), count in self._counts.items():
            if count > MAX_PROBLEMS_PER_KIND:
                left_out = count - MAX_PROBLEMS_PER_KIND
                message = f"... and {left_out} more rows with the same problem ({kind})"
                self.problems.append(Problem(file, None, column, message))
        raise InstanceInputError(self.problems)


# --------------------------------------------------------------------------- the instance


@dataclass(frozen=True)
class DroppedPlan:
    """A rate plan left out of the offer because it cannot be priced, and why."""

    rate_plan_code: str
    reason: str


@dataclass(frozen=True, eq=False)
class Instance:
    """One account's rate plans and SIMs for one billing period, as read-only numpy arrays.

    Plan arrays are indexed by plan (only the plans offered, i.e. not dropped); device arrays
    by device in file order. ``allowed[c, p]`` says whether communication plan ``c`` may use
    rate plan ``p``.
    """

    plan_codes: np.ndarray  # str, (n_plans,)
    base_rate: np.ndarray  # USD per device and period
    allowance_mb: np.ndarray  # MB per device (added to the pool when pooled)
    overage_rate: np.ndarray  # USD per overage unit
    overage_unit_mb: np.ndarray  # MB per overage unit, > 0
    sms_rate: np.ndarray  # USD per SMS
    pooled: np.ndarray  # bool
    iccids: np.ndarray  # str, (n_devices,)
    usage_mb: np.ndarray
    sms_count: np.ndarray  # float64 holding whole numbers
    proration: np.ndarray  # in (0, 1]
    locked: np.ndarray  # bool
    current_plan: np.ndarray  # int64 plan index, -1 when the current plan was dropped
    comm_plan: np.ndarray  # int64 index into comm_plan_codes
    comm_plan_codes: np.ndarray  # str, (n_comm_plans,)
    allowed: np.ndarray  # bool, (n_comm_plans, n_plans)
    dropped_plans: tuple[DroppedPlan, ...] = ()
    # str per plan, one of CHARGE_TYPES; None (callers building an Instance by hand) means
    # every plan is rate_and_overage, so the contract's model applies unchanged.
    charge_type: np.ndarray | None = None
    # str per plan: the contract's rate_pool ("" or None: the plan is its own pool).
    rate_pool: np.ndarray | None = None
    # Derived in __post_init__ (see _index_pools): the billed pools.
    pool_of: np.ndarray = field(init=False)  # int64 per plan: its pool, -1 when none billed
    # int64 per plan: its pool, or n_pools for plans without one. Arrays indexed by slot have
    # one more entry than pools, holding 0 (no load, no price), so no caller masks the -1s.
    pool_slot: np.ndarray = field(init=False)
    pool_names: np.ndarray = field(init=False)  # str per pool (rate_pool, or the plan's code)
    pool_overage_rate: np.ndarray = field(init=False)  # billed USD per overage unit, per pool
    pool_unit_mb: np.ndarray = field(init=False)  # MB per overage unit, per pool

    def __post_init__(self) -> None:
        if self.charge_type is None:
            default = np.full(len(self.plan_codes), DEFAULT_CHARGE_TYPE, dtype=object)
            object.__setattr__(self, "charge_type", default)
        unknown = set(self.charge_type.tolist()) - set(CHARGE_TYPES)
        if unknown or len(self.charge_type) != len(self.plan_codes):
            raise ValueError(f"charge_type must hold one of {CHARGE_TYPES} per plan")
        if self.rate_pool is None:
            object.__setattr__(self, "rate_pool", np.full(len(self.plan_codes), "", dtype=object))
        if len(self.rate_pool) != len(self.plan_codes):
            raise ValueError("rate_pool must hold one value per plan")
        self._index_pools()
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    def _index_pools(self) -> None:
        """Number the billed pools: plans sharing a ``rate_pool``, else each pooled plan alone.

        Only plans that bill a pool (:attr:`bills_pool`) belong to one; a ``rate_only`` plan
        never bills overage, so its SIMs neither load nor enlarge a pool. Plans of one pool
        must share overage price and unit (the loader drops pools that do not).
        """
        names = [
            (str(pool) if pool not in (None, "") else f"\0{code}")
            for pool, code in zip(self.rate_pool.tolist(), self.plan_codes.tolist(), strict=True)
        ]
        bills = self.bills_pool
        keys = pd.Index([name for name, billed in zip(names, bills, strict=True) if billed])
        unique = keys.unique()
        pool_of = np.full(len(self.plan_codes), -1, dtype=np.int64)
        pool_of[bills] = unique.get_indexer(keys)
        rate = np.zeros(len(unique))
        unit = np.ones(len(unique))
        for plan in np.flatnonzero(bills)[::-1]:
            rate[pool_of[plan]] = self.overage_rate[plan]
            unit[pool_of[plan]] = self.overage_unit_mb[plan]
        members_rate = rate[pool_of[bills]]
        members_unit = unit[pool_of[bills]]
        if len(members_rate) and (
            not np.allclose(members_rate, self.overage_rate[bills], rtol=0, atol=1e-12)
            or not np.allclose(members_unit, self.overage_unit_mb[bills], rtol=0, atol=1e-12)
        ):
            raise ValueError("plans of one rate_pool must share overage_rate and unit")
        object.__setattr__(self, "pool_of", pool_of)
        object.__setattr__(self, "pool_slot", np.where(bills, pool_of, len(unique)))
        object.__setattr__(self, "pool_names", np.array([n.lstrip("\0") for n in unique], object))
        object.__setattr__(self, "pool_overage_rate", rate)
        object.__setattr__(self, "pool_unit_mb", unit)

    @property
    def n_plans(self) -> int:
        """Number of rate plans offered."""
        return len(self.plan_codes)

    @property
    def n_pools(self) -> int:
        """Number of billed pools (pooled plans that bill overage, grouped by rate_pool)."""
        return len(self.pool_overage_rate)

    @property
    def n_devices(self) -> int:
        """Number of SIMs."""
        return len(self.iccids)

    @property
    def bills_base(self) -> np.ndarray:
        """Bool per plan: the base rate is charged in this period (not ``overage_only``)."""
        return self.charge_type != OVERAGE_ONLY

    @property
    def bills_overage(self) -> np.ndarray:
        """Bool per plan: usage beyond the allowance is charged (not ``rate_only``)."""
        return self.charge_type != RATE_ONLY

    @property
    def billed_base_rate(self) -> np.ndarray:
        """USD per device and period actually billed here: 0 for ``overage_only`` plans.

        ``base_rate`` keeps the listed price for reports; costs always use this one.
        """
        return np.where(self.bills_base, self.base_rate, 0.0)

    @property
    def billed_overage_rate(self) -> np.ndarray:
        """USD per overage unit actually billed: 0 for ``rate_only`` plans (never overage)."""
        return np.where(self.bills_overage, self.overage_rate, 0.0)

    @property
    def bills_pool(self) -> np.ndarray:
        """Bool per plan: a pool whose overage is billed (pooled and not ``rate_only``).

        A pooled ``rate_only`` plan never bills its pool, so every cost computation treats it
        as a plan whose SIMs each cost a constant: no pool load, no pool price.
        """
        return self.pooled & self.bills_overage

    @property
    def overage_rate_per_mb(self) -> np.ndarray:
        """USD per MB of billed overage once the ceil is dropped: the LP relaxation's slope."""
        return self.billed_overage_rate / self.overage_unit_mb

    @property
    def pool_rate_per_mb(self) -> np.ndarray:
        """USD per MB of a pool's load once the ceil is dropped, per pool."""
        return self.pool_overage_rate / self.pool_unit_mb

    def allowed_for_devices(self) -> np.ndarray:
        """Bool (n_devices, n_plans): which plans each SIM may use (locked: only its own)."""
        allowed = self.allowed[self.comm_plan].copy()
        locked = np.flatnonzero(self.locked)
        allowed[locked] = False
        allowed[locked, self.current_plan[locked]] = True
        return allowed


# --------------------------------------------------------------------------- reading files


def _read_table(
    folder: Path, name: str, log: _ProblemLog, required: Iterable[str] = ()
) -> pd.DataFrame | None:
    """Read a CSV as strings, keeping blank lines so that row numbers stay line numbers.

    A file that cannot be read is one problem naming the file (and the row when it is known),
    never a traceback nor a codec's or tokenizer's message. ``required``: the columns the
    header must name, reported missing also when the rows do not fit the header.
    """
    path = folder / name
    if not path.is_file():
        what = (
            "is a directory, not a file"
            if path.is_dir()
            else "is not a regular file"
            if path.exists()
            else "file is missing"
        )
        log.add(name, None, None, f"{what} (looked for {path})", "missing file")
        return None
    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only *warns* that a first data row with one value too
            # many loses data; without it, it shifts every column of the file by one.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                encoding="utf-8",
                index_col=False,
            )
    except pd.errors.EmptyDataError:
        log.add(name, 1, None, "file is empty (no header row)", "empty file")
        return None
    except UnicodeDecodeError:
        line, byte = first_undecodable_line(path)
        log.add(name, line, None, not_utf8_message(byte), "unreadable")
        return None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        header, line, message = _csv_shape_problem(path, error)
        if _check_columns(pd.DataFrame(columns=header), name, required, log):
            log.add(name, line, None, message, "unreadable")
        return None
    except OSError as error:
        log.add(name, None, None, f"cannot read the file: {error.strerror}", "unreadable")
        return None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def _csv_shape_problem(path: Path, error: Exception) -> tuple[list[str], int | None, str]:
    """(header, line, what is wrong) for a file pandas could not split into rows of the
    header's width.

    The usual causes are a header that lacks a column (every row is then one value too long)
    or a value holding the delimiter (``5,00`` for 5.00). ``csv`` finds the first row longer
    than the header; any other reason is passed on as pandas words it.
    """
    header: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [column.strip() for column in next(reader, [])]
            for row in reader:
                if len(row) > len(header):
                    hint = (
                        "a comma too many at the end of the line?"
                        if not "".join(row[len(header) :]).strip()
                        else "quote a value that holds a comma"
                    )
                    message = f"has {len(row)} values but the header has {len(header)} columns"
                    return header, reader.line_num, f"{message} ({hint})"
    except (csv.Error, UnicodeDecodeError, OSError):
        pass
    return header, None, f"cannot be read as CSV: {error}"


def _line(frame: pd.DataFrame, position: int) -> int:
    """File line of the row at ``position`` (the index still counts dropped blank lines)."""
    return int(frame.index[position]) + _FIRST_DATA_ROW


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty (blank lines): ignored, as CSV readers usually do."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=bool)
    return (frame.apply(lambda column: column.str.strip() == "")).all(axis=1).to_numpy()


def _check_columns(
    frame: pd.DataFrame, name: str, required: Iterable[str], log: _ProblemLog
) -> bool:
    """Report every missing required column; True when all are present."""
    missing = [column for column in required if column not in frame.columns]
    for column in missing:
        log.add(name, 1, column, "required column is missing", "missing column")
    return not missing


def _text(frame: pd.DataFrame, name: str, column: str, log: _ProblemLog) -> pd.Series:
    """A required text column; empty cells are reported."""
    values = frame[column]
    empty = (values.str.strip() == "").to_numpy()
    for position in np.flatnonzero(empty):
        log.add(name, _line(frame, position), column, "value is missing", "missing value")
    return values


_LARGEST_USD = 1e6
_LARGEST_MB = 1e9
LARGEST = {
    "base_rate": _LARGEST_USD,
    "overage_rate": _LARGEST_USD,
    "sms_rate": _LARGEST_USD,
    "data_allowance_mb": _LARGEST_MB,
    "data_per_overage_charge_mb": _LARGEST_MB,
    "usage_mb": _LARGEST_MB,
    "sms_count": 1e9,
}
"""The largest value accepted per column: a million USD per SIM, MB or SMS, a billion MB (a
petabyte) per SIM or plan, a billion SMS. Anything larger is a typing or unit error, and would
push fleet totals beyond what float64 holds to the cent (so bounds, gaps and the summary's
JSON would be wrong, or not even finite)."""
POSITIVE_RATE_PLAN_COLUMNS = frozenset({"data_per_overage_charge_mb"})
"""Rate-plan numbers that must be > 0 (one overage unit has a size); the others must be >= 0.
``rate-plans load`` refuses the same values, with the same :data:`LARGEST` limits."""


def _parsed(cells: pd.Series) -> np.ndarray:
    """The float64 value of each (stripped) cell, NaN where it is empty or not a number.

    pyarrow's cast first: where every cell parses (the usual file) it takes 0.05 s over a
    1 M-SIM devices.csv where ``pd.to_numeric`` took 0.67 s for its columns. It refuses the
    whole column at one bad cell; pandas then finds which cells are bad. Both read the same
    numbers ("nan", "inf" and "1e400" included, reported later as not finite); ``+ 0.0``
    makes "-0" the 0 pandas gives."""
    try:
        strings = pa.array(cells, type=pa.large_string())
        strings = pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.large_string()), strings)
        values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float) + 0.0
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return np.array(pd.to_numeric(cells, errors="coerce"), dtype=float)


def _numbers(
    frame: pd.DataFrame,
    name: str,
    column: str,
    log: _ProblemLog,
    *,
    default: float | None = None,
    allow_negative: bool = False,
) -> np.ndarray:
    """Parse a numeric column, reporting empty (when required), unparsable, negative and
    absurdly large cells (see :data:`LARGEST`).

    Bad cells come back as NaN so later checks can skip them.
    """
    if column not in frame.columns:
        return np.full(len(frame), np.nan if default is None else default)
    raw = frame[column].str.strip()
    empty = (raw == "").to_numpy()
    numbers = _parsed(raw)
    if default is not None:
        numbers[empty] = default
    else:
        for position in np.flatnonzero(empty):
            log.add(name, _line(frame, position), column, "value is missing", "missing value")
    bad = ~empty & ~np.isfinite(numbers)
    for index in np.flatnonzero(bad):
        message = f"{raw.iat[index]!r} is not a number"
        log.add(name, _line(frame, index), column, message, "not a number")
    numbers[bad] = np.nan
    largest = LARGEST.get(column)
    if largest is not None:
        huge = np.abs(np.nan_to_num(numbers)) > largest
        for index in np.flatnonzero(huge):
            message = f"{raw.iat[index]} is larger than {largest:,.0f}, the largest accepted"
            log.add(name, _line(frame, index), column, message, "too large")
        numbers[huge] = np.nan
    if not allow_negative:
        negative = numbers < 0
        for index in np.flatnonzero(negative):
            message = f"{raw.iat[index]} is negative; must be >= 0"
            log.add(name, _line(frame, index), column, message, "negative")
        numbers[negative] = np.nan
    return numbers


def _booleans(
    frame: pd.DataFrame, name: str, column: str, log: _ProblemLog, *, default: bool | None
) -> np.ndarray:
    """Parse true/false (also yes/no, 1/0, t/f); empty cells take ``default`` if given."""
    if column not in frame.columns:
        return np.full(len(frame), bool(default))
    words = frame[column].str.strip().str.lower()
    true = np.array(words.isin(TRUE_WORDS), dtype=bool)
    false = np.array(words.isin(_FALSE_WORDS), dtype=bool)
    empty = (words == "").to_numpy()
    if default is not None:
        true |= empty & default
        false |= empty & (not default)
    for index in np.flatnonzero(~true & ~false):
        message = (
            "value is missing"
            if empty[index]
            else f"{frame[column].iat[index]!r} is not true or false"
        )
        log.add(name, _line(frame, index), column, message, "not a boolean")
    return true


def _report_duplicates(
    values: pd.Series, name: str, column: str, what: str, log: _ProblemLog
) -> np.ndarray:
    """Report every repeat of a value that must be unique; returns the repeat mask."""
    repeats = values.duplicated(keep="first").to_numpy() & (values.str.strip() != "").to_numpy()
    if repeats.any():
        first_row = {}
        for line, value in zip(values.index + _FIRST_DATA_ROW, values.to_numpy(), strict=True):
            first_row.setdefault(value, int(line))
        for index in np.flatnonzero(repeats):
            value = values.iat[index]
            message = f"duplicate {what} {value!r} (first on row {first_row[value]})"
            log.add(name, int(values.index[index]) + _FIRST_DATA_ROW, column, message, "duplicate")
    return repeats


# --------------------------------------------------------------------------- rate plans


@dataclass(frozen=True)
class _RatePlans:
    codes: np.ndarray  # every well-formed code, offered or not
    offered: np.ndarray  # bool per code
    numbers: dict[str, np.ndarray]
    pooled: np.ndarray
    dropped: tuple[DroppedPlan, ...]
    charge_type: np.ndarray  # str per code, one of CHARGE_TYPES
    rate_pool: np.ndarray  # str per code, "" when the plan is its own pool
    # Codes of plans not offered because their row has a problem (already reported): the other
    # files' rows naming them are not reported again.
    refused: frozenset[str] = frozenset()
    # A row has no rate_plan_code: a code the other files name may be that row's.
    has_row_without_code: bool = False


def _charge_types(frame: pd.DataFrame, name: str, log: _ProblemLog) -> np.ndarray:
    """The optional charge_type column: absent or empty means :data:`DEFAULT_CHARGE_TYPE`.

    Values are matched case-insensitively (the database stores lower case); anything else is
    reported, because guessing how a plan is billed would silently misprice it.
    """
    if "charge_type" not in frame.columns:
        return np.full(len(frame), DEFAULT_CHARGE_TYPE, dtype=object)
    words = frame["charge_type"].str.strip().str.lower()
    words = words.where(words != "", DEFAULT_CHARGE_TYPE)
    valid = words.isin(CHARGE_TYPES).to_numpy()
    for index in np.flatnonzero(~valid):
        message = (
            f"{frame['charge_type'].iat[index]!r} is not a charge type; "
            f"use one of {', '.join(CHARGE_TYPES)} (empty: {DEFAULT_CHARGE_TYPE})"
        )
        log.add(name, _line(frame, index), "charge_type", message, "charge type")
    # A bad cell is fatal (reported above); the default stands in so that the plan is not
    # also reported as missing by every file that names it.
    return words.where(valid, DEFAULT_CHARGE_TYPE).to_numpy(dtype=object)


def _drop_reason(numbers: dict[str, np.ndarray], charge_type: str, index: int) -> str | None:
    """Why a parsed plan cannot be offered, or None when it can."""
    if numbers["data_per_overage_charge_mb"][index] <= 0:
        return "data_per_overage_charge_mb must be > 0"
    for column in ("base_rate", "overage_rate", "sms_rate"):
        if numbers[column][index] < 0:
            return f"{column} is negative"
    if numbers["data_allowance_mb"][index] < 0:
        return "data_allowance_mb is negative"
    if numbers["overage_rate"][index] == 0 and charge_type != RATE_ONLY:
        # The legacy system refused these plans too: a 0 price on a plan that bills overage is
        # a missing price, and offering it as free overage would send every heavy SIM there.
        return (
            f"overage_rate is 0 on a plan that bills overage (charge_type {charge_type}); "
            f"only {RATE_ONLY} plans may have no overage price"
        )
    return None


def _rate_pools(frame: pd.DataFrame) -> np.ndarray:
    """The optional rate_pool column, stripped; "" (own pool) when absent or empty."""
    if "rate_pool" not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    return frame["rate_pool"].str.strip().to_numpy(dtype=object)


def _drop_mixed_pools(
    codes: pd.Series,
    offered: np.ndarray,
    numbers: dict[str, np.ndarray],
    pooled: np.ndarray,
    charge_type: np.ndarray,
    rate_pool: np.ndarray,
) -> list[DroppedPlan]:
    """Leave out every plan of a ``rate_pool`` whose billed plans disagree on overage price.

    One pool has one overage price; choosing one of two would misprice the other plan's SIMs.
    """
    billed = offered & pooled & (charge_type != RATE_ONLY) & (rate_pool != "")
    dropped = []
    for pool in sorted(set(rate_pool[billed].tolist())):
        members = np.flatnonzero(billed & (rate_pool == pool))
        listed = overage_price_conflict(
            codes.to_numpy()[members],
            numbers["overage_rate"][members],
            numbers["data_per_overage_charge_mb"][members],
        )
        if listed is None:
            continue
        for index in members:
            offered[index] = False
            reason = f"rate_pool {pool!r} has more than one overage price ({listed})"
            dropped.append(DroppedPlan(str(codes.iat[index]), reason))
    return dropped


def overage_price_conflict(codes, rates, units_mb) -> str | None:
    """``"A 1 USD per 1 MB, B 2 USD per 1 MB"`` when the plans meant to share one pool have
    more than one overage price (rate, unit), else ``None``: one pool has one price."""
    rates = np.asarray(rates, dtype=float)
    units_mb = np.asarray(units_mb, dtype=float)
    if len(set(zip(rates.tolist(), units_mb.tolist(), strict=True))) < 2:
        return None
    return ", ".join(
        f"{code} {rate:g} USD per {unit:g} MB"
        for code, rate, unit in zip(codes, rates, units_mb, strict=True)
    )


def _parse_rate_plans(frame: pd.DataFrame, log: _ProblemLog) -> _RatePlans | None:
    """Check rate_plans.csv; plans that parse but cannot be priced are dropped, not fatal."""
    name = RATE_PLANS_FILE
    if not _check_columns(frame, name, RATE_PLAN_COLUMNS, log):
        return None
    frame = frame[~_blank_rows(frame)]
    codes = _text(frame, name, "rate_plan_code", log)
    repeats = _report_duplicates(codes, name, "rate_plan_code", "rate_plan_code", log)
    numbers = {
        column: _numbers(
            frame,
            name,
            column,
            log,
            allow_negative=True,
        )
        for column in RATE_PLAN_COLUMNS[1:-1]
    }
    pooled = _booleans(frame, name, "pooled", log, default=None)
    charge_type = _charge_types(frame, name, log)
    well_formed = ~np.isnan(np.column_stack(list(numbers.values()))).any(axis=1)
    has_code = (codes.str.strip() != "").to_numpy()
    offered = well_formed & ~repeats & has_code
    rate_pool = _rate_pools(frame)
    dropped = []
    for index in np.flatnonzero(offered):
        reason = _drop_reason(numbers, charge_type[index], index)
        if reason is not None:
            offered[index] = False
            dropped.append(DroppedPlan(str(codes.iat[index]), reason))
    dropped += _drop_mixed_pools(codes, offered, numbers, pooled, charge_type, rate_pool)
    lines = frame.index.to_numpy() + _FIRST_DATA_ROW
    with_problem = np.array([log.has_problem(name, int(line)) for line in lines], dtype=bool)
    all_codes = codes.to_numpy(dtype=object)
    refused = set(all_codes[with_problem & has_code]) - set(all_codes[offered])
    return _RatePlans(
        all_codes,
        offered,
        numbers,
        pooled,
        tuple(dropped),
        charge_type,
        rate_pool,
        frozenset(refused),
        bool((~has_code).any()),
    )


# --------------------------------------------------------------------------- comm plans


def _parse_comm_plans(
    frame: pd.DataFrame, plans: _RatePlans | None, log: _ProblemLog
) -> tuple[pd.Series, pd.Series] | None:
    """Check comm_plan_rate_plans.csv; returns every (comm plan, rate plan) pair, offered or not
    (:func:`_assemble` keeps the offered ones; the others tell which SIMs wait for a fix)."""
    name = COMM_PLAN_RATE_PLANS_FILE
    if not _check_columns(frame, name, COMM_PLAN_COLUMNS, log):
        return None
    frame = frame[~_blank_rows(frame)]
    comm = _text(frame, name, "communication_plan", log)
    codes = _text(frame, name, "rate_plan_code", log)
    keep = (comm.str.strip() != "").to_numpy() & (codes.str.strip() != "").to_numpy()
    if plans is not None:
        unknown = keep & ~codes.isin(plans.codes).to_numpy()
        lines = frame.index.to_numpy() + _FIRST_DATA_ROW
        _report_unknown_plans(name, lines, codes, unknown, plans.has_row_without_code, log)
    return comm[keep], codes[keep]


def _report_unknown_plans(
    name: str,
    lines: np.ndarray,
    codes: pd.Series,
    unknown: np.ndarray,
    once_per_code: bool,
    log: _ProblemLog,
) -> None:
    """One line per row naming a plan that rate_plans.csv lacks, or, when a row there has no
    code (so the plan may well be that row), one line per code at its first row."""
    if not once_per_code:
        for index in np.flatnonzero(unknown):
            message = f"unknown rate plan {codes.iat[index]!r} (not in {RATE_PLANS_FILE})"
            log.add(name, int(lines[index]), "rate_plan_code", message, "unknown plan")
        return
    positions = np.flatnonzero(unknown)
    named = pd.Series(positions).groupby(codes.to_numpy()[positions], sort=False)
    for code, rows in named:
        message = (
            f"unknown rate plan {code!r} (not in {RATE_PLANS_FILE}, where a row has no "
            f"rate_plan_code)"
        )
        if len(rows) > 1:
            message += f"; {len(rows)} rows name it, the first is this one"
        log.add(name, int(lines[rows.iat[0]]), "rate_plan_code", message, "unknown plan")


# --------------------------------------------------------------------------- devices


def _parse_devices(frame: pd.DataFrame, log: _ProblemLog) -> dict[str, object] | None:
    """Check devices.csv on its own (cross-file checks come later)."""
    name = DEVICES_FILE
    if not _check_columns(frame, name, DEVICE_COLUMNS, log):
        return None
    frame = frame[~_blank_rows(frame)]
    lines = frame.index.to_numpy() + _FIRST_DATA_ROW
    iccids = _text(frame, name, "iccid", log)
    _report_duplicates(iccids, name, "iccid", "iccid", log)
    device = {
        "lines": lines,
        "iccids": iccids,
        "comm": _text(frame, name, "communication_plan", log),
        "plan": _text(frame, name, "rate_plan_code", log),
        "usage_mb": _numbers(frame, name, "usage_mb", log),
        "sms_count": _sms_counts(frame, log),
        "proration": _prorations(frame, log),
        "locked": _booleans(frame, name, "locked", log, default=False),
    }
    return device


def _sms_counts(frame: pd.DataFrame, log: _ProblemLog) -> np.ndarray:
    """sms_count: optional, a whole number >= 0 (0 when absent)."""
    counts = _numbers(frame, DEVICES_FILE, "sms_count", log, default=0.0)
    fractional = np.isfinite(counts) & (counts != np.round(counts))
    for index in np.flatnonzero(fractional):
        message = f"{frame['sms_count'].iat[index]} is not a whole number"
        log.add(DEVICES_FILE, _line(frame, index), "sms_count", message, "fractional")
    return counts


def _prorations(frame: pd.DataFrame, log: _ProblemLog) -> np.ndarray:
    """proration: optional, 0 < p <= 1 (1 when absent)."""
    prorations = _numbers(frame, DEVICES_FILE, "proration", log, default=1.0, allow_negative=True)
    outside = np.isfinite(prorations) & ((prorations <= 0) | (prorations > 1))
    for index in np.flatnonzero(outside):
        message = f"{frame['proration'].iat[index]} is outside (0, 1]"
        log.add(DEVICES_FILE, _line(frame, index), "proration", message, "proration")
    return prorations


# --------------------------------------------------------------------------- cross checks


def _assemble(
    plans: _RatePlans, pairs: tuple[pd.Series, pd.Series], devices: dict, log: _ProblemLog
) -> Instance:
    """Cross-file checks, then the Instance (only called when every file parsed).

    Rows naming a plan refused in rate_plans.csv, or whose communication plan allows a plan
    so refused or unknown, are not reported: the plan's (or the pair's) problem is.
    """
    offered = np.flatnonzero(plans.offered)
    plan_codes = plans.codes[offered]
    plan_index = pd.Index(plan_codes)
    device_codes = devices["plan"]
    all_codes = pd.Index(plans.codes[plans.codes != ""]).drop_duplicates()
    unknown = ~device_codes.isin(all_codes).to_numpy() & (device_codes.str.strip() != "").to_numpy()
    lines, once = devices["lines"], plans.has_row_without_code
    _report_unknown_plans(DEVICES_FILE, lines, device_codes, unknown, once, log)
    current_plan = plan_index.get_indexer(device_codes).astype(np.int64)

    comm_all, codes_all = pairs
    offered_pairs = codes_all.isin(plan_codes).to_numpy()
    offered_comm, offered_codes = comm_all[offered_pairs], codes_all[offered_pairs]
    comm_codes, comm_plan = _communication_plans((offered_comm, offered_codes), devices["comm"])
    allowed = np.zeros((len(comm_codes), len(plan_codes)), dtype=bool)
    allowed[comm_codes.get_indexer(offered_comm), plan_index.get_indexer(offered_codes)] = True

    # A plan refused in rate_plans.csv, or a pair naming a plan it lacks, is reported already.
    reported = ~codes_all.isin(all_codes) | codes_all.isin(plans.refused)
    waits_for_a_fix = devices["comm"].isin(comm_all[reported]).to_numpy()
    locked = devices["locked"]
    _check_choices(devices, allowed[comm_plan].any(axis=1) | waits_for_a_fix, locked, log)
    on_refused = device_codes.isin(plans.refused).to_numpy()
    _check_locked(devices, locked & ~unknown & ~on_refused & (current_plan < 0), log)
    return Instance(
        plan_codes=plan_codes.astype(object),
        base_rate=plans.numbers["base_rate"][offered],
        allowance_mb=plans.numbers["data_allowance_mb"][offered],
        overage_rate=plans.numbers["overage_rate"][offered],
        overage_unit_mb=plans.numbers["data_per_overage_charge_mb"][offered],
        sms_rate=plans.numbers["sms_rate"][offered],
        pooled=plans.pooled[offered],
        iccids=devices["iccids"].to_numpy(dtype=object),
        usage_mb=devices["usage_mb"],
        sms_count=devices["sms_count"],
        proration=devices["proration"],
        locked=locked,
        current_plan=current_plan,
        comm_plan=comm_plan,
        comm_plan_codes=comm_codes.to_numpy(dtype=object),
        allowed=allowed,
        dropped_plans=plans.dropped,
        charge_type=plans.charge_type[offered],
        rate_pool=plans.rate_pool[offered],
    )


def _communication_plans(
    pairs: tuple[pd.Series, pd.Series], device_comm: pd.Series
) -> tuple[pd.Index, np.ndarray]:
    """Every communication plan named in either file, and each device's index into them."""
    comm_codes = pd.Index(pd.concat([pairs[0], device_comm]).unique())
    return comm_codes, comm_codes.get_indexer(device_comm).astype(np.int64)


def _check_choices(devices: dict, has_choice: np.ndarray, locked: np.ndarray, log) -> None:
    """An unlocked SIM needs at least one valid plan allowed by its communication plan."""
    comm = devices["comm"]
    stuck = ~has_choice & ~locked & (comm.str.strip() != "").to_numpy()
    for index in np.flatnonzero(stuck):
        message = f"communication plan {comm.iat[index]!r} allows no valid rate plan"
        line = int(devices["lines"][index])
        log.add(DEVICES_FILE, line, "communication_plan", message, "no plan")


def _check_locked(devices: dict, on_dropped_plan: np.ndarray, log: _ProblemLog) -> None:
    """A locked SIM must stay on its plan, so that plan has to be one we can price."""
    for index in np.flatnonzero(on_dropped_plan):
        message = (
            f"locked device is on rate plan {devices['plan'].iat[index]!r}, "
            f"which is invalid and not offered"
        )
        line = int(devices["lines"][index])
        log.add(DEVICES_FILE, line, "rate_plan_code", message, "locked on invalid plan")


# --------------------------------------------------------------------------- public API


def load_instance(folder: str | os.PathLike[str]) -> Instance:
    """Load and fully validate an instance folder.

    Raises :class:`InstanceInputError` (an :class:`InputError`) listing every problem found in
    all three files, so a user fixes everything in one go rather than one error per run. The
    files are held to the rules of ``rate-plans load``: a negative number or an overage unit
    of 0 MB is refused, not dropped; a file without rate plans or without devices is refused.
    """
    folder = Path(folder)
    log = _ProblemLog()
    frames = {
        name: _read_table(folder, name, log, required)
        for name, required in (
            (RATE_PLANS_FILE, RATE_PLAN_COLUMNS),
            (COMM_PLAN_RATE_PLANS_FILE, COMM_PLAN_COLUMNS),
            (DEVICES_FILE, DEVICE_COLUMNS),
        )
    }
    rate_plans = _refuse_no_rows(frames[RATE_PLANS_FILE], RATE_PLANS_FILE, "rate plans", log)
    devices = _refuse_no_rows(frames[DEVICES_FILE], DEVICES_FILE, "devices", log)
    instance = instance_from_frames(rate_plans, frames[COMM_PLAN_RATE_PLANS_FILE], devices, log)
    del frames, rate_plans, devices
    release_freed_memory()  # the reader's temporaries (57 MB at 1 M SIMs)
    return instance


def _refuse_no_rows(
    frame: pd.DataFrame | None, name: str, what: str, log: _ProblemLog
) -> pd.DataFrame | None:
    """``frame``, or None (with the problem logged) when it has a header but no data row.

    The file then counts as unreadable, so that the other files' rows naming its (absent) rate
    plans are not each reported as unknown.
    """
    if frame is None or not _blank_rows(frame).all():
        return frame
    required = RATE_PLAN_COLUMNS if name == RATE_PLANS_FILE else DEVICE_COLUMNS
    if _check_columns(frame, name, required, log):
        message = f"has no {what}, only a header row; an instance needs at least one"
        log.add(name, None, None, message, "no rows")
    return None


def instance_from_frames(
    rate_plans: pd.DataFrame | None,
    comm_plan_rate_plans: pd.DataFrame | None,
    devices: pd.DataFrame | None,
    log: _ProblemLog | None = None,
) -> Instance:
    """Validate tables shaped like the three CSV files (rows in file order) into an Instance.

    Lets callers that already hold the data (database, tests) reuse exactly the file rules;
    row numbers in messages are reported as if the frames had been read from CSV files. Plans
    with a negative number or an overage unit of 0 MB are dropped (and listed in
    :attr:`Instance.dropped_plans`), as :func:`load_instance` does.
    """
    log = log or _ProblemLog()
    plans = pairs = device_data = None
    if rate_plans is not None:
        plans = _parse_rate_plans(_as_text(rate_plans), log)
    if comm_plan_rate_plans is not None:
        pairs = _parse_comm_plans(_as_text(comm_plan_rate_plans), plans, log)
    if devices is not None:
        device_data = _parse_devices(_as_text(devices), log)
    if plans is None or pairs is None or device_data is None:
        log.raise_if_any()
        raise InputError("an instance needs rate plans, communication plans and devices")
    instance = _assemble(plans, pairs, device_data, log)
    log.raise_if_any()
    return instance


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with string cells and a fresh 0..n-1 index, as if read from CSV.

    Missing cells (None, NaN) become empty strings like empty CSV cells; pandas 3 keeps them
    missing through ``astype(str)``, hence the ``fillna``.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(column).strip() for column in frame.columns]
    if not len(frame.columns):
        return frame
    return frame.astype(str).fillna("").replace({"nan": "", "None": ""})


def write_assignment(
    path: str | os.PathLike[str],
    instance: Instance,
    assignment: np.ndarray,
    extra_columns: dict[str, np.ndarray] | None = None,
) -> None:
    """Write ``iccid, rate_plan_code`` (plus optional extra columns) atomically.

    The file is written next to its destination and moved into place with
    :func:`os.replace`, so readers see either the old file or the complete new one.
    """
    columns = {"iccid": instance.iccids, "rate_plan_code": instance.plan_codes[assignment]}
    columns.update(extra_columns or {})
    atomic_write_bytes(path, _csv_bytes(columns))


def _csv_bytes(columns: dict[str, np.ndarray]) -> bytes:
    """The columns as CSV (a header, ``\n`` line ends, quotes only where a value needs them).

    Arrow writes them when no value needs quoting, which is every real fleet: 0.17 s for 1 M
    rows where pandas' ``to_csv`` took 1.1-1.3 s. A value with a comma, a quote or a line
    break makes Arrow refuse (its unquoted style), and pandas writes the file instead; both
    give the same bytes (``core/test_instance.py``)."""
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    header = ",".join(columns) + "\n"
    try:
        body = io.BytesIO()
        table = pa.table(
            {name: pa.array(values, type=pa.string()) for name, values in columns.items()}
        )
        arrow_csv.write_csv(
            table,
            body,
            arrow_csv.WriteOptions(include_header=False, quoting_style="none"),
        )
        return header.encode("utf-8") + body.getvalue()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame = pd.DataFrame(columns)
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that nothing half-written is ever visible there."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that nothing half-written is ever visible there: into a
    file beside it, synced, then moved into place (:func:`os.replace`)."""
    path = Path(path)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def read_assignment(path: str | os.PathLike[str], instance: Instance) -> np.ndarray:
    """Read an assignment file back into plan indices, one per device of ``instance``.

    Every device must appear exactly once with an offered rate plan; all problems are
    reported together like the instance files.
    """
    path = Path(path)
    log = _ProblemLog()
    frame = _read_table(path.parent, path.name, log, ASSIGNMENT_COLUMNS)
    if frame is None or not _check_columns(frame, path.name, ASSIGNMENT_COLUMNS, log):
        log.raise_if_any()
    frame = frame[~_blank_rows(frame)]
    iccids, codes = frame["iccid"], frame["rate_plan_code"]
    lines = frame.index.to_numpy() + _FIRST_DATA_ROW
    device = pd.Index(instance.iccids).get_indexer(iccids)
    plan = pd.Index(instance.plan_codes).get_indexer(codes)
    seen = pd.Series(device).duplicated().to_numpy() & (device >= 0)
    for position in np.flatnonzero(device < 0):
        message = f"unknown iccid {iccids.iat[position]!r}"
        log.add(path.name, int(lines[position]), "iccid", message, "unknown iccid")
    for position in np.flatnonzero(seen):
        message = f"duplicate iccid {iccids.iat[position]!r}"
        log.add(path.name, int(lines[position]), "iccid", message, "duplicate")
    for position in np.flatnonzero(plan < 0):
        message = f"unknown or not offered rate plan {codes.iat[position]!r}"
        log.add(path.name, int(lines[position]), "rate_plan_code", message, "unknown plan")
    assignment = np.full(instance.n_devices, -1, dtype=np.int64)
    ok = (device >= 0) & (plan >= 0)
    assignment[device[ok]] = plan[ok]
    known = np.zeros(instance.n_devices, dtype=bool)
    known[device[device >= 0]] = True
    for index in np.flatnonzero(~known):
        message = f"device {instance.iccids[index]!r} has no row"
        log.add(path.name, None, "iccid", message, "missing device")
    log.raise_if_any()
    return assignment
