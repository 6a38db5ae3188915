"""The models describe the legacy schema (plus our additions): every table, money and time
types, no secrets."""

from sqlalchemy import Numeric

from carrier_opt.db.models import Base
from carrier_opt.db.types import UtcDateTime

EXPECTED_TABLES = {
    "ServiceProvider",
    "IntegrationType",
    "JasperAuthentication",
    "BillingPeriod",
    "OptimizationSession",
    "OptimizationInstance",
    "OptimizationInstanceResultFile",
    "OptimizationQueue",
    "OptimizationQueue_RatePlan",
    "OptimizationCommGroup",
    "OptimizationCommGroup_CommPlan",
    "OptimizationCommGroup_RatePlan",
    "OptimizationDeviceResult",
    "OptimizationMobilityDeviceResult",
    "OptimizationSharedPoolResult",
    "OptimizationMobilitySharedPoolResult",
    "Device",
    "MobilityDevice",
    "JasperDeviceStaging",
    "JasperUsageStaging",
    "JasperCommunicationPlan",
    "JasperCarrierRatePlan",
    "JasperCustomerRatePlan",
    "OptimizationGroup",
    "CustomerRatePool",
    "RevCustomer",
    "Site",
    "OptimizationCustomerProcessing",
    # Added by carrier_opt (migration 0002), not in the legacy schema:
    "JasperCommunicationPlan_RatePlan",
    "DeviceRatePlanHistory",
    # Added by carrier_opt (migration 0003), not in the legacy schema:
    "ProviderNotificationRecipient",
    "RatePlanUpdate",
    "RatePlanUpdateBatch",
    # Added by carrier_opt (migration 0004), not in the legacy schema:
    "DeviceUsagePeriod",
    # Added by carrier_opt (migration 0006), not in the legacy schema:
    "RatePlanPush",
    "RatePlanPushLock",
    # Added by carrier_opt (migration 0007), not in the legacy schema:
    "JasperSyncRun",
    "SkippedCarrierRecord",
    # Added by carrier_opt (migration 0015): settlements of closed periods (issue 31).
    "PeriodSettlement",
    "PeriodSettlementPool",
}

MONEY_COLUMNS = {
    ("JasperCarrierRatePlan", "base_rate"),
    ("JasperCarrierRatePlan", "overage_rate"),
    ("JasperCustomerRatePlan", "sms_rate"),
    ("OptimizationDeviceResult", "charge_amount"),
    ("OptimizationDeviceResult", "overage_charge_amount"),
    ("OptimizationInstance", "cost_after"),
    ("OptimizationQueue", "total_cost"),
    ("OptimizationSharedPoolResult", "pool_overage_share_amount"),
    ("Device", "sms_charge_amount"),
}


def test_every_table_is_modelled_under_its_legacy_name_plus_our_additions():
    assert set(Base.metadata.tables) == EXPECTED_TABLES


def test_money_is_numeric_18_4():
    for table, column in MONEY_COLUMNS:
        column_type = Base.metadata.tables[table].c[column].type
        assert isinstance(column_type, Numeric), (table, column)
        assert (column_type.precision, column_type.scale) == (18, 4), (table, column)


def test_every_timestamp_is_timezone_aware():
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if column.name.endswith(("_at", "_date")) or column.name.startswith("date_"):
                if column.name == "cycle_start_date":  # a calendar date, not an instant
                    continue
                assert isinstance(column.type, UtcDateTime), f"{table.name}.{column.name}"
                assert column.type.impl.timezone, f"{table.name}.{column.name}"


def test_jasper_authentication_stores_a_reference_not_a_secret():
    columns = set(Base.metadata.tables["JasperAuthentication"].c.keys())
    assert {"secret_source", "secret_ref"} <= columns
    leaking = {c for c in columns if any(w in c for w in ("password", "api_key", "token"))}
    assert not leaking


def test_every_table_has_a_primary_key_and_foreign_keys_are_indexed_or_unique_led():
    for table in Base.metadata.tables.values():
        assert table.primary_key.columns, table.name
        led = {next(iter(i.columns)).name for i in table.indexes}
        led |= {next(iter(c.columns)).name for c in table.constraints if c.columns}
        for fk in table.foreign_keys:
            assert fk.parent.name in led, f"{table.name}.{fk.parent.name} has no index"
