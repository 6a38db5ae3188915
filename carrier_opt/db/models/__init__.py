"""SQLAlchemy models of the legacy carrier-optimization tables (legacy names kept).

Importing this package registers every table on :data:`Base.metadata`, which Alembic and the
DDL generator read.
"""

from carrier_opt.db.models.base import (
    ACTIVE_RUN_STATUSES,
    AccountType,
    Base,
    Capability,
    ChargeType,
    Fleet,
    OptimizationType,
    RunStatus,
    SecretSource,
)
from carrier_opt.db.models.customers import CustomerRatePool, OptimizationGroup, RevCustomer, Site
from carrier_opt.db.models.delivery import (
    ProviderNotificationRecipient,
    RatePlanPush,
    RatePlanPushLock,
    RatePlanPushMode,
    RatePlanPushStatus,
    RatePlanUpdate,
    RatePlanUpdateBatch,
    RatePlanUpdateStatus,
    RecipientKind,
)
from carrier_opt.db.models.devices import (
    Device,
    DeviceRatePlanHistory,
    DeviceUsagePeriod,
    JasperDeviceStaging,
    JasperUsageStaging,
    MobilityDevice,
)
from carrier_opt.db.models.plans import (
    JasperCarrierRatePlan,
    JasperCommunicationPlan,
    JasperCommunicationPlanRatePlan,
    JasperCustomerRatePlan,
)
from carrier_opt.db.models.providers import (
    BillingPeriod,
    IntegrationType,
    JasperAuthentication,
    ServiceProvider,
)
from carrier_opt.db.models.queues import (
    OptimizationCommGroup,
    OptimizationCommGroupCommPlan,
    OptimizationCommGroupRatePlan,
    OptimizationQueue,
    OptimizationQueueRatePlan,
)
from carrier_opt.db.models.results import (
    OptimizationDeviceResult,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSharedPoolResult,
)
from carrier_opt.db.models.sessions import (
    OptimizationCustomerProcessing,
    OptimizationInstance,
    OptimizationInstanceResultFile,
    OptimizationSession,
)
from carrier_opt.db.models.settlements import PeriodSettlement, PeriodSettlementPool
from carrier_opt.db.models.syncs import JasperSyncRun, SkippedCarrierRecord, SyncStatus

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "AccountType",
    "Base",
    "BillingPeriod",
    "Capability",
    "ChargeType",
    "CustomerRatePool",
    "Device",
    "DeviceRatePlanHistory",
    "DeviceUsagePeriod",
    "Fleet",
    "IntegrationType",
    "JasperAuthentication",
    "JasperCarrierRatePlan",
    "JasperCommunicationPlan",
    "JasperCommunicationPlanRatePlan",
    "JasperCustomerRatePlan",
    "JasperDeviceStaging",
    "JasperSyncRun",
    "JasperUsageStaging",
    "MobilityDevice",
    "OptimizationCommGroup",
    "OptimizationCommGroupCommPlan",
    "OptimizationCommGroupRatePlan",
    "OptimizationCustomerProcessing",
    "OptimizationDeviceResult",
    "OptimizationGroup",
    "OptimizationInstance",
    "OptimizationInstanceResultFile",
    "OptimizationMobilityDeviceResult",
    "OptimizationMobilitySharedPoolResult",
    "OptimizationQueue",
    "OptimizationQueueRatePlan",
    "OptimizationSession",
    "OptimizationSharedPoolResult",
    "OptimizationType",
    "PeriodSettlement",
    "PeriodSettlementPool",
    "ProviderNotificationRecipient",
    "RatePlanPush",
    "RatePlanPushLock",
    "RatePlanPushMode",
    "RatePlanPushStatus",
    "RatePlanUpdate",
    "RatePlanUpdateBatch",
    "RatePlanUpdateStatus",
    "RecipientKind",
    "RevCustomer",
    "RunStatus",
    "SecretSource",
    "ServiceProvider",
    "Site",
    "SkippedCarrierRecord",
    "SyncStatus",
]
