"""The one Dagster ``Definitions`` object of carrier_opt (``workspace.yaml`` points here)."""

import dagster as dg

from carrier_opt.defs.assets.approval import approval_assets
from carrier_opt.defs.assets.customer import customer_assets, customer_delivery_assets
from carrier_opt.defs.assets.insights import insight_assets
from carrier_opt.defs.assets.m2m import m2m_assets
from carrier_opt.defs.assets.mobility import mobility_assets, mobility_delivery_assets
from carrier_opt.defs.assets.push_checks import push_check_assets, push_check_sensor
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.assets.sync import sync_assets, sync_checks
from carrier_opt.defs.checks import customer_checks, mobility_checks, optimization_checks
from carrier_opt.defs.failure_mail import failure_sensors
from carrier_opt.defs.jobs import (
    check_rate_plan_pushes,
    check_sync_freshness,
    optimize_billing_period,
    optimize_customer_period,
    optimize_mobility_period,
    push_approved_changes,
    settle_closed_period,
    setup_database,
    sync_carrier_data,
    what_if_offer,
)
from carrier_opt.defs.resources import resources_for
from carrier_opt.defs.schedules import daily_sync_schedule, sync_freshness_schedule
from carrier_opt.defs.sensors import billing_window_sensor

defs = dg.Definitions(
    assets=[
        database_schema,
        *sync_assets,
        *m2m_assets,
        *mobility_assets,
        *mobility_delivery_assets,
        *customer_assets,
        *customer_delivery_assets,
        *approval_assets,
        *push_check_assets,
        *insight_assets,
    ],
    asset_checks=[*sync_checks, *optimization_checks, *mobility_checks, *customer_checks],
    jobs=[
        setup_database,
        optimize_billing_period,
        optimize_mobility_period,
        optimize_customer_period,
        push_approved_changes,
        check_rate_plan_pushes,
        sync_carrier_data,
        check_sync_freshness,
        what_if_offer,
        settle_closed_period,
    ],
    schedules=[daily_sync_schedule, sync_freshness_schedule],
    sensors=[billing_window_sensor, *failure_sensors, push_check_sensor],
    resources=resources_for(),
)
