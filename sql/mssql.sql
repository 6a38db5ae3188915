BEGIN TRANSACTION;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

GO

-- Running upgrade  -> 0001

CREATE TABLE [IntegrationType] (
    id INTEGER NOT NULL IDENTITY, 
    name VARCHAR(50) NOT NULL, 
    description VARCHAR(255) NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_IntegrationType] PRIMARY KEY (id), 
    CONSTRAINT [uq_IntegrationType_name] UNIQUE (name)
);

GO

CREATE TABLE [RevCustomer] (
    id INTEGER NOT NULL IDENTITY, 
    tenant_id INTEGER NULL, 
    rev_customer_number VARCHAR(50) NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_RevCustomer] PRIMARY KEY (id), 
    CONSTRAINT [uq_RevCustomer_tenant_id_rev_customer_number] UNIQUE (tenant_id, rev_customer_number)
);

GO

CREATE TABLE [ServiceProvider] (
    id INTEGER NOT NULL IDENTITY, 
    name VARCHAR(100) NOT NULL, 
    display_name VARCHAR(255) NULL, 
    integration_type_id INTEGER NOT NULL, 
    tenant_id INTEGER NULL, 
    is_active BIT NOT NULL, 
    time_zone VARCHAR(64) NOT NULL, 
    billing_cycle_end_day INTEGER NOT NULL, 
    billing_cycle_end_hour INTEGER NOT NULL, 
    optimization_start_hour_local INTEGER NULL, 
    allow_automatic_rate_plan_updates BIT NOT NULL, 
    max_rate_plans_per_group INTEGER NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_ServiceProvider] PRIMARY KEY (id), 
    CONSTRAINT [ck_ServiceProvider_billing_cycle_end_day_range] CHECK (billing_cycle_end_day BETWEEN 1 AND 31), 
    CONSTRAINT [ck_ServiceProvider_billing_cycle_end_hour_range] CHECK (billing_cycle_end_hour BETWEEN 0 AND 23), 
    CONSTRAINT [ck_ServiceProvider_optimization_start_hour_range] CHECK (optimization_start_hour_local IS NULL OR optimization_start_hour_local BETWEEN 0 AND 23), 
    CONSTRAINT [fk_ServiceProvider_integration_type_id] FOREIGN KEY(integration_type_id) REFERENCES [IntegrationType] (id), 
    CONSTRAINT [uq_ServiceProvider_name] UNIQUE (name)
);

GO

CREATE INDEX [ix_ServiceProvider_integration_type_id] ON [ServiceProvider] (integration_type_id);

GO

CREATE TABLE [Site] (
    id INTEGER NOT NULL IDENTITY, 
    tenant_id INTEGER NULL, 
    name VARCHAR(255) NOT NULL, 
    rev_customer_id INTEGER NULL, 
    notification_emails VARCHAR(1000) NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_Site] PRIMARY KEY (id), 
    CONSTRAINT [fk_Site_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id)
);

GO

CREATE INDEX [ix_Site_rev_customer_id] ON [Site] (rev_customer_id);

GO

CREATE TABLE [BillingPeriod] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    period_key VARCHAR(7) NOT NULL, 
    period_start DATETIMEOFFSET NOT NULL, 
    period_end DATETIMEOFFSET NOT NULL, 
    time_zone VARCHAR(64) NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_BillingPeriod] PRIMARY KEY (id), 
    CONSTRAINT [ck_BillingPeriod_period_end_after_start] CHECK (period_end > period_start), 
    CONSTRAINT [fk_BillingPeriod_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_BillingPeriod_service_provider_id_period_key] UNIQUE (service_provider_id, period_key)
);

GO

CREATE TABLE [CustomerRatePool] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    rev_customer_id INTEGER NULL, 
    name VARCHAR(255) NOT NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_CustomerRatePool] PRIMARY KEY (id), 
    CONSTRAINT [fk_CustomerRatePool_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id), 
    CONSTRAINT [fk_CustomerRatePool_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_CustomerRatePool_service_provider_id_name] UNIQUE (service_provider_id, name)
);

GO

CREATE INDEX [ix_CustomerRatePool_rev_customer_id] ON [CustomerRatePool] (rev_customer_id);

GO

CREATE TABLE [JasperAuthentication] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    base_url VARCHAR(500) NOT NULL, 
    username VARCHAR(255) NOT NULL, 
    secret_source VARCHAR(30) NOT NULL, 
    secret_ref VARCHAR(500) NOT NULL, 
    account_id VARCHAR(50) NULL, 
    max_pages_to_process INTEGER NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperAuthentication] PRIMARY KEY (id), 
    CONSTRAINT [ck_JasperAuthentication_secret_source_known] CHECK (secret_source IN ('env', 'aws_secretsmanager')), 
    CONSTRAINT [fk_JasperAuthentication_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_JasperAuthentication_service_provider_id] UNIQUE (service_provider_id)
);

GO

CREATE TABLE [JasperCarrierRatePlan] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    rate_plan_code VARCHAR(255) NOT NULL, 
    display_name VARCHAR(255) NULL, 
    base_rate NUMERIC(18, 4) NOT NULL, 
    data_allowance_mb NUMERIC(18, 6) NOT NULL, 
    overage_rate NUMERIC(18, 4) NOT NULL, 
    data_per_overage_charge_mb NUMERIC(18, 6) NOT NULL, 
    sms_rate NUMERIC(18, 4) NOT NULL, 
    is_pooled BIT NOT NULL, 
    charge_type VARCHAR(20) NOT NULL, 
    rate_plan_type VARCHAR(100) NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperCarrierRatePlan] PRIMARY KEY (id), 
    CONSTRAINT [ck_JasperCarrierRatePlan_charge_type_known] CHECK (charge_type IN ('rate_and_overage', 'overage_only', 'rate_only')), 
    CONSTRAINT [ck_JasperCarrierRatePlan_prices_not_negative] CHECK (base_rate >= 0 AND overage_rate >= 0 AND sms_rate >= 0), 
    CONSTRAINT [ck_JasperCarrierRatePlan_allowance_not_negative] CHECK (data_allowance_mb >= 0), 
    CONSTRAINT [ck_JasperCarrierRatePlan_overage_unit_positive] CHECK (data_per_overage_charge_mb > 0), 
    CONSTRAINT [fk_JasperCarrierRatePlan_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_JasperCarrierRatePlan_service_provider_id_rate_plan_code] UNIQUE (service_provider_id, rate_plan_code)
);

GO

CREATE TABLE [JasperCommunicationPlan] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    alias VARCHAR(255) NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperCommunicationPlan] PRIMARY KEY (id), 
    CONSTRAINT [fk_JasperCommunicationPlan_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_JasperCommunicationPlan_service_provider_id_name] UNIQUE (service_provider_id, name)
);

GO

CREATE TABLE [JasperDeviceStaging] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    page_number INTEGER NULL, 
    staged_at DATETIMEOFFSET NOT NULL, 
    iccid VARCHAR(22) NOT NULL, 
    imsi VARCHAR(20) NULL, 
    msisdn VARCHAR(20) NULL, 
    imei VARCHAR(20) NULL, 
    status VARCHAR(30) NULL, 
    communication_plan VARCHAR(255) NULL, 
    carrier_rate_plan_code VARCHAR(255) NULL, 
    account_id VARCHAR(50) NULL, 
    customer VARCHAR(255) NULL, 
    date_activated DATETIMEOFFSET NULL, 
    date_added DATETIMEOFFSET NULL, 
    date_updated DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperDeviceStaging] PRIMARY KEY (id), 
    CONSTRAINT [fk_JasperDeviceStaging_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id)
);

GO

CREATE INDEX [ix_JasperDeviceStaging_service_provider_id_iccid] ON [JasperDeviceStaging] (service_provider_id, iccid);

GO

CREATE TABLE [JasperUsageStaging] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    iccid VARCHAR(22) NOT NULL, 
    rate_plan_code VARCHAR(255) NULL, 
    cycle_start_date DATETIME NULL, 
    data_usage_bytes BIGINT NOT NULL, 
    sms_usage INTEGER NOT NULL, 
    voice_usage_seconds INTEGER NOT NULL, 
    source VARCHAR(10) NOT NULL, 
    usage_date DATETIMEOFFSET NULL, 
    staged_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_JasperUsageStaging] PRIMARY KEY (id), 
    CONSTRAINT [ck_JasperUsageStaging_source_known] CHECK (source IN ('bulk', 'ctd')), 
    CONSTRAINT [fk_JasperUsageStaging_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id)
);

GO

CREATE INDEX [ix_JasperUsageStaging_service_provider_id_iccid] ON [JasperUsageStaging] (service_provider_id, iccid);

GO

CREATE TABLE [OptimizationGroup] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    rate_plan_types VARCHAR(1000) NULL, 
    max_rate_plans INTEGER NOT NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationGroup] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationGroup_max_rate_plans_positive] CHECK (max_rate_plans > 0), 
    CONSTRAINT [fk_OptimizationGroup_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_OptimizationGroup_service_provider_id_name] UNIQUE (service_provider_id, name)
);

GO

CREATE TABLE [JasperCustomerRatePlan] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    rate_plan_code VARCHAR(255) NOT NULL, 
    display_name VARCHAR(255) NULL, 
    customer_rate_pool_id INTEGER NULL, 
    base_rate NUMERIC(18, 4) NOT NULL, 
    data_allowance_mb NUMERIC(18, 6) NOT NULL, 
    overage_rate NUMERIC(18, 4) NOT NULL, 
    data_per_overage_charge_mb NUMERIC(18, 6) NOT NULL, 
    sms_rate NUMERIC(18, 4) NOT NULL, 
    is_pooled BIT NOT NULL, 
    charge_type VARCHAR(20) NOT NULL, 
    rate_plan_type VARCHAR(100) NULL, 
    is_active BIT NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperCustomerRatePlan] PRIMARY KEY (id), 
    CONSTRAINT [ck_JasperCustomerRatePlan_charge_type_known] CHECK (charge_type IN ('rate_and_overage', 'overage_only', 'rate_only')), 
    CONSTRAINT [ck_JasperCustomerRatePlan_prices_not_negative] CHECK (base_rate >= 0 AND overage_rate >= 0 AND sms_rate >= 0), 
    CONSTRAINT [ck_JasperCustomerRatePlan_allowance_not_negative] CHECK (data_allowance_mb >= 0), 
    CONSTRAINT [ck_JasperCustomerRatePlan_overage_unit_positive] CHECK (data_per_overage_charge_mb > 0), 
    CONSTRAINT [fk_JasperCustomerRatePlan_customer_rate_pool_id] FOREIGN KEY(customer_rate_pool_id) REFERENCES [CustomerRatePool] (id), 
    CONSTRAINT [fk_JasperCustomerRatePlan_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_JasperCustomerRatePlan_service_provider_id_rate_plan_code] UNIQUE (service_provider_id, rate_plan_code)
);

GO

CREATE INDEX [ix_JasperCustomerRatePlan_customer_rate_pool_id] ON [JasperCustomerRatePlan] (customer_rate_pool_id);

GO

CREATE TABLE [MobilityDevice] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    billing_period_id INTEGER NULL, 
    optimization_group_id INTEGER NULL, 
    carrier_rate_plan_id INTEGER NULL, 
    rate_plan_type VARCHAR(100) NULL, 
    rev_customer_id INTEGER NULL, 
    site_id INTEGER NULL, 
    is_active BIT NOT NULL, 
    last_synced_at DATETIMEOFFSET NULL, 
    iccid VARCHAR(22) NOT NULL, 
    imsi VARCHAR(20) NULL, 
    msisdn VARCHAR(20) NULL, 
    imei VARCHAR(20) NULL, 
    status VARCHAR(30) NULL, 
    communication_plan VARCHAR(255) NULL, 
    carrier_rate_plan_code VARCHAR(255) NULL, 
    account_id VARCHAR(50) NULL, 
    customer VARCHAR(255) NULL, 
    date_activated DATETIMEOFFSET NULL, 
    date_added DATETIMEOFFSET NULL, 
    date_updated DATETIMEOFFSET NULL, 
    ctd_data_usage_bytes BIGINT NULL, 
    usage_mb FLOAT NULL, 
    projected_usage_mb FLOAT NULL, 
    ctd_sms_usage INTEGER NULL, 
    ctd_voice_usage_seconds INTEGER NULL, 
    sms_charge_amount NUMERIC(18, 4) NULL, 
    usage_date DATETIMEOFFSET NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_MobilityDevice] PRIMARY KEY (id), 
    CONSTRAINT [ck_MobilityDevice_usage_not_negative] CHECK ((ctd_data_usage_bytes IS NULL OR ctd_data_usage_bytes >= 0) AND (ctd_sms_usage IS NULL OR ctd_sms_usage >= 0)), 
    CONSTRAINT [fk_MobilityDevice_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_MobilityDevice_carrier_rate_plan_id] FOREIGN KEY(carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_MobilityDevice_optimization_group_id] FOREIGN KEY(optimization_group_id) REFERENCES [OptimizationGroup] (id), 
    CONSTRAINT [fk_MobilityDevice_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id), 
    CONSTRAINT [fk_MobilityDevice_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [fk_MobilityDevice_site_id] FOREIGN KEY(site_id) REFERENCES [Site] (id), 
    CONSTRAINT [uq_MobilityDevice_service_provider_id_iccid] UNIQUE (service_provider_id, iccid)
);

GO

CREATE INDEX [ix_MobilityDevice_billing_period_id] ON [MobilityDevice] (billing_period_id);

GO

CREATE INDEX [ix_MobilityDevice_carrier_rate_plan_id] ON [MobilityDevice] (carrier_rate_plan_id);

GO

CREATE INDEX [ix_MobilityDevice_optimization_group_id] ON [MobilityDevice] (optimization_group_id);

GO

CREATE INDEX [ix_MobilityDevice_rev_customer_id] ON [MobilityDevice] (rev_customer_id);

GO

CREATE INDEX [ix_MobilityDevice_service_provider_id_status] ON [MobilityDevice] (service_provider_id, status);

GO

CREATE INDEX [ix_MobilityDevice_site_id] ON [MobilityDevice] (site_id);

GO

CREATE TABLE [OptimizationSession] (
    id INTEGER NOT NULL IDENTITY, 
    session_guid VARCHAR(36) NOT NULL, 
    service_provider_id INTEGER NOT NULL, 
    billing_period_id INTEGER NOT NULL, 
    tenant_id INTEGER NULL, 
    optimization_type VARCHAR(20) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    progress_percent INTEGER NOT NULL, 
    dagster_run_id VARCHAR(64) NULL, 
    started_at DATETIMEOFFSET NULL, 
    completed_at DATETIMEOFFSET NULL, 
    error_message TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationSession] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationSession_optimization_type_known] CHECK (optimization_type IN ('m2m', 'mobility', 'customer')), 
    CONSTRAINT [ck_OptimizationSession_status_known] CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')), 
    CONSTRAINT [ck_OptimizationSession_progress_percent_range] CHECK (progress_percent BETWEEN 0 AND 100), 
    CONSTRAINT [fk_OptimizationSession_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_OptimizationSession_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_OptimizationSession_session_guid] UNIQUE (session_guid)
);

GO

CREATE INDEX [ix_OptimizationSession_billing_period_id] ON [OptimizationSession] (billing_period_id);

GO

CREATE INDEX [ix_OptimizationSession_service_provider_id_status] ON [OptimizationSession] (service_provider_id, status);

GO

CREATE TABLE [Device] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    billing_period_id INTEGER NULL, 
    carrier_rate_plan_id INTEGER NULL, 
    customer_rate_plan_id INTEGER NULL, 
    customer_rate_pool_id INTEGER NULL, 
    rev_customer_id INTEGER NULL, 
    site_id INTEGER NULL, 
    is_active BIT NOT NULL, 
    last_synced_at DATETIMEOFFSET NULL, 
    iccid VARCHAR(22) NOT NULL, 
    imsi VARCHAR(20) NULL, 
    msisdn VARCHAR(20) NULL, 
    imei VARCHAR(20) NULL, 
    status VARCHAR(30) NULL, 
    communication_plan VARCHAR(255) NULL, 
    carrier_rate_plan_code VARCHAR(255) NULL, 
    account_id VARCHAR(50) NULL, 
    customer VARCHAR(255) NULL, 
    date_activated DATETIMEOFFSET NULL, 
    date_added DATETIMEOFFSET NULL, 
    date_updated DATETIMEOFFSET NULL, 
    ctd_data_usage_bytes BIGINT NULL, 
    usage_mb FLOAT NULL, 
    projected_usage_mb FLOAT NULL, 
    ctd_sms_usage INTEGER NULL, 
    ctd_voice_usage_seconds INTEGER NULL, 
    sms_charge_amount NUMERIC(18, 4) NULL, 
    usage_date DATETIMEOFFSET NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_Device] PRIMARY KEY (id), 
    CONSTRAINT [ck_Device_usage_not_negative] CHECK ((ctd_data_usage_bytes IS NULL OR ctd_data_usage_bytes >= 0) AND (ctd_sms_usage IS NULL OR ctd_sms_usage >= 0)), 
    CONSTRAINT [fk_Device_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_Device_carrier_rate_plan_id] FOREIGN KEY(carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_Device_customer_rate_plan_id] FOREIGN KEY(customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id), 
    CONSTRAINT [fk_Device_customer_rate_pool_id] FOREIGN KEY(customer_rate_pool_id) REFERENCES [CustomerRatePool] (id), 
    CONSTRAINT [fk_Device_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id), 
    CONSTRAINT [fk_Device_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [fk_Device_site_id] FOREIGN KEY(site_id) REFERENCES [Site] (id), 
    CONSTRAINT [uq_Device_service_provider_id_iccid] UNIQUE (service_provider_id, iccid)
);

GO

CREATE INDEX [ix_Device_billing_period_id] ON [Device] (billing_period_id);

GO

CREATE INDEX [ix_Device_carrier_rate_plan_id] ON [Device] (carrier_rate_plan_id);

GO

CREATE INDEX [ix_Device_customer_rate_plan_id] ON [Device] (customer_rate_plan_id);

GO

CREATE INDEX [ix_Device_customer_rate_pool_id] ON [Device] (customer_rate_pool_id);

GO

CREATE INDEX [ix_Device_rev_customer_id] ON [Device] (rev_customer_id);

GO

CREATE INDEX [ix_Device_service_provider_id_communication_plan] ON [Device] (service_provider_id, communication_plan);

GO

CREATE INDEX [ix_Device_service_provider_id_date_updated] ON [Device] (service_provider_id, date_updated);

GO

CREATE INDEX [ix_Device_service_provider_id_status] ON [Device] (service_provider_id, status);

GO

CREATE INDEX [ix_Device_site_id] ON [Device] (site_id);

GO

CREATE TABLE [OptimizationInstance] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_session_id INTEGER NOT NULL, 
    service_provider_id INTEGER NOT NULL, 
    billing_period_id INTEGER NOT NULL, 
    rev_customer_id INTEGER NULL, 
    status VARCHAR(20) NOT NULL, 
    run_started_at DATETIMEOFFSET NULL, 
    run_completed_at DATETIMEOFFSET NULL, 
    device_count INTEGER NULL, 
    cost_before NUMERIC(18, 4) NULL, 
    cost_after NUMERIC(18, 4) NULL, 
    legacy_cost NUMERIC(18, 4) NULL, 
    lower_bound NUMERIC(18, 4) NULL, 
    error_message TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationInstance] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationInstance_status_known] CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')), 
    CONSTRAINT [fk_OptimizationInstance_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_OptimizationInstance_optimization_session_id] FOREIGN KEY(optimization_session_id) REFERENCES [OptimizationSession] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_OptimizationInstance_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id), 
    CONSTRAINT [fk_OptimizationInstance_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id)
);

GO

CREATE INDEX [ix_OptimizationInstance_billing_period_id] ON [OptimizationInstance] (billing_period_id);

GO

CREATE INDEX [ix_OptimizationInstance_optimization_session_id] ON [OptimizationInstance] (optimization_session_id);

GO

CREATE INDEX [ix_OptimizationInstance_rev_customer_id] ON [OptimizationInstance] (rev_customer_id);

GO

CREATE INDEX [ix_OptimizationInstance_service_provider_id_status] ON [OptimizationInstance] (service_provider_id, status);

GO

CREATE TABLE [OptimizationCommGroup] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_instance_id INTEGER NOT NULL, 
    name VARCHAR(255) NOT NULL, 
    device_count INTEGER NULL, 
    skipped_reason TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationCommGroup] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationCommGroup_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_OptimizationCommGroup_optimization_instance_id_name] UNIQUE (optimization_instance_id, name)
);

GO

CREATE TABLE [OptimizationCustomerProcessing] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_session_id INTEGER NOT NULL, 
    rev_customer_id INTEGER NOT NULL, 
    optimization_instance_id INTEGER NULL, 
    status VARCHAR(20) NOT NULL, 
    started_at DATETIMEOFFSET NULL, 
    completed_at DATETIMEOFFSET NULL, 
    error_message TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationCustomerProcessing] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationCustomerProcessing_status_known] CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')), 
    CONSTRAINT [fk_OptimizationCustomerProcessing_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id), 
    CONSTRAINT [fk_OptimizationCustomerProcessing_optimization_session_id] FOREIGN KEY(optimization_session_id) REFERENCES [OptimizationSession] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_OptimizationCustomerProcessing_rev_customer_id] FOREIGN KEY(rev_customer_id) REFERENCES [RevCustomer] (id), 
    CONSTRAINT [uq_OptimizationCustomerProcessing_optimization_session_id_rev_customer_id] UNIQUE (optimization_session_id, rev_customer_id)
);

GO

CREATE INDEX [ix_OptimizationCustomerProcessing_optimization_instance_id] ON [OptimizationCustomerProcessing] (optimization_instance_id);

GO

CREATE INDEX [ix_OptimizationCustomerProcessing_rev_customer_id] ON [OptimizationCustomerProcessing] (rev_customer_id);

GO

CREATE TABLE [OptimizationInstanceResultFile] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_instance_id INTEGER NOT NULL, 
    file_name VARCHAR(255) NOT NULL, 
    report_kind VARCHAR(50) NOT NULL, 
    content_type VARCHAR(100) NOT NULL, 
    content IMAGE NULL, 
    storage_uri VARCHAR(1000) NULL, 
    size_bytes BIGINT NULL, 
    sha256 VARCHAR(64) NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationInstanceResultFile] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationInstanceResultFile_content_or_storage_uri] CHECK (content IS NOT NULL OR storage_uri IS NOT NULL), 
    CONSTRAINT [fk_OptimizationInstanceResultFile_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_OptimizationInstanceResultFile_optimization_instance_id_file_name] UNIQUE (optimization_instance_id, file_name)
);

GO

CREATE TABLE [OptimizationCommGroup_CommPlan] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_comm_group_id INTEGER NOT NULL, 
    communication_plan_id INTEGER NOT NULL, 
    CONSTRAINT [pk_OptimizationCommGroup_CommPlan] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationCommGroup_CommPlan_communication_plan_id] FOREIGN KEY(communication_plan_id) REFERENCES [JasperCommunicationPlan] (id), 
    CONSTRAINT [fk_OptimizationCommGroup_CommPlan_optimization_comm_group_id] FOREIGN KEY(optimization_comm_group_id) REFERENCES [OptimizationCommGroup] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_OptimizationCommGroup_CommPlan_optimization_comm_group_id_communication_plan_id] UNIQUE (optimization_comm_group_id, communication_plan_id)
);

GO

CREATE INDEX [ix_OptimizationCommGroup_CommPlan_communication_plan_id] ON [OptimizationCommGroup_CommPlan] (communication_plan_id);

GO

CREATE TABLE [OptimizationCommGroup_RatePlan] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_comm_group_id INTEGER NOT NULL, 
    carrier_rate_plan_id INTEGER NOT NULL, 
    CONSTRAINT [pk_OptimizationCommGroup_RatePlan] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationCommGroup_RatePlan_carrier_rate_plan_id] FOREIGN KEY(carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationCommGroup_RatePlan_optimization_comm_group_id] FOREIGN KEY(optimization_comm_group_id) REFERENCES [OptimizationCommGroup] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_OptimizationCommGroup_RatePlan_optimization_comm_group_id_carrier_rate_plan_id] UNIQUE (optimization_comm_group_id, carrier_rate_plan_id)
);

GO

CREATE INDEX [ix_OptimizationCommGroup_RatePlan_carrier_rate_plan_id] ON [OptimizationCommGroup_RatePlan] (carrier_rate_plan_id);

GO

CREATE TABLE [OptimizationQueue] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_instance_id INTEGER NOT NULL, 
    optimization_comm_group_id INTEGER NULL, 
    strategy VARCHAR(100) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    total_cost NUMERIC(18, 4) NULL, 
    is_winner BIT NOT NULL, 
    run_started_at DATETIMEOFFSET NULL, 
    run_completed_at DATETIMEOFFSET NULL, 
    error_message TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_OptimizationQueue] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationQueue_status_known] CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')), 
    CONSTRAINT [fk_OptimizationQueue_optimization_comm_group_id] FOREIGN KEY(optimization_comm_group_id) REFERENCES [OptimizationCommGroup] (id), 
    CONSTRAINT [fk_OptimizationQueue_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE
);

GO

CREATE INDEX [ix_OptimizationQueue_instance_group_status] ON [OptimizationQueue] (optimization_instance_id, optimization_comm_group_id, status);

GO

CREATE INDEX [ix_OptimizationQueue_optimization_comm_group_id] ON [OptimizationQueue] (optimization_comm_group_id);

GO

CREATE TABLE [OptimizationDeviceResult] (
    id BIGINT NOT NULL IDENTITY, 
    optimization_queue_id INTEGER NOT NULL, 
    device_id BIGINT NOT NULL, 
    current_carrier_rate_plan_id INTEGER NULL, 
    assigned_carrier_rate_plan_id INTEGER NOT NULL, 
    usage_mb FLOAT NOT NULL, 
    sms_usage INTEGER NOT NULL, 
    proration FLOAT NOT NULL, 
    charge_amount NUMERIC(18, 4) NOT NULL, 
    base_rate_amount NUMERIC(18, 4) NOT NULL, 
    rate_charge_amount NUMERIC(18, 4) NOT NULL, 
    overage_charge_amount NUMERIC(18, 4) NOT NULL, 
    sms_charge_amount NUMERIC(18, 4) NOT NULL, 
    CONSTRAINT [pk_OptimizationDeviceResult] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationDeviceResult_assigned_carrier_rate_plan_id] FOREIGN KEY(assigned_carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationDeviceResult_current_carrier_rate_plan_id] FOREIGN KEY(current_carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationDeviceResult_device_id] FOREIGN KEY(device_id) REFERENCES [Device] (id), 
    CONSTRAINT [fk_OptimizationDeviceResult_optimization_queue_id] FOREIGN KEY(optimization_queue_id) REFERENCES [OptimizationQueue] (id) ON DELETE CASCADE
);

GO

CREATE INDEX [ix_OptimizationDeviceResult_assigned_carrier_rate_plan_id] ON [OptimizationDeviceResult] (assigned_carrier_rate_plan_id);

GO

CREATE INDEX [ix_OptimizationDeviceResult_device_id] ON [OptimizationDeviceResult] (device_id);

GO

CREATE INDEX [ix_OptimizationDeviceResult_optimization_queue_id] ON [OptimizationDeviceResult] (optimization_queue_id);

GO

CREATE TABLE [OptimizationMobilityDeviceResult] (
    id BIGINT NOT NULL IDENTITY, 
    optimization_queue_id INTEGER NOT NULL, 
    mobility_device_id BIGINT NOT NULL, 
    optimization_group_id INTEGER NULL, 
    current_carrier_rate_plan_id INTEGER NULL, 
    assigned_carrier_rate_plan_id INTEGER NOT NULL, 
    usage_mb FLOAT NOT NULL, 
    sms_usage INTEGER NOT NULL, 
    proration FLOAT NOT NULL, 
    charge_amount NUMERIC(18, 4) NOT NULL, 
    base_rate_amount NUMERIC(18, 4) NOT NULL, 
    rate_charge_amount NUMERIC(18, 4) NOT NULL, 
    overage_charge_amount NUMERIC(18, 4) NOT NULL, 
    sms_charge_amount NUMERIC(18, 4) NOT NULL, 
    CONSTRAINT [pk_OptimizationMobilityDeviceResult] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationMobilityDeviceResult_assigned_carrier_rate_plan_id] FOREIGN KEY(assigned_carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationMobilityDeviceResult_current_carrier_rate_plan_id] FOREIGN KEY(current_carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationMobilityDeviceResult_mobility_device_id] FOREIGN KEY(mobility_device_id) REFERENCES [MobilityDevice] (id), 
    CONSTRAINT [fk_OptimizationMobilityDeviceResult_optimization_group_id] FOREIGN KEY(optimization_group_id) REFERENCES [OptimizationGroup] (id), 
    CONSTRAINT [fk_OptimizationMobilityDeviceResult_optimization_queue_id] FOREIGN KEY(optimization_queue_id) REFERENCES [OptimizationQueue] (id) ON DELETE CASCADE
);

GO

CREATE INDEX [ix_OptimizationMobilityDeviceResult_assigned_carrier_rate_plan_id] ON [OptimizationMobilityDeviceResult] (assigned_carrier_rate_plan_id);

GO

CREATE INDEX [ix_OptimizationMobilityDeviceResult_mobility_device_id] ON [OptimizationMobilityDeviceResult] (mobility_device_id);

GO

CREATE INDEX [ix_OptimizationMobilityDeviceResult_optimization_group_id] ON [OptimizationMobilityDeviceResult] (optimization_group_id);

GO

CREATE INDEX [ix_OptimizationMobilityDeviceResult_optimization_queue_id] ON [OptimizationMobilityDeviceResult] (optimization_queue_id);

GO

CREATE TABLE [OptimizationMobilitySharedPoolResult] (
    id BIGINT NOT NULL IDENTITY, 
    optimization_instance_id INTEGER NOT NULL, 
    optimization_queue_id INTEGER NULL, 
    mobility_device_id BIGINT NOT NULL, 
    customer_rate_pool_id INTEGER NOT NULL, 
    customer_rate_plan_id INTEGER NULL, 
    pool_overage_share_amount NUMERIC(18, 4) NOT NULL, 
    usage_mb FLOAT NOT NULL, 
    sms_usage INTEGER NOT NULL, 
    proration FLOAT NOT NULL, 
    charge_amount NUMERIC(18, 4) NOT NULL, 
    base_rate_amount NUMERIC(18, 4) NOT NULL, 
    rate_charge_amount NUMERIC(18, 4) NOT NULL, 
    overage_charge_amount NUMERIC(18, 4) NOT NULL, 
    sms_charge_amount NUMERIC(18, 4) NOT NULL, 
    CONSTRAINT [pk_OptimizationMobilitySharedPoolResult] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationMobilitySharedPoolResult_customer_rate_plan_id] FOREIGN KEY(customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id), 
    CONSTRAINT [fk_OptimizationMobilitySharedPoolResult_customer_rate_pool_id] FOREIGN KEY(customer_rate_pool_id) REFERENCES [CustomerRatePool] (id), 
    CONSTRAINT [fk_OptimizationMobilitySharedPoolResult_mobility_device_id] FOREIGN KEY(mobility_device_id) REFERENCES [MobilityDevice] (id), 
    CONSTRAINT [fk_OptimizationMobilitySharedPoolResult_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_OptimizationMobilitySharedPoolResult_optimization_queue_id] FOREIGN KEY(optimization_queue_id) REFERENCES [OptimizationQueue] (id)
);

GO

CREATE INDEX [ix_OptimizationMobilitySharedPoolResult_customer_rate_pool_id] ON [OptimizationMobilitySharedPoolResult] (customer_rate_pool_id);

GO

CREATE INDEX [ix_OptimizationMobilitySharedPoolResult_mobility_device_id] ON [OptimizationMobilitySharedPoolResult] (mobility_device_id);

GO

CREATE INDEX [ix_OptimizationMobilitySharedPoolResult_optimization_instance_id] ON [OptimizationMobilitySharedPoolResult] (optimization_instance_id);

GO

CREATE INDEX [ix_OptimizationMobilitySharedPoolResult_optimization_queue_id] ON [OptimizationMobilitySharedPoolResult] (optimization_queue_id);

GO

CREATE TABLE [OptimizationQueue_RatePlan] (
    id INTEGER NOT NULL IDENTITY, 
    optimization_queue_id INTEGER NOT NULL, 
    carrier_rate_plan_id INTEGER NOT NULL, 
    sequence_order INTEGER NOT NULL, 
    CONSTRAINT [pk_OptimizationQueue_RatePlan] PRIMARY KEY (id), 
    CONSTRAINT [ck_OptimizationQueue_RatePlan_sequence_order_not_negative] CHECK (sequence_order >= 0), 
    CONSTRAINT [fk_OptimizationQueue_RatePlan_carrier_rate_plan_id] FOREIGN KEY(carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id), 
    CONSTRAINT [fk_OptimizationQueue_RatePlan_optimization_queue_id] FOREIGN KEY(optimization_queue_id) REFERENCES [OptimizationQueue] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_OptimizationQueue_RatePlan_optimization_queue_id_sequence_order] UNIQUE (optimization_queue_id, sequence_order)
);

GO

CREATE INDEX [ix_OptimizationQueue_RatePlan_carrier_rate_plan_id] ON [OptimizationQueue_RatePlan] (carrier_rate_plan_id);

GO

CREATE TABLE [OptimizationSharedPoolResult] (
    id BIGINT NOT NULL IDENTITY, 
    optimization_instance_id INTEGER NOT NULL, 
    optimization_queue_id INTEGER NULL, 
    device_id BIGINT NOT NULL, 
    customer_rate_pool_id INTEGER NOT NULL, 
    customer_rate_plan_id INTEGER NULL, 
    pool_overage_share_amount NUMERIC(18, 4) NOT NULL, 
    usage_mb FLOAT NOT NULL, 
    sms_usage INTEGER NOT NULL, 
    proration FLOAT NOT NULL, 
    charge_amount NUMERIC(18, 4) NOT NULL, 
    base_rate_amount NUMERIC(18, 4) NOT NULL, 
    rate_charge_amount NUMERIC(18, 4) NOT NULL, 
    overage_charge_amount NUMERIC(18, 4) NOT NULL, 
    sms_charge_amount NUMERIC(18, 4) NOT NULL, 
    CONSTRAINT [pk_OptimizationSharedPoolResult] PRIMARY KEY (id), 
    CONSTRAINT [fk_OptimizationSharedPoolResult_customer_rate_plan_id] FOREIGN KEY(customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id), 
    CONSTRAINT [fk_OptimizationSharedPoolResult_customer_rate_pool_id] FOREIGN KEY(customer_rate_pool_id) REFERENCES [CustomerRatePool] (id), 
    CONSTRAINT [fk_OptimizationSharedPoolResult_device_id] FOREIGN KEY(device_id) REFERENCES [Device] (id), 
    CONSTRAINT [fk_OptimizationSharedPoolResult_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_OptimizationSharedPoolResult_optimization_queue_id] FOREIGN KEY(optimization_queue_id) REFERENCES [OptimizationQueue] (id)
);

GO

CREATE INDEX [ix_OptimizationSharedPoolResult_customer_rate_pool_id] ON [OptimizationSharedPoolResult] (customer_rate_pool_id);

GO

CREATE INDEX [ix_OptimizationSharedPoolResult_device_id] ON [OptimizationSharedPoolResult] (device_id);

GO

CREATE INDEX [ix_OptimizationSharedPoolResult_optimization_instance_id] ON [OptimizationSharedPoolResult] (optimization_instance_id);

GO

CREATE INDEX [ix_OptimizationSharedPoolResult_optimization_queue_id] ON [OptimizationSharedPoolResult] (optimization_queue_id);

GO

CREATE VIEW [vwOptimizationSessionRunning] AS SELECT [OptimizationSession].id AS optimization_session_id, [OptimizationSession].session_guid, [OptimizationSession].service_provider_id, [OptimizationSession].billing_period_id, [OptimizationSession].optimization_type, [OptimizationSession].status AS session_status, [OptimizationSession].created_at AS session_created_at, [OptimizationInstance].id AS optimization_instance_id, [OptimizationInstance].status AS instance_status, [OptimizationInstance].run_started_at, [OptimizationInstance].run_completed_at 
FROM [OptimizationSession] LEFT OUTER JOIN [OptimizationInstance] ON [OptimizationInstance].optimization_session_id = [OptimizationSession].id 
WHERE [OptimizationSession].status IN ('pending', 'running');

GO

INSERT INTO alembic_version (version_num) OUTPUT inserted.version_num VALUES ('0001');

GO

-- Running upgrade 0001 -> 0002

CREATE TABLE [JasperCommunicationPlan_RatePlan] (
    id INTEGER NOT NULL IDENTITY, 
    communication_plan_id INTEGER NOT NULL, 
    carrier_rate_plan_id INTEGER NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperCommunicationPlan_RatePlan] PRIMARY KEY (id), 
    CONSTRAINT [fk_JasperCommunicationPlan_RatePlan_carrier_rate_plan_id] FOREIGN KEY(carrier_rate_plan_id) REFERENCES [JasperCarrierRatePlan] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_JasperCommunicationPlan_RatePlan_communication_plan_id] FOREIGN KEY(communication_plan_id) REFERENCES [JasperCommunicationPlan] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_JasperCommunicationPlan_RatePlan_communication_plan_id_carrier_rate_plan_id] UNIQUE (communication_plan_id, carrier_rate_plan_id)
);

GO

CREATE INDEX [ix_JasperCommunicationPlan_RatePlan_carrier_rate_plan_id] ON [JasperCommunicationPlan_RatePlan] (carrier_rate_plan_id);

GO

CREATE TABLE [DeviceRatePlanHistory] (
    id BIGINT NOT NULL IDENTITY, 
    device_id BIGINT NOT NULL, 
    service_provider_id INTEGER NOT NULL, 
    iccid VARCHAR(22) NOT NULL, 
    previous_rate_plan_code VARCHAR(255) NULL, 
    new_rate_plan_code VARCHAR(255) NULL, 
    date_updated DATETIMEOFFSET NULL, 
    changed_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_DeviceRatePlanHistory] PRIMARY KEY (id), 
    CONSTRAINT [fk_DeviceRatePlanHistory_device_id] FOREIGN KEY(device_id) REFERENCES [Device] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_DeviceRatePlanHistory_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id)
);

GO

CREATE INDEX [ix_DeviceRatePlanHistory_device_id] ON [DeviceRatePlanHistory] (device_id);

GO

CREATE INDEX [ix_DeviceRatePlanHistory_service_provider_id_iccid] ON [DeviceRatePlanHistory] (service_provider_id, iccid);

GO

ALTER TABLE [JasperAuthentication] ADD username_ref VARCHAR(500) NULL;

GO

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

GO

-- Running upgrade 0002 -> 0003

CREATE TABLE [ProviderNotificationRecipient] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    kind VARCHAR(3) NOT NULL, 
    address VARCHAR(320) NOT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_ProviderNotificationRecipient] PRIMARY KEY (id), 
    CONSTRAINT [ck_ProviderNotificationRecipient_kind_known] CHECK (kind IN ('to', 'cc', 'bcc')), 
    CONSTRAINT [fk_ProviderNotificationRecipient_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_ProviderNotificationRecipient_service_provider_id_kind_address] UNIQUE (service_provider_id, kind, address)
);

GO

CREATE INDEX [ix_ProviderNotificationRecipient_service_provider_id] ON [ProviderNotificationRecipient] (service_provider_id);

GO

CREATE TABLE [RatePlanUpdate] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    optimization_instance_id INTEGER NOT NULL, 
    iccid VARCHAR(22) NOT NULL, 
    from_rate_plan_code VARCHAR(255) NULL, 
    to_rate_plan_code VARCHAR(255) NOT NULL, 
    saving_usd NUMERIC(18, 4) NULL, 
    status VARCHAR(20) NOT NULL, 
    batch_number INTEGER NULL, 
    attempts INTEGER NOT NULL, 
    http_status INTEGER NULL, 
    carrier_error_code VARCHAR(20) NULL, 
    carrier_error_message TEXT NULL, 
    requested_at DATETIMEOFFSET NULL, 
    completed_at DATETIMEOFFSET NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_RatePlanUpdate] PRIMARY KEY (id), 
    CONSTRAINT [ck_RatePlanUpdate_status_known] CHECK (status IN ('dry_run', 'sending', 'sent', 'failed', 'skipped_no_go')), 
    CONSTRAINT [ck_RatePlanUpdate_attempts_not_negative] CHECK (attempts >= 0), 
    CONSTRAINT [fk_RatePlanUpdate_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_RatePlanUpdate_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_RatePlanUpdate_optimization_instance_id_iccid_to_rate_plan_code] UNIQUE (optimization_instance_id, iccid, to_rate_plan_code)
);

GO

CREATE INDEX [ix_RatePlanUpdate_service_provider_id_status] ON [RatePlanUpdate] (service_provider_id, status);

GO

CREATE TABLE [RatePlanUpdateBatch] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    optimization_instance_id INTEGER NOT NULL, 
    batch_number INTEGER NOT NULL, 
    devices INTEGER NOT NULL, 
    succeeded INTEGER NOT NULL, 
    failed INTEGER NOT NULL, 
    started_at DATETIMEOFFSET NOT NULL, 
    finished_at DATETIMEOFFSET NULL, 
    devices_per_minute FLOAT NULL, 
    success_rate FLOAT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_RatePlanUpdateBatch] PRIMARY KEY (id), 
    CONSTRAINT [ck_RatePlanUpdateBatch_counts_valid] CHECK (devices >= 0 AND succeeded >= 0 AND failed >= 0), 
    CONSTRAINT [fk_RatePlanUpdateBatch_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_RatePlanUpdateBatch_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_RatePlanUpdateBatch_optimization_instance_id_batch_number] UNIQUE (optimization_instance_id, batch_number)
);

GO

CREATE INDEX [ix_RatePlanUpdateBatch_service_provider_id] ON [RatePlanUpdateBatch] (service_provider_id);

GO

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

GO

-- Running upgrade 0003 -> 0004

CREATE TABLE [DeviceUsagePeriod] (
    id BIGINT NOT NULL IDENTITY, 
    device_id BIGINT NOT NULL, 
    billing_period_id INTEGER NOT NULL, 
    status VARCHAR(30) NULL, 
    communication_plan VARCHAR(255) NULL, 
    carrier_rate_plan_code VARCHAR(255) NULL, 
    msisdn VARCHAR(20) NULL, 
    date_activated DATETIMEOFFSET NULL, 
    ctd_data_usage_bytes BIGINT NULL, 
    usage_mb FLOAT NULL, 
    projected_usage_mb FLOAT NULL, 
    ctd_sms_usage INTEGER NULL, 
    ctd_voice_usage_seconds INTEGER NULL, 
    usage_date DATETIMEOFFSET NULL, 
    recorded_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_DeviceUsagePeriod] PRIMARY KEY (id), 
    CONSTRAINT [ck_DeviceUsagePeriod_usage_not_negative] CHECK ((ctd_data_usage_bytes IS NULL OR ctd_data_usage_bytes >= 0) AND (ctd_sms_usage IS NULL OR ctd_sms_usage >= 0)), 
    CONSTRAINT [fk_DeviceUsagePeriod_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_DeviceUsagePeriod_device_id] FOREIGN KEY(device_id) REFERENCES [Device] (id) ON DELETE CASCADE, 
    CONSTRAINT [uq_DeviceUsagePeriod_device_id_billing_period_id] UNIQUE (device_id, billing_period_id)
);

GO

CREATE INDEX [ix_DeviceUsagePeriod_billing_period_id] ON [DeviceUsagePeriod] (billing_period_id);

GO

INSERT INTO [DeviceUsagePeriod] (device_id, billing_period_id, recorded_at, status, communication_plan, carrier_rate_plan_code, msisdn, date_activated, ctd_data_usage_bytes, usage_mb, projected_usage_mb, ctd_sms_usage, ctd_voice_usage_seconds, usage_date) SELECT [Device].id, [Device].billing_period_id, coalesce([Device].last_synced_at, [Device].created_at) AS coalesce_1, [Device].status, [Device].communication_plan, [Device].carrier_rate_plan_code, [Device].msisdn, [Device].date_activated, [Device].ctd_data_usage_bytes, [Device].usage_mb, [Device].projected_usage_mb, [Device].ctd_sms_usage, [Device].ctd_voice_usage_seconds, [Device].usage_date 
FROM [Device] 
WHERE [Device].billing_period_id IS NOT NULL;

GO

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

GO

-- Running upgrade 0004 -> 0005

ALTER TABLE [ServiceProvider] ADD fleet VARCHAR(20) NOT NULL DEFAULT 'm2m';

GO

ALTER TABLE [ServiceProvider] ADD CONSTRAINT [ck_ServiceProvider_fleet_known] CHECK (fleet IN ('m2m', 'mobility'));

GO

ALTER TABLE [OptimizationGroup] ADD communication_plans VARCHAR(2000) NULL;

GO

ALTER TABLE [OptimizationInstance] ADD optimization_group_id INTEGER NULL;

GO

ALTER TABLE [OptimizationInstance] ADD CONSTRAINT [fk_OptimizationInstance_optimization_group_id] FOREIGN KEY(optimization_group_id) REFERENCES [OptimizationGroup] (id);

GO

CREATE INDEX [ix_OptimizationInstance_optimization_group_id] ON [OptimizationInstance] (optimization_group_id);

GO

ALTER TABLE [OptimizationInstance] ADD proven_optimal BIT NULL;

GO

ALTER TABLE [OptimizationDeviceResult] ADD current_customer_rate_plan_id INTEGER NULL;

GO

ALTER TABLE [OptimizationDeviceResult] ADD CONSTRAINT [fk_OptimizationDeviceResult_current_customer_rate_plan_id] FOREIGN KEY(current_customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id);

GO

ALTER TABLE [OptimizationDeviceResult] ADD assigned_customer_rate_plan_id INTEGER NULL;

GO

ALTER TABLE [OptimizationDeviceResult] ADD CONSTRAINT [fk_OptimizationDeviceResult_assigned_customer_rate_plan_id] FOREIGN KEY(assigned_customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id);

GO

CREATE INDEX [ix_OptimizationDeviceResult_assigned_customer_rate_plan_id] ON [OptimizationDeviceResult] (assigned_customer_rate_plan_id);

GO

ALTER TABLE [OptimizationMobilityDeviceResult] ADD current_customer_rate_plan_id INTEGER NULL;

GO

ALTER TABLE [OptimizationMobilityDeviceResult] ADD CONSTRAINT [fk_OptimizationMobilityDeviceResult_current_customer_rate_plan_id] FOREIGN KEY(current_customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id);

GO

ALTER TABLE [OptimizationMobilityDeviceResult] ADD assigned_customer_rate_plan_id INTEGER NULL;

GO

ALTER TABLE [OptimizationMobilityDeviceResult] ADD CONSTRAINT [fk_OptimizationMobilityDeviceResult_assigned_customer_rate_plan_id] FOREIGN KEY(assigned_customer_rate_plan_id) REFERENCES [JasperCustomerRatePlan] (id);

GO

CREATE INDEX [ix_OptimizationMobilityDeviceResult_assigned_customer_rate_plan_id] ON [OptimizationMobilityDeviceResult] (assigned_customer_rate_plan_id);

GO

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

GO

-- Running upgrade 0005 -> 0006

CREATE TABLE [RatePlanPush] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    optimization_instance_id INTEGER NOT NULL, 
    dagster_run_id VARCHAR(64) NULL, 
    mode VARCHAR(20) NOT NULL, 
    approved_by VARCHAR(255) NULL, 
    status VARCHAR(20) NOT NULL, 
    started_at DATETIMEOFFSET NOT NULL, 
    finished_at DATETIMEOFFSET NULL, 
    changes INTEGER NOT NULL, 
    already_on_target INTEGER NOT NULL, 
    moved_since_sync INTEGER NOT NULL, 
    sent INTEGER NOT NULL, 
    failed INTEGER NOT NULL, 
    not_sent INTEGER NOT NULL, 
    held_back INTEGER NOT NULL, 
    decision VARCHAR(10) NULL, 
    decision_reason TEXT NULL, 
    stop_reason TEXT NULL, 
    cost_before_usd NUMERIC(18, 4) NULL, 
    bill_before_usd NUMERIC(18, 4) NULL, 
    expected_bill_usd NUMERIC(18, 4) NULL, 
    realized_bill_usd NUMERIC(18, 4) NULL, 
    read_back_at DATETIMEOFFSET NULL, 
    checks_done INTEGER NOT NULL, 
    next_check_at DATETIMEOFFSET NULL, 
    discrepancies INTEGER NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_RatePlanPush] PRIMARY KEY (id), 
    CONSTRAINT [ck_RatePlanPush_mode_known] CHECK (mode IN ('automatic', 'approved', 'dry_run')), 
    CONSTRAINT [ck_RatePlanPush_status_known] CHECK (status IN ('running', 'completed', 'stopped', 'no_go', 'dry_run', 'abandoned', 'failed')), 
    CONSTRAINT [fk_RatePlanPush_optimization_instance_id] FOREIGN KEY(optimization_instance_id) REFERENCES [OptimizationInstance] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_RatePlanPush_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id)
);

GO

CREATE INDEX [ix_RatePlanPush_optimization_instance_id] ON [RatePlanPush] (optimization_instance_id);

GO

CREATE INDEX [ix_RatePlanPush_service_provider_id_status] ON [RatePlanPush] (service_provider_id, status);

GO

CREATE TABLE [RatePlanPushLock] (
    service_provider_id INTEGER NOT NULL, 
    push_id INTEGER NOT NULL, 
    holder VARCHAR(255) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    pid INTEGER NOT NULL, 
    acquired_at DATETIMEOFFSET NOT NULL, 
    heartbeat_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_RatePlanPushLock] PRIMARY KEY (service_provider_id), 
    CONSTRAINT [fk_RatePlanPushLock_push_id] FOREIGN KEY(push_id) REFERENCES [RatePlanPush] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_RatePlanPushLock_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id) ON DELETE CASCADE
);

GO

ALTER TABLE [RatePlanUpdate] ADD push_id INTEGER NULL;

GO

ALTER TABLE [RatePlanUpdate] ADD CONSTRAINT [fk_RatePlanUpdate_push_id] FOREIGN KEY(push_id) REFERENCES [RatePlanPush] (id);

GO

CREATE INDEX [ix_RatePlanUpdate_push_id] ON [RatePlanUpdate] (push_id);

GO

ALTER TABLE [RatePlanUpdate] ADD note TEXT NULL;

GO

ALTER TABLE [RatePlanUpdate] ADD verified_rate_plan_code VARCHAR(255) NULL;

GO

ALTER TABLE [RatePlanUpdate] ADD verified_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [RatePlanUpdateBatch] ADD push_id INTEGER NULL;

GO

ALTER TABLE [RatePlanUpdateBatch] ADD CONSTRAINT [fk_RatePlanUpdateBatch_push_id] FOREIGN KEY(push_id) REFERENCES [RatePlanPush] (id);

GO

CREATE INDEX [ix_RatePlanUpdateBatch_push_id] ON [RatePlanUpdateBatch] (push_id);

GO

ALTER TABLE [RatePlanUpdateBatch] ADD bill_before_usd NUMERIC(18, 4) NULL;

GO

ALTER TABLE [RatePlanUpdateBatch] ADD planned_bill_after_usd NUMERIC(18, 4) NULL;

GO

ALTER TABLE [RatePlanUpdateBatch] ADD bill_after_usd NUMERIC(18, 4) NULL;

GO

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

GO

-- Running upgrade 0006 -> 0007

CREATE TABLE [JasperSyncRun] (
    id INTEGER NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    modified_since DATETIMEOFFSET NOT NULL, 
    search_started_at DATETIMEOFFSET NOT NULL, 
    resumed_from INTEGER NULL, 
    holder VARCHAR(255) NOT NULL, 
    host VARCHAR(255) NOT NULL, 
    pid INTEGER NOT NULL, 
    started_at DATETIMEOFFSET NOT NULL, 
    heartbeat_at DATETIMEOFFSET NOT NULL, 
    finished_at DATETIMEOFFSET NULL, 
    pages_done INTEGER NOT NULL, 
    search_done BIT NOT NULL, 
    devices_listed INTEGER NOT NULL, 
    details_fetched INTEGER NOT NULL, 
    api_calls INTEGER NOT NULL, 
    error TEXT NULL, 
    created_at DATETIMEOFFSET NOT NULL, 
    modified_at DATETIMEOFFSET NULL, 
    CONSTRAINT [pk_JasperSyncRun] PRIMARY KEY (id), 
    CONSTRAINT [ck_JasperSyncRun_status_known] CHECK (status IN ('running', 'completed', 'failed', 'abandoned')), 
    CONSTRAINT [fk_JasperSyncRun_resumed_from] FOREIGN KEY(resumed_from) REFERENCES [JasperSyncRun] (id), 
    CONSTRAINT [fk_JasperSyncRun_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id) ON DELETE CASCADE
);

GO

CREATE UNIQUE INDEX [ix_JasperSyncRun_one_running] ON [JasperSyncRun] (service_provider_id) WHERE status = 'running';

GO

CREATE INDEX [ix_JasperSyncRun_service_provider_id_status] ON [JasperSyncRun] (service_provider_id, status);

GO

ALTER TABLE [JasperDeviceStaging] ADD details_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [ServiceProvider] ADD bulk_usage BIT NOT NULL DEFAULT 1;

GO

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

GO

-- Running upgrade 0007 -> 0008

ALTER TABLE [JasperSyncRun] ADD carrier_started_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [ServiceProvider] ADD uses_proration BIT NOT NULL DEFAULT 1;

GO

ALTER TABLE [ServiceProvider] ADD billing_cycle_end_rule VARCHAR(20) NOT NULL DEFAULT 'at_end_hour';

GO

UPDATE [ServiceProvider] SET billing_cycle_end_rule='after_end_day' WHERE [ServiceProvider].billing_cycle_end_day >= 28;

GO

UPDATE [ServiceProvider] SET billing_cycle_end_day=([ServiceProvider].billing_cycle_end_day + 1) WHERE [ServiceProvider].billing_cycle_end_day <= 27 AND [ServiceProvider].billing_cycle_end_rule = 'at_end_hour';

GO

ALTER TABLE [JasperCustomerRatePlan] ADD auto_change_rate_plan BIT NOT NULL DEFAULT 1;

GO

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

GO

-- Running upgrade 0008 -> 0009

ALTER TABLE [JasperCustomerRatePlan] ADD plan_family VARCHAR(255) NULL;

GO

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

GO

-- Running upgrade 0009 -> 0010

ALTER TABLE [ServiceProvider] ADD daily_sync_hour_local INTEGER NOT NULL DEFAULT '2';

GO

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

GO

-- Running upgrade 0010 -> 0011

CREATE INDEX [ix_JasperSyncRun_provider_status_finished] ON [JasperSyncRun] (service_provider_id, status, finished_at);

GO

CREATE INDEX [ix_JasperSyncRun_provider_id] ON [JasperSyncRun] (service_provider_id, id);

GO

DROP INDEX [ix_JasperSyncRun_service_provider_id_status] ON [JasperSyncRun];

GO

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

GO

-- Running upgrade 0011 -> 0012

ALTER TABLE [JasperSyncRun] ADD full_sweep_next BIT NOT NULL DEFAULT 0;

GO

CREATE TABLE [SkippedCarrierRecord] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    sync_run_id INTEGER NOT NULL, 
    endpoint VARCHAR(255) NOT NULL, 
    page INTEGER NULL, 
    record_index INTEGER NULL, 
    iccid VARCHAR(22) NULL, 
    [identity] VARCHAR(500) NULL, 
    field VARCHAR(100) NOT NULL, 
    value VARCHAR(500) NOT NULL, 
    reason TEXT NOT NULL, 
    recorded_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_SkippedCarrierRecord] PRIMARY KEY (id), 
    CONSTRAINT [fk_SkippedCarrierRecord_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id) ON DELETE CASCADE, 
    CONSTRAINT [fk_SkippedCarrierRecord_sync_run_id] FOREIGN KEY(sync_run_id) REFERENCES [JasperSyncRun] (id) ON DELETE CASCADE
);

GO

CREATE INDEX [ix_SkippedCarrierRecord_provider_sync] ON [SkippedCarrierRecord] (service_provider_id, sync_run_id);

GO

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0011';

GO

-- Running upgrade 0012 -> 0013

ALTER TABLE [ServiceProvider] ADD account_type VARCHAR(20) NOT NULL DEFAULT 'auto';

GO

ALTER TABLE [ServiceProvider] ADD usage_by_rate_plan VARCHAR(10) NULL;

GO

ALTER TABLE [ServiceProvider] ADD capabilities_seen_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [ServiceProvider] ADD capabilities_note VARCHAR(500) NULL;

GO

ALTER TABLE [Device] ADD details_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [JasperSyncRun] ADD split_at DATETIMEOFFSET NULL;

GO

ALTER TABLE [JasperSyncRun] ADD recent_pages INTEGER NULL;

GO

UPDATE "Device" SET details_at = COALESCE(last_synced_at, created_at);

GO

ALTER TABLE [ServiceProvider] ADD CONSTRAINT [ck_ServiceProvider_account_type_known] CHECK (account_type IN ('auto', 'advantage', 'essential'));

GO

UPDATE alembic_version SET version_num='0013' WHERE alembic_version.version_num = '0012';

GO

-- Running upgrade 0013 -> 0014

ALTER TABLE [ServiceProvider] ADD idle_periods INTEGER NOT NULL DEFAULT '3';

GO

UPDATE alembic_version SET version_num='0014' WHERE alembic_version.version_num = '0013';

GO

-- Running upgrade 0014 -> 0015

CREATE TABLE [PeriodSettlement] (
    id BIGINT NOT NULL IDENTITY, 
    service_provider_id INTEGER NOT NULL, 
    billing_period_id INTEGER NOT NULL, 
    optimization_session_id INTEGER NOT NULL, 
    is_final BIT NOT NULL, 
    readings_before_end INTEGER NOT NULL, 
    sims INTEGER NOT NULL, 
    pushed_sims INTEGER NOT NULL, 
    cost_before NUMERIC(18, 4) NOT NULL, 
    cost_actual NUMERIC(18, 4) NOT NULL, 
    cost_optimized NUMERIC(18, 4) NOT NULL, 
    cost_optimum NUMERIC(18, 4) NOT NULL, 
    optimum_stop_reason VARCHAR(100) NOT NULL, 
    projected_mb FLOAT NOT NULL, 
    final_mb FLOAT NOT NULL, 
    settled_at DATETIMEOFFSET NOT NULL, 
    CONSTRAINT [pk_PeriodSettlement] PRIMARY KEY (id), 
    CONSTRAINT [fk_PeriodSettlement_billing_period_id] FOREIGN KEY(billing_period_id) REFERENCES [BillingPeriod] (id), 
    CONSTRAINT [fk_PeriodSettlement_optimization_session_id] FOREIGN KEY(optimization_session_id) REFERENCES [OptimizationSession] (id), 
    CONSTRAINT [fk_PeriodSettlement_service_provider_id] FOREIGN KEY(service_provider_id) REFERENCES [ServiceProvider] (id), 
    CONSTRAINT [uq_PeriodSettlement_service_provider_id_billing_period_id] UNIQUE (service_provider_id, billing_period_id)
);

GO

CREATE TABLE [PeriodSettlementPool] (
    id BIGINT NOT NULL IDENTITY, 
    settlement_id BIGINT NOT NULL, 
    pool VARCHAR(255) NOT NULL, 
    projected_mb FLOAT NOT NULL, 
    final_mb FLOAT NOT NULL, 
    CONSTRAINT [pk_PeriodSettlementPool] PRIMARY KEY (id), 
    CONSTRAINT [fk_PeriodSettlementPool_settlement_id] FOREIGN KEY(settlement_id) REFERENCES [PeriodSettlement] (id) ON DELETE CASCADE
);

GO

CREATE INDEX [ix_PeriodSettlementPool_settlement_id] ON [PeriodSettlementPool] (settlement_id);

GO

UPDATE alembic_version SET version_num='0015' WHERE alembic_version.version_num = '0014';

GO

COMMIT;

GO

