"""Customer optimization in the database: the agent's customer plans and SIMs as optimizer
input, customers and their processing rows, and the shared-pool results.

The customer of a SIM is the carrier's ``customer`` field (synced into ``Device.customer``);
its current customer plan is ``Device.customer_rate_plan_id`` (loaded with
``carrier-opt customer-plans assign``). Usage is the period's, as for M2M; SIMs are never
prorated (the legacy customer runs did not).

``customer`` comes only with Get Device Details, which a budgeted first sync leaves to later
syncs for most SIMs (:mod:`carrier_opt.core.details`). A SIM whose customer is not read yet is
nobody's: it is in no customer's instance as its own, those on a pooled customer plan count,
locked, in their pool, and the run names them (:attr:`CustomerInput.customer_not_read`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from carrier_opt.core.customer import CustomerTables, customer_tables, unassigned_sims
from carrier_opt.core.details import named_sims
from carrier_opt.core.instance import Instance
from carrier_opt.db.export import InstanceTables, instance_tables, write_instance_folder
from carrier_opt.db.loads.customer_plans import rev_customer_ids
from carrier_opt.db.loads.rate_plans import RATE_PLAN_COLUMNS
from carrier_opt.db.models import (
    CustomerRatePool,
    Device,
    JasperCustomerRatePlan,
    OptimizationCustomerProcessing,
    RevCustomer,
    RunStatus,
)
from carrier_opt.db.optimization_runs import ids_by_name
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError

PLAN_COLUMNS = (
    *RATE_PLAN_COLUMNS,
    "charge_type",
    "customer_rate_pool",
    "pool_customer",
    "auto_change",
    "plan_family",
)


_UNASSIGNED = ["customer", "iccid", "msisdn", "usage_mb", "ctd_usage_mb", "usage_date", "sms_count"]


@dataclass(frozen=True)
class CustomerInput:
    """Every customer's instance tables for the period, and the SIMs left out."""

    customers: list[CustomerTables]
    without_carrier_plan: int
    """Customer SIMs on no priced carrier plan (their result rows need one): left out."""
    on_inactive_plan: int = 0
    """Customer SIMs on a customer plan no longer active (no price to compare): left out."""
    unassigned: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=list(_UNASSIGNED))
    )
    """Customer SIMs on no customer plan (``customer``, ``iccid``, ``msisdn``, ``usage_mb``
    (projected), ``ctd_usage_mb`` and its ``usage_date``, ``sms_count``): not optimized,
    reported at $0 in their customer's report as the legacy customer runs did."""
    customer_not_read: tuple[str, ...] = ()
    """The period's SIMs whose customer is not read yet (their details are still to come),
    sorted: no customer's own SIMs; see :attr:`customer_not_read_in_pools`."""
    customer_not_read_in_pools: int = 0
    """Of those, the SIMs on a pooled customer plan: they count, locked, in their pool."""

    def customer_not_read_line(self) -> str:
        """One line for the run's log: which SIMs' customer is not read yet, and where they
        went (``""`` when there are none)."""
        if not self.customer_not_read:
            return ""
        return (
            f"the customer of {named_sims(self.customer_not_read)} is not read yet (their "
            "carrier details come with later syncs): they are no customer's own SIMs in this "
            f"run; {self.customer_not_read_in_pools:,} of them, on a pooled customer plan, "
            "count locked in their pool"
        )

    def unassigned_of(self, name: str) -> pd.DataFrame:
        """Customer ``name``'s SIMs on no customer plan."""
        return self.unassigned[self.unassigned["customer"] == name].reset_index(drop=True)

    def customer(self, name: str) -> CustomerTables:
        """The instance of customer ``name``; :class:`InputError` listing them otherwise."""
        for tables in self.customers:
            if tables.customer == name:
                return tables
        known = ", ".join(t.customer for t in self.customers)
        raise InputError(f"no customer {name!r} with SIMs on customer plans; they are: {known}")


def period_customers(engine: Engine, provider_name: str, period_key: str) -> CustomerInput:
    """Every customer's instance of the provider's period (what a customer run optimizes)."""
    tables = instance_tables(engine, provider_name, period_key)
    with engine.connect() as connection:
        provider_id = load_provider(connection, provider_name).id
        return customer_input(connection, provider_id, provider_name, tables)


def customer_input(
    connection: Connection, provider_id: int, provider_name: str, tables: InstanceTables
) -> CustomerInput:
    """The period's customer instances (see :func:`carrier_opt.core.customer.customer_tables`).

    Raises :class:`InputError` when the provider has no customer plans or no SIM on one.
    """
    plans = customer_plans(connection, provider_id)
    if plans.empty:
        raise InputError(
            f"{provider_name} has no customer rate plans: load them with "
            f"carrier-opt customer-plans load {provider_name} customer_rate_plans.csv"
        )
    sims = pd.DataFrame(
        connection.execute(
            select(
                Device.iccid,
                Device.customer,
                JasperCustomerRatePlan.rate_plan_code,
                Device.carrier_rate_plan_id,
                Device.details_at.is_(None),
            )
            .outerjoin(
                JasperCustomerRatePlan, JasperCustomerRatePlan.id == Device.customer_rate_plan_id
            )
            .where(
                Device.service_provider_id == provider_id,
                Device.customer.is_not(None)
                | Device.customer_rate_plan_id.is_not(None)
                | Device.details_at.is_(None),
            )
        ).all(),
        columns=[
            "iccid",
            "customer",
            "customer_rate_plan_code",
            "carrier_rate_plan_id",
            "details_pending",
        ],
    )
    devices = tables.devices.merge(sims, on="iccid", how="inner")
    devices["proration"] = 1.0  # the legacy customer runs never prorated
    devices["not_read"] = devices["customer"].isna() & devices.pop("details_pending").astype(bool)
    unassigned = unassigned_sims(
        devices.drop(columns=["rate_plan_code"]).rename(
            columns={"customer_rate_plan_code": "rate_plan_code"}
        )
    )
    customer_not_read = tuple(sorted(devices.loc[devices["not_read"], "iccid"]))
    devices = devices[devices["customer_rate_plan_code"].notna()]
    missing = devices["carrier_rate_plan_id"].isna()
    retired = ~devices["customer_rate_plan_code"].isin(plans["rate_plan_code"])
    devices = devices[~missing & ~retired & (devices["customer"].notna() | devices["not_read"])]
    devices = devices.drop(columns=["carrier_rate_plan_id", "not_read"]).rename(
        columns={
            "rate_plan_code": "carrier_rate_plan_code",
            "customer_rate_plan_code": "rate_plan_code",
        }
    )
    found = customer_tables(plans, devices)
    if not found:
        raise InputError(
            f"{provider_name} has no billable SIM on a customer rate plan in "
            f"{tables.period.key}: assign them with carrier-opt customer-plans assign"
            + _not_read_hint(provider_name, customer_not_read)
        )
    return CustomerInput(
        found,
        int(missing.sum()),
        int((retired & ~missing).sum()),
        unassigned[_UNASSIGNED],
        customer_not_read,
        _locked_somewhere(found),
    )


def _not_read_hint(provider_name: str, iccids: tuple[str, ...]) -> str:
    """Why a run may find no customer SIM at all: their customers are not read yet."""
    if not iccids:
        return ""
    return (
        f"; the customer of {named_sims(iccids)} is not read yet (their carrier details come "
        f"with later syncs: carrier-opt sync {provider_name})"
    )


def _locked_somewhere(found: list[CustomerTables]) -> int:
    """SIMs whose customer is not read yet that count, locked, in some customer's pool."""
    unknown = (tables.devices.loc[tables.devices["customer"].isna(), "iccid"] for tables in found)
    return len(set().union(*unknown))


def customer_plans(connection: Connection, provider_id: int) -> pd.DataFrame:
    """The provider's active customer plans in the contract's rate-plan columns, plus the
    pool name and the customer owning the pool (None: shared by all customers)."""
    plan, pool = JasperCustomerRatePlan, CustomerRatePool
    rows = connection.execute(
        select(
            plan.rate_plan_code,
            plan.base_rate,
            plan.data_allowance_mb,
            plan.overage_rate,
            plan.data_per_overage_charge_mb,
            plan.sms_rate,
            plan.is_pooled,
            plan.charge_type,
            pool.name,
            RevCustomer.rev_customer_number,
            plan.auto_change_rate_plan,
            plan.plan_family,
        )
        .outerjoin(pool, pool.id == plan.customer_rate_pool_id)
        .outerjoin(RevCustomer, RevCustomer.id == pool.rev_customer_id)
        .where(plan.service_provider_id == provider_id, plan.is_active)
        .order_by(plan.rate_plan_code)
    ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(PLAN_COLUMNS))
    for column in RATE_PLAN_COLUMNS[1:-1]:
        frame[column] = frame[column].map(lambda value: format(Decimal(value), "f"))
    frame["pooled"] = frame["pooled"].map(lambda pooled: "true" if pooled else "false")
    # A pool only means something on a pooled plan.
    frame.loc[frame["pooled"] == "false", ["customer_rate_pool", "pool_customer"]] = None
    return frame.astype(
        {"customer_rate_pool": object, "pool_customer": object, "plan_family": object}
    )


def ensure_customers(engine: Engine, numbers: list[str], now: datetime) -> dict[str, int]:
    """``RevCustomer`` ids of the customers named by the carrier (created when new, without a
    tenant, as ``customer-plans load`` creates pool owners)."""
    with engine.begin() as connection:
        return rev_customer_ids(connection, numbers, now)[0]


def open_processing(
    engine: Engine, session_id: int, customer_ids: list[int], now: datetime
) -> None:
    """One pending ``OptimizationCustomerProcessing`` row per customer of the session."""
    with engine.begin() as connection:
        connection.execute(
            insert(OptimizationCustomerProcessing),
            [
                {
                    "optimization_session_id": session_id,
                    "rev_customer_id": customer_id,
                    "status": RunStatus.PENDING.value,
                    "created_at": now,
                }
                for customer_id in customer_ids
            ],
        )


def set_processing(
    engine: Engine,
    session_id: int,
    customer_id: int,
    status: RunStatus,
    *,
    now: datetime,
    instance_id: int | None = None,
    error: str | None = None,
) -> None:
    """Move a customer's processing row along (running → completed or failed)."""
    values: dict = {"status": status.value, "modified_at": now}
    if status is RunStatus.RUNNING:
        values |= {"started_at": now, "optimization_instance_id": instance_id}
    else:
        values |= {"completed_at": now, "error_message": error}
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationCustomerProcessing)
            .where(
                OptimizationCustomerProcessing.optimization_session_id == session_id,
                OptimizationCustomerProcessing.rev_customer_id == customer_id,
            )
            .values(**values)
        )


def customer_plan_ids(connection: Connection, provider_id: int) -> dict[str, int]:
    """Customer-plan code → id."""
    plan = JasperCustomerRatePlan
    return ids_by_name(connection, plan, plan.rate_plan_code, provider_id)


def device_carrier_plans(connection: Connection, provider_id: int) -> dict[str, int]:
    """ICCID → the SIM's carrier plan id (customer optimization never changes it)."""
    rows = connection.execute(
        select(Device.iccid, Device.carrier_rate_plan_id).where(
            Device.service_provider_id == provider_id, Device.carrier_rate_plan_id.is_not(None)
        )
    ).all()
    return {iccid: int(plan_id) for iccid, plan_id in rows}


def pool_ids(connection: Connection, provider_id: int) -> dict[str, int]:
    """Customer rate pool name → id."""
    return ids_by_name(connection, CustomerRatePool, CustomerRatePool.name, provider_id)


def write_shared_pool_results(
    engine: Engine,
    model,
    *,
    sim_column: str,
    instance_id: int,
    queue_id: int,
    instance: Instance,
    assignment: np.ndarray,
    rows: list[dict],
    pools: dict[str, int],
    pool_of_plan: dict[str, str],
    shares: np.ndarray,
) -> int:
    """Store the locked (not optimized) SIMs of the customer's shared pools in ``model``
    (``OptimizationSharedPoolResult`` for M2M fleets, ``OptimizationMobilitySharedPoolResult``
    for mobility ones), each with its even share of its pool's overage; replaces the
    instance's earlier rows. Answers the count.

    ``rows`` are the winner's per-SIM rows (same order as the instance's SIMs), their SIM id
    under ``sim_column``.
    """
    records = []
    for index in np.flatnonzero(instance.locked):
        row = rows[index]
        code = str(instance.plan_codes[assignment[index]])
        records.append(
            {
                "optimization_instance_id": instance_id,
                "optimization_queue_id": queue_id,
                sim_column: row[sim_column],
                "customer_rate_pool_id": pools[pool_of_plan[code]],
                "customer_rate_plan_id": row["assigned_customer_rate_plan_id"],
                "pool_overage_share_amount": Decimal(f"{shares[index]:.4f}"),
                **{k: row[k] for k in _CHARGES},
            }
        )
    with engine.begin() as connection:
        connection.execute(delete(model).where(model.optimization_instance_id == instance_id))
        if records:
            connection.execute(insert(model), records)
    return len(records)


_CHARGES = (
    "usage_mb",
    "sms_usage",
    "proration",
    "charge_amount",
    "base_rate_amount",
    "rate_charge_amount",
    "overage_charge_amount",
    "sms_charge_amount",
)


def export_customer_instance(
    engine: Engine, provider_name: str, period_key: str, customer: str, out_dir: Path
) -> CustomerTables:
    """Write one customer's instance of the period as an instance folder (its SIMs, and the
    other customers' shared-pool SIMs locked) — what the customer run solves, for
    ``carrier-opt optimize``."""
    tables = period_customers(engine, provider_name, period_key).customer(customer)
    write_instance_folder(out_dir, tables.rate_plans, tables.comm_plan_rate_plans, tables.devices)
    return tables
