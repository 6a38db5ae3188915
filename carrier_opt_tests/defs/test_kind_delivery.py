"""Reports and mail of mobility and customer runs, end to end on SQLite and PostgreSQL: the fake
carrier over HTTP, the run's assets, then mobility_report / customer_reports with a local
result store and a real SMTP server (aiosmtpd) on loopback."""

import io
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

import openpyxl
from sqlalchemy import insert, select, update
from sqlalchemy.orm import aliased

from carrier_opt.core.money import usd_text
from carrier_opt.db import customer_optimization
from carrier_opt.db.export import instance_tables
from carrier_opt.db.loads.customer_plans import assign_customer_rate_plans
from carrier_opt.db.models import (
    Device,
    DeviceUsagePeriod,
    JasperCarrierRatePlan,
    JasperCustomerRatePlan,
    MobilityDevice,
    OptimizationDeviceResult,
    OptimizationGroup,
    OptimizationInstance,
    OptimizationInstanceResultFile,
    OptimizationMobilityDeviceResult,
    OptimizationSharedPoolResult,
    RevCustomer,
    ServiceProvider,
    Site,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import set_notification_recipients
from carrier_opt.db.types import utc_now
from carrier_opt.defs.assets import customer, mobility
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import (
    NotifierResource,
    ResultStoreResource,
)
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.defs.support import assert_usage_shown_as_stored, materialize_partition
from carrier_opt_tests.defs.test_customer_job import FOCUS, customer_provider  # noqa: F401
from carrier_opt_tests.defs.test_mobility_job import mobility_provider  # noqa: F401
from carrier_opt_tests.delivery.conftest import smtp_server  # noqa: F401
from carrier_opt_tests.jasper.support import client_for

TO, CC, BCC = ("ops@example.com",), ("billing@example.com",), ("audit@example.com",)
SENDER = "carrier-opt@example.com"
SITE_EMAILS = ("metering-ops@acme.example", "cfo@acme.example")
SHARE_HEADER = "Pool overage share (USD)"


# --------------------------------------------------------------------------- helpers


def materialize(database_url, assets, key, provider, tmp_path, server, run_config):
    return materialize_partition(
        database_url,
        assets,
        key,
        provider=provider,
        run_config=run_config,
        result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
        notifier=NotifierResource(
            kind="smtp", smtp_host=server.host, smtp_port=server.port, sender=SENDER
        ),
    )


def failures(result) -> list[str]:
    return [str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure]


def set_recipients(engine, provider: str) -> None:
    with engine.begin() as connection:
        provider_id = load_provider(connection, provider).id
        set_notification_recipients(connection, provider_id, to=TO, cc=CC, bcc=BCC)


def cents(value) -> Decimal:
    amount = value if isinstance(value, Decimal) else Decimal(repr(value))
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def reports_of(engine, tmp_path) -> list[tuple]:
    """(instance row, result-file row, workbook) per recorded report, by instance."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(OptimizationInstance.__table__, OptimizationInstanceResultFile.__table__)
            .join(
                OptimizationInstanceResultFile,
                OptimizationInstanceResultFile.optimization_instance_id == OptimizationInstance.id,
            )
            .order_by(OptimizationInstance.id)
        ).all()
    out = []
    for row in rows:
        instance = row._mapping
        path = Path(unquote(urlsplit(instance["storage_uri"]).path))
        assert path.is_relative_to(tmp_path / "reports") and path.is_file()
        content = path.read_bytes()
        assert len(content) == instance["size_bytes"]
        workbook = openpyxl.load_workbook(io.BytesIO(content), data_only=True)
        out.append((instance, content, workbook))
    return out


def summary(workbook) -> dict:
    sheet = workbook["Summary"]
    return {row[0]: row[1] for row in sheet.iter_rows(min_row=3, max_col=2, values_only=True)}


def table(sheet, header_row: int = 1) -> tuple[list[dict], dict]:
    """(data rows, totals row) of a table sheet as dicts by header."""
    rows = list(sheet.iter_rows(min_row=header_row, values_only=True))
    headers, body = rows[0], rows[1:]
    total = next(i for i, row in enumerate(body) if row[0] == "Total")
    as_dicts = [dict(zip(headers, row, strict=True)) for row in body]
    return as_dicts[:total], as_dicts[total]


def assert_totals_match(instance, workbook) -> None:
    """The workbook's Summary, Assignments totals and lines equal the instance's costs."""
    figures = summary(workbook)
    lines, total = table(workbook["Assignments"])
    assert cents(figures["Cost after (USD)"]) == cents(instance["cost_after"])
    assert cents(figures["Cost before (USD)"]) == cents(instance["cost_before"])
    assert cents(total["Cost after (USD)"]) == cents(instance["cost_after"])
    assert sum(cents(line["Cost after (USD)"]) for line in lines) == cents(instance["cost_after"])
    assert total[SHARE_HEADER] is None  # informational: never totalled
    assert instance["proven_optimal"] is not None
    assert figures["Proven optimal"] == ("yes" if instance["proven_optimal"] else "no")
    assert len(lines) == instance["device_count"]


def mails(server, kind: str) -> list:
    return [m for m in server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == kind]


# --------------------------------------------------------------------------- mobility

MOBILITY_ASSETS = [
    *mobility.mobility_assets,  # its own sync steps first
    *mobility.mobility_delivery_assets,
]
MOBILITY_CONFIG = {"ops": {"mobility_winning_assignments": {"config": {"time_limit_s": 5}}}}


def test_mobility_report_per_group_one_mail_and_a_warning_for_a_group_over_its_limit(
    mobility_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    set_recipients(migrated_engine, "mobi")
    with migrated_engine.begin() as connection:
        connection.execute(
            update(OptimizationGroup)
            .where(OptimizationGroup.name == "Phones")
            .values(max_rate_plans=2)
        )
        groups = dict(
            connection.execute(select(OptimizationGroup.id, OptimizationGroup.name)).all()
        )
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(
        database_url,
        MOBILITY_ASSETS,
        partition_key("mobi", period),
        "mobi",
        tmp_path,
        smtp_server,
        MOBILITY_CONFIG,
    )
    assert result.success, failures(result)

    # A workbook per optimized group, recorded on its instance, totals equal to its costs.
    reports = reports_of(migrated_engine, tmp_path)
    assert sorted(groups[r[0]["optimization_group_id"]] for r in reports) == sorted(
        name for name in groups.values() if name != "Phones"
    )
    for instance, _, workbook in reports:
        assert_totals_match(instance, workbook)
        name = groups[instance["optimization_group_id"]]
        assert summary(workbook)["Scope"] == f"Optimization group {name}"
        assert name in instance["file_name"]

    # One report mail with every group's workbook, to the provider's recipients.
    [report_mail] = mails(smtp_server, "success")
    assert sorted(report_mail.rcpt_tos) == sorted((*TO, *CC, *BCC))
    assert report_mail.message["Bcc"] is None
    attached = {a.get_filename(): a.get_content() for a in report_mail.message.iter_attachments()}
    assert attached == {instance["file_name"]: content for instance, content, _ in reports}
    body = report_mail.message.get_body(("plain",)).get_content()
    assert "- Optimization group Phones:" in body and "exceed the group's limit of 2" in body
    for instance, _, _ in reports:
        assert usd_text(instance["cost_after"]) in body

    # The M2M alert path: a warnings mail naming the group over its limit and the SIMs left
    # out for their plan type.
    [warning] = mails(smtp_server, "warning")
    assert sorted(warning.rcpt_tos) == sorted((*TO, *CC, *BCC))
    text = " ".join(warning.message.get_content().split())
    assert "Optimization group 'Phones' has" in text and "(more than 2): it was not" in text
    assert "types the group does not allow" in text
    assert "Needs attention" in body and "'Phones' has" in body

    metadata = result.asset_materializations_for_node("mobility_report")[0].metadata
    assert metadata["totals_match_database"].value is True
    assert metadata["sent"].value == "success, warning"
    assert metadata["recipients"].value == 3
    assert set(metadata["files"].value) == {instance["file_name"] for instance, _, _ in reports}
    assert "skipped:" in metadata["groups_table"].value


def test_mobility_report_without_a_skipped_group_attaches_every_group(
    mobility_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    set_recipients(migrated_engine, "mobi")
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(
        database_url,
        MOBILITY_ASSETS,
        partition_key("mobi", period),
        "mobi",
        tmp_path,
        smtp_server,
        MOBILITY_CONFIG,
    )
    assert result.success, failures(result)
    reports = reports_of(migrated_engine, tmp_path)
    assert len(reports) == 3
    for instance, _, workbook in reports:
        assert_totals_match(instance, workbook)
        # Cycle-to-date usage, its date and the projected usage apart (issue 28, point 8).
        lines, _ = table(workbook["Assignments"])
        assert assert_usage_shown_as_stored(migrated_engine, "mobi", lines) == len(lines)
    [report_mail] = mails(smtp_server, "success")
    assert len(list(report_mail.message.iter_attachments())) == 3
    [warning] = mails(smtp_server, "warning")  # SIMs on plans of other types are still listed
    assert "more than" not in warning.message.get_content()


def test_mobility_changes_go_to_the_carrier_when_the_provider_allows_it(
    mobility_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    set_recipients(migrated_engine, "mobi")
    with migrated_engine.begin() as connection:
        connection.execute(
            update(ServiceProvider)
            .where(ServiceProvider.name == "mobi")
            .values(allow_automatic_rate_plan_updates=True)
        )
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(
        database_url,
        MOBILITY_ASSETS,
        partition_key("mobi", period),
        "mobi",
        tmp_path,
        smtp_server,
        MOBILITY_CONFIG,
    )
    assert result.success, failures(result)
    metadata = result.asset_materializations_for_node("mobility_rate_plan_updates")[0].metadata
    edits = {edit.iccid: edit.fields["ratePlan"] for edit in mobility_provider.edits}
    assert metadata["sent"].value == len(edits) > 0
    assert metadata["failed"].value == metadata["dry_run"].value == 0
    # Every change sent is the winner's plan of its SIM, a plan of its group's types.
    current = aliased(JasperCarrierRatePlan)
    with migrated_engine.connect() as connection:
        winners = connection.execute(
            select(
                MobilityDevice.iccid,
                JasperCarrierRatePlan.rate_plan_code,
                JasperCarrierRatePlan.rate_plan_type,
                OptimizationGroup.rate_plan_types,
                current.rate_plan_code,
            )
            .select_from(OptimizationMobilityDeviceResult)
            .join(
                MobilityDevice,
                MobilityDevice.id == OptimizationMobilityDeviceResult.mobility_device_id,
            )
            .join(
                JasperCarrierRatePlan,
                JasperCarrierRatePlan.id
                == OptimizationMobilityDeviceResult.assigned_carrier_rate_plan_id,
            )
            .join(
                current, current.id == OptimizationMobilityDeviceResult.current_carrier_rate_plan_id
            )
            .join(
                OptimizationGroup,
                OptimizationGroup.id == OptimizationMobilityDeviceResult.optimization_group_id,
            )
        ).all()
    moved = {
        iccid: (code, kind, types) for iccid, code, kind, types, before in winners if code != before
    }
    assert set(edits) <= set(moved)
    for iccid, plan in edits.items():
        code, kind, types = moved[iccid]
        assert plan == code and kind in types.split(";")
    # Run alone (no session of its own) it refuses, and nothing more reaches the carrier.
    again = materialize(
        database_url,
        [mobility.mobility_rate_plan_updates],
        partition_key("mobi", period),
        "mobi",
        tmp_path,
        smtp_server,
        None,
    )
    assert not again.success  # a run of its own has no session: it says so
    assert len(mobility_provider.edits) == len(edits)


# --------------------------------------------------------------------------- customer

CUSTOMER_ASSETS = [*customer.customer_assets, *customer.customer_delivery_assets]
CUSTOMER_CONFIG = {"ops": {"customer_winning_assignments": {"config": {"time_limit_s": 5}}}}


def add_sites(engine) -> None:
    """Two sites of the focus customer (one with a non-address entry), one without e-mail."""
    ids = customer_optimization.ensure_customers(engine, [FOCUS], utc_now())
    rows = [
        {
            "name": "Plant",
            "rev_customer_id": ids[FOCUS],
            "notification_emails": f"{SITE_EMAILS[0]}; not an address ,{TO[0]}",
        },
        {
            "name": "Office",
            "rev_customer_id": ids[FOCUS],
            "notification_emails": f" {SITE_EMAILS[1]} ;; ",
        },
        {"name": "Depot", "rev_customer_id": ids[FOCUS], "notification_emails": None},
    ]
    with engine.begin() as connection:
        connection.execute(insert(Site), [{**row, "is_active": True} for row in rows])


def test_customer_reports_one_workbook_and_one_mail_per_customer(
    customer_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    fake, lines = customer_provider
    period = fake.now().strftime("%Y-%m")
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    # Every SIM of the other customers in the shared pool, heavy ones too, and a smaller
    # allowance (5 MB per SIM, the fleet averages ~10 MB): the pool goes over its allowance,
    # so the even overage shares are not all zero.
    lines = [line.replace(",C_SOLO_SMALL", ",C_SHARED_POOL") for line in lines]
    with migrated_engine.begin() as connection:
        connection.execute(
            update(JasperCustomerRatePlan)
            .where(JasperCustomerRatePlan.rate_plan_code == "C_SHARED_POOL")
            .values(data_allowance_mb=5)
        )
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(lines) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    set_recipients(migrated_engine, "acme")
    add_sites(migrated_engine)

    result = materialize(
        database_url,
        CUSTOMER_ASSETS,
        partition_key("acme", period),
        "acme",
        tmp_path,
        smtp_server,
        CUSTOMER_CONFIG,
    )
    assert result.success, failures(result)
    assert fake.edits == []  # customer optimization never changes anything at the carrier

    with migrated_engine.connect() as connection:
        customers = dict(
            connection.execute(select(RevCustomer.id, RevCustomer.rev_customer_number)).all()
        )
        shared_rows = connection.execute(
            select(
                OptimizationSharedPoolResult.optimization_instance_id,
                OptimizationSharedPoolResult.pool_overage_share_amount,
                Device.iccid,
            ).join(Device, Device.id == OptimizationSharedPoolResult.device_id)
        ).all()
    shared_by_instance = defaultdict(dict)
    for instance_id, share, iccid in shared_rows:
        shared_by_instance[instance_id][iccid] = share

    reports = reports_of(migrated_engine, tmp_path)
    assert len(reports) == len({r[0]["rev_customer_id"] for r in reports}) >= 2
    by_customer, pool_shares = {}, {}
    for instance, content, workbook in reports:
        name = customers[instance["rev_customer_id"]]
        by_customer[name] = (instance, content)
        assert_totals_match(instance, workbook)
        assert summary(workbook)["Scope"] == f"Customer {name}"
        expected_locked = shared_by_instance.get(instance["id"], {})
        if not expected_locked:
            assert "Shared pool" not in workbook.sheetnames
            continue
        # The Shared pool sheet lists exactly the locked SIMs, each pool's SIMs with one
        # (even) share of its overage, equal to the stored share to the cent.
        sheet = workbook["Shared pool"]
        assert "spread evenly over its SIMs" in sheet["A1"].value
        shared, totals = table(sheet, header_row=3)
        # Other customers' SIMs are anonymous in a customer's report: no ICCID, no MSISDN.
        labels = {f"shared pool SIM {n}" for n in range(1, len(expected_locked) + 1)}
        assert {row["ICCID"] for row in shared} == labels
        assert all(row["MSISDN"] is None for row in shared)
        everything = [
            cell
            for sheet_ in workbook.worksheets
            for line in sheet_.iter_rows(values_only=True)
            for cell in line
        ]
        assert not set(expected_locked) & set(everything)
        assert totals[SHARE_HEADER] is None
        per_pool = defaultdict(set)
        for row in shared:
            per_pool[row["Rate plan (pool)"]].add(row[SHARE_HEADER])
        assert sorted(cents(row[SHARE_HEADER]) for row in shared) == sorted(
            cents(share) for share in expected_locked.values()
        )
        assert all(len(values) == 1 for values in per_pool.values())
        pool_shares[name] = per_pool
        # Assignments shows the same share for the locked SIMs; over every SIM of the pool
        # (own and locked) the shares add up to the pool's overage, within a cent per SIM.
        sims_, _ = table(workbook["Assignments"])
        locked_shares = {
            line["ICCID"]: line[SHARE_HEADER] for line in sims_ if line["Shared pool"] == "yes"
        }
        assert locked_shares == {row["ICCID"]: row[SHARE_HEADER] for row in shared}
        for pool, (share,) in per_pool.items():
            on_pool = [line for line in sims_ if line["Recommended rate plan"] == pool]
            assert {line[SHARE_HEADER] for line in on_pool} == {share}
            overage = sum(cents(line["Overage after (USD)"]) for line in on_pool)
            assert abs(cents(share) * len(on_pool) - overage) <= Decimal("0.01") * len(on_pool)
    assert FOCUS in by_customer
    assert any(share > 0 for per_pool in pool_shares.values() for (share,) in per_pool.values())

    # One mail per customer with that customer's workbook only; the focus customer's also
    # to its sites' addresses (a non-address entry left out), the others' not.
    success = mails(smtp_server, "success")
    assert len(success) == len(by_customer)
    for mail in success:
        name = next(n for n in by_customer if mail.message["Subject"].count(f"Customer {n}:"))
        instance, content = by_customer[name]
        attached = list(mail.message.iter_attachments())
        assert [a.get_filename() for a in attached] == [instance["file_name"]]
        assert attached[0].get_content() == content
        assert mail.message["Bcc"] is None
        expected = {*TO, *CC, *BCC} | (set(SITE_EMAILS) if name == FOCUS else set())
        assert set(mail.rcpt_tos) == expected and len(mail.rcpt_tos) == len(expected)
        body = mail.message.get_body(("plain",)).get_content()
        assert f"Customer {name}" in body and "nothing was changed at the carrier" in body
    [focus_mail] = [m for m in success if f"Customer {FOCUS}:" in m.message["Subject"]]
    assert {a.addr_spec for a in focus_mail.message["To"].addresses} == {TO[0], *SITE_EMAILS}

    metadata = result.asset_materializations_for_node("customer_reports")[0].metadata
    assert metadata["mails_sent"].value == len(by_customer)
    assert metadata["totals_match_database"].value is True
    assert metadata["carrier_changes_pushed"].value == 0
    assert FOCUS in metadata["customers_table"].value


def forget_details(engine, iccids, *, customer_too: bool) -> None:
    """The SIMs as a budgeted first sync leaves them: details (MSISDN, customer) to come."""
    device_ids = select(Device.id).where(Device.iccid.in_(iccids))
    values = {"details_at": None, "msisdn": None} | ({"customer": None} if customer_too else {})
    with engine.begin() as connection:
        connection.execute(update(Device).where(Device.iccid.in_(iccids)).values(**values))
        connection.execute(
            update(DeviceUsagePeriod)
            .where(DeviceUsagePeriod.device_id.in_(device_ids))
            .values(msisdn=None)
        )


def test_a_customer_run_names_the_sims_whose_details_are_not_read_yet(
    customer_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """Issue 27: a SIM whose details are still to come has no customer and no MSISDN yet. The
    run names those without a customer (no customer's own SIMs, those in a pool counted in
    it); the report and mail say which MSISDNs are not read yet, never a blank as data."""
    fake, lines = customer_provider
    period = fake.now().strftime("%Y-%m")
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(lines) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    set_recipients(migrated_engine, "acme")
    billed = set(instance_tables(migrated_engine, "acme", period).devices["iccid"])
    plan_of = dict(line.split(",") for line in lines[1:])

    def billed_on(plan: str) -> list[str]:
        return sorted(iccid for iccid, code in plan_of.items() if code == plan and iccid in billed)

    focus_msisdn_pending = billed_on("C_ACME_POOL")[:2]
    nobodys = {
        "acme pool": billed_on("C_ACME_POOL")[2],
        "shared pool": billed_on("C_SHARED_POOL")[0],
        "solo": billed_on("C_SOLO_SMALL")[0],
    }
    forget_details(migrated_engine, focus_msisdn_pending, customer_too=False)
    forget_details(migrated_engine, list(nobodys.values()), customer_too=True)

    result = materialize(
        database_url,
        CUSTOMER_ASSETS,
        partition_key("acme", period),
        "acme",
        tmp_path,
        smtp_server,
        CUSTOMER_CONFIG,
    )
    assert result.success, failures(result)
    pools = result.asset_materializations_for_node("customer_rate_pools")[0].metadata
    assert pools["customer_not_read"].value == 3
    assert pools["customer_not_read_in_pools"].value == 2  # the solo SIM is in no instance
    assert all(iccid in pools["customer_not_read_sims"].value for iccid in nobodys.values())
    with migrated_engine.connect() as connection:
        own = set(
            connection.scalars(
                select(Device.iccid)
                .join(OptimizationDeviceResult, OptimizationDeviceResult.device_id == Device.id)
                .where(OptimizationDeviceResult.assigned_customer_rate_plan_id.is_not(None))
            )
        )
        locked = connection.execute(
            select(Device.iccid, OptimizationSharedPoolResult.optimization_instance_id).join(
                Device, Device.id == OptimizationSharedPoolResult.device_id
            )
        ).all()
    assert not set(nobodys.values()) & own  # nobody's SIM is optimized as somebody's
    instances_of = defaultdict(set)
    for iccid, instance_id in locked:
        instances_of[iccid].add(instance_id)
    reports = reports_of(migrated_engine, tmp_path)
    assert len(instances_of[nobodys["shared pool"]]) == len(reports)  # every customer's pool
    assert len(instances_of[nobodys["acme pool"]]) == 1 and nobodys["solo"] not in instances_of

    with migrated_engine.connect() as connection:
        focus_id = connection.scalar(
            select(RevCustomer.id).where(RevCustomer.rev_customer_number == FOCUS)
        )
    for instance, _content, workbook in reports:
        figures = summary(workbook)
        assert figures["SIMs in no customer's report (customer not read yet)"] == 3
        rows, _ = table(workbook["Assignments"])
        assert not set(nobodys.values()) & {row["ICCID"] for row in rows}  # anonymous
        if instance["rev_customer_id"] != focus_id:
            continue
        assert figures["SIMs with details not read yet"] == 2
        marked = sorted(row["ICCID"] for row in rows if row["MSISDN"] == "not read yet")
        assert marked == focus_msisdn_pending
        assert all(row["MSISDN"] for row in rows if not row["ICCID"].startswith("shared pool"))
    [mail] = [
        m for m in mails(smtp_server, "success") if f"Customer {FOCUS}:" in m.message["Subject"]
    ]
    body = mail.message.get_body(("plain",)).get_content()
    assert f"Details not read:   2 SIMs ({', '.join(focus_msisdn_pending)})" in body
    assert "Customer not read:  3 SIMs of acme are in no customer's report yet" in body


def test_customer_sims_on_no_customer_plan_are_reported_at_zero(
    customer_provider,  # noqa: F811
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """Legacy customer rule (issue 13, case 7): a customer's SIMs without a customer plan are
    not optimized but listed in its report at $0 (plan "Unassigned"), outside every total."""
    fake, lines = customer_provider
    period = fake.now().strftime("%Y-%m")
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    focus = {d.iccid for d in fake.fleet if d.customer == FOCUS}
    billed = set(instance_tables(migrated_engine, "acme", period).devices["iccid"])
    unassigned = sorted(focus & billed)[:3]
    kept = [line for line in lines if line.split(",")[0] not in unassigned]
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(kept) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    set_recipients(migrated_engine, "acme")

    result = materialize(
        database_url,
        CUSTOMER_ASSETS,
        partition_key("acme", period),
        "acme",
        tmp_path,
        smtp_server,
        CUSTOMER_CONFIG,
    )
    assert result.success, failures(result)
    pools = result.asset_materializations_for_node("customer_rate_pools")[0].metadata
    assert pools["no_customer_plan_reported_at_zero"].value == 3
    with migrated_engine.connect() as connection:
        focus_id = connection.scalar(
            select(RevCustomer.id).where(RevCustomer.rev_customer_number == FOCUS)
        )
    [(instance, _content, workbook)] = [
        r for r in reports_of(migrated_engine, tmp_path) if r[0]["rev_customer_id"] == focus_id
    ]
    figures = summary(workbook)
    assert figures["SIMs on no customer plan (at $0)"] == 3
    assert figures["Devices"] == instance["device_count"]
    rows, total = table(workbook["Assignments"])
    zero = [row for row in rows if row["Current rate plan"] == "Unassigned"]
    assert sorted(row["ICCID"] for row in zero) == unassigned
    assert all(row["Recommended rate plan"] == "Unassigned" for row in zero)
    assert all(row["Cost after (USD)"] == 0 and row["Cost before (USD)"] == 0 for row in zero)
    assert len(rows) == instance["device_count"] + 3
    # Cycle-to-date usage, its date and the projected usage apart, the unassigned SIMs' too
    # (issue 28, point 8); other customers' shared-pool SIMs are anonymous.
    shown = assert_usage_shown_as_stored(migrated_engine, "acme", rows)
    assert shown == sum(not row["ICCID"].startswith("shared pool SIM") for row in rows)
    assert all(row["Usage read at (local)"] is not None for row in zero)
    assert cents(total["Cost after (USD)"]) == cents(instance["cost_after"])
    assert cents(figures["Cost after (USD)"]) == cents(instance["cost_after"])
    [mail] = [
        m for m in mails(smtp_server, "success") if f"Customer {FOCUS}:" in m.message["Subject"]
    ]
    body = mail.message.get_body(("plain",)).get_content()
    assert "No customer plan:   3 SIMs, reported at $0" in body
