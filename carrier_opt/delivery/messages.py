"""The mails about runs, as pure functions returning a :class:`Notification` (subject,
plain-text body, attachments): the report on success, diagnostics on failure, warnings,
Go/No-Go, the push and its re-checks. Sending them is :mod:`carrier_opt.delivery.mail`."""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from carrier_opt.core.details import NOT_READ_YET, named_sims
from carrier_opt.core.go_no_go import BUFFER_MINUTES, Decision
from carrier_opt.core.instance import DroppedPlan
from carrier_opt.core.money import sum_usd, usd_difference, usd_text
from carrier_opt.db.sync_facts import SyncFacts
from carrier_opt.delivery.push_checks import PushCheck
from carrier_opt.delivery.rate_plan_updates import PushOutcome
from carrier_opt.delivery.report_data import ReportData
from carrier_opt.delivery.workbook import CONTENT_TYPE as XLSX_CONTENT_TYPE
from carrier_opt.delivery.workbook import WITHOUT_USAGE_SHEET

SUBJECT_PREFIX = "[carrier_opt]"

MAX_ATTACHMENT_BYTES = 7 * 1024 * 1024
"""Largest workbook attached; SES refuses raw messages over 10 MB and base64 adds a third."""

MAX_TRACEBACK_LINES = 40


@dataclass(frozen=True)
class Attachment:
    """A file attached to a notification."""

    file_name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Notification:
    """A message ready to send: ``kind`` is success, error, warning, go_no_go, push,
    push_check or already_running (sent as the ``X-Carrier-Opt-Kind`` header)."""

    kind: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


def success_message(
    data: ReportData,
    *,
    workbook: bytes | None,
    file_name: str,
    report_uri: str | None = None,
    run_url: str | None = None,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
    remarks: Sequence[str] = (),
) -> Notification:
    """The report mail: headline figures in the body, the workbook attached.

    A workbook larger than ``max_attachment_bytes`` is not attached (mail servers refuse
    it); the body then points at ``report_uri``. The report's ``scope`` (a customer, an
    optimization group) is named in the subject and the body; ``remarks`` are extra
    paragraphs of the body.
    """
    saving = "n/a" if data.saving is None else usd_text(data.saving)
    subject = (
        f"{SUBJECT_PREFIX} {data.provider} {data.period_key}{_scope_suffix(data)}: "
        f"optimization done, saving {saving} on {data.devices:,} SIMs"
    )
    of = f"{data.provider} ({data.scope})" if data.scope else data.provider
    lines = [
        f"The rate-plan optimization of {of} for billing period {data.period_key} is done.",
        "",
        *_headline(data),
        "",
    ]
    for remark in remarks:
        lines += [remark, ""]
    if data.idle is not None:  # sheet "Idle SIMs" of the workbook
        idle = data.idle.summary()
        lines += [idle[0].upper() + idle[1:] + ".", ""]
    attachments: tuple[Attachment, ...] = ()
    if workbook is not None and len(workbook) <= max_attachment_bytes:
        attachments = (Attachment(file_name, XLSX_CONTENT_TYPE, workbook),)
        lines.append(f"The full report is attached ({file_name}).")
    elif workbook is not None:
        size_mb = len(workbook) / 1_048_576
        lines.append(f"The report ({file_name}, {size_mb:.1f} MB) is too large to attach.")
    if report_uri:
        lines.append(f"Stored at: {report_uri}")
    if run_url:
        lines.append(f"Run: {run_url}")
    return Notification("success", subject, "\n".join(lines) + "\n", attachments)


def _scope_suffix(data: ReportData) -> str:
    return f" — {data.scope}" if data.scope else ""


def _headline(data: ReportData) -> list[str]:
    """The figures a reader wants without opening the workbook."""
    percent = "" if data.saving_percent is None else f" ({data.saving_percent:.2f} %)"
    scope = [f"Scope:              {data.scope}"] if data.scope else []
    lines = [
        *scope,
        f"Period:             {data.period_start_local:%Y-%m-%d %H:%M} to "
        f"{data.period_end_local:%Y-%m-%d %H:%M} ({data.time_zone})",
        f"SIMs:               {data.devices:,} ({data.devices_changed:,} change plan)",
        *(
            [f"No customer plan:   {data.unassigned_sims:,} SIMs, reported at $0"]
            if data.unassigned_sims
            else []
        ),
        *_not_read_lines(data),
        f"Cost before:        {usd_text(data.cost_before)}",
        f"Cost after:         {usd_text(data.cost_after)}",
        f"Saving:             {usd_text(data.saving)}{percent}",
    ]
    if data.lower_bound is not None:
        gap = "" if data.gap is None else f", gap {100 * max(data.gap, 0.0):.3f} %"
        proof = ", proven optimal" if data.proven_optimal else ""
        lines.append(f"Lower bound:        {usd_text(data.lower_bound)}{gap}{proof}")
    if data.legacy_cost is not None:
        lines.append(f"Legacy strategies:  {usd_text(data.legacy_cost)}")
    if data.seconds is not None:
        lines.append(f"Run time:           {data.seconds:,.1f} s")
    if data.sync is not None:
        lines += [
            f"Last device sync:   {_moment(data.sync.last_device_sync)}",
            f"Last usage sync:    {_moment(data.sync.last_usage_sync)}",
            f"SIMs synced:        {data.sync.total_sims:,} "
            f"({data.sync.activated_sims:,} ACTIVATED, {data.sync.optimized_sims:,} of them "
            "optimized)",
        ]
        if data.sync.usage_age:
            lines.append(f"Usage age:          {data.sync.usage_age}")
    for code, reason in data.dropped_plans:
        lines.append(f"Plan dropped as invalid: {code} ({reason})")
    return lines


def _not_read_lines(data: ReportData) -> list[str]:
    """The SIMs whose carrier details are still to come, so that a missing MSISDN or customer
    is never taken for the carrier's answer."""
    lines = []
    pending = data.details_pending_iccids
    if pending:
        lines.append(
            f"Details not read:   {named_sims(pending)}: their MSISDN shows '{NOT_READ_YET}' "
            "until a later sync reads it"
        )
    if data.customer_not_read:
        lines.append(
            f"Customer not read:  {data.customer_not_read:,} SIMs of {data.provider} are in no "
            "customer's report yet: a later sync reads their customer"
        )
    return lines


def _moment(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


WITHOUT_USAGE_LISTED = 10
"""ICCIDs of SIMs without usage named in the warning (the workbook lists them all)."""


def sim_count_warning(facts: SyncFacts | None) -> str | None:
    """The legacy "SIM counts not expected" alert: fewer SIMs optimized than the carrier
    shows ACTIVATED (SIMs without usage for the period, on unpriced plans, on communication
    plans without rate plans or in skipped groups), or ``None`` when the counts agree."""
    if facts is None or (facts.sims_missing == 0 and not facts.without_usage):
        return None
    text = (
        f"SIM counts not expected: the carrier shows {facts.activated_sims:,} SIMs ACTIVATED, "
        f"the run optimized {facts.optimized_sims:,} ({facts.sims_missing:,} fewer). Check "
        "that the last sync completed and that every communication plan has rate plans."
    )
    if facts.without_usage:
        shown = ", ".join(facts.without_usage[:WITHOUT_USAGE_LISTED])
        more = len(facts.without_usage) - WITHOUT_USAGE_LISTED
        text += (
            f" {len(facts.without_usage):,} of them have no usable usage for the period (the "
            "carrier's usage record was missing or malformed; the sync lists the skipped "
            f"records) and are listed in the workbook's {WITHOUT_USAGE_SHEET!r} sheet: {shown}"
            + (f" and {more:,} more" if more > 0 else "")
            + "."
        )
    return text


@dataclass(frozen=True)
class ReportFile:
    """One stored report of a multi-report mail: its figures, bytes, file name and URI."""

    data: ReportData
    workbook: bytes | None
    file_name: str
    uri: str | None = None


def reports_message(
    reports: Sequence[ReportFile],
    *,
    provider: str,
    period_key: str,
    what: str,
    not_optimized: Mapping[str, str] | None = None,
    remarks: Sequence[str] = (),
    run_url: str | None = None,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
) -> Notification:
    """One report mail for several reports of a run (e.g. every optimization group of a
    mobility run): totals, each report's headline figures, every workbook attached.

    ``what`` names the run (``"mobility optimization"``); ``not_optimized`` maps a scope that
    has no report to the reason. Workbooks are attached while their total stays within
    ``max_attachment_bytes``; the body points at the stored URI of the others.
    """
    befores = [r.data.cost_before for r in reports]
    before = None if any(b is None for b in befores) else sum_usd(befores)
    after = sum_usd(r.data.cost_after for r in reports)
    devices = sum(r.data.devices for r in reports)
    saving = None if before is None else usd_difference(before, after)
    skipped = dict(not_optimized or {})
    subject = (
        f"{SUBJECT_PREFIX} {provider} {period_key}: {what} done ({len(reports)} of "
        f"{len(reports) + len(skipped)} optimized), saving {usd_text(saving)} on {devices:,} SIMs"
    )
    lines = [
        f"The {what} of {provider} for billing period {period_key} is done: "
        f"{len(reports)} report(s).",
        "",
        f"All reports:        {devices:,} SIMs, cost before {usd_text(before)}, cost after "
        f"{usd_text(after)}, saving {usd_text(saving)}",
        "",
    ]
    attachments: list[Attachment] = []
    attached_bytes = 0
    for report in reports:
        lines += [f"== {report.data.scope or report.file_name} ==", *_headline(report.data)]
        size = len(report.workbook) if report.workbook is not None else 0
        if report.workbook is not None and attached_bytes + size <= max_attachment_bytes:
            attachments.append(Attachment(report.file_name, XLSX_CONTENT_TYPE, report.workbook))
            attached_bytes += size
            lines.append(f"Report attached:    {report.file_name}")
        elif report.workbook is not None:
            lines.append(f"Report not attached (too large): {report.file_name}")
        if report.uri:
            lines.append(f"Stored at:          {report.uri}")
        lines.append("")
    if skipped:
        lines.append("Not optimized:")
        lines += [f"- {scope}: {reason}" for scope, reason in sorted(skipped.items())]
        lines.append("")
    for remark in remarks:
        lines += [remark, ""]
    if run_url:
        lines.append(f"Run: {run_url}")
    return Notification("success", _one_line(subject), "\n".join(lines) + "\n", tuple(attachments))


ALREADY_RUNNING_SUBJECT = "[Warning] Carrier Plan Optimization: Optimization Is Already Running"
"""The legacy system's subject for a run refused because another one is still running (mail
rules that users set up on it keep working)."""


def already_running_message(
    *, provider: str, period_key: str | None, detail: str, run_url: str | None = None
) -> Notification:
    """The legacy "Already Running" warning: a run was refused, nothing is wrong with it."""
    of = f"{provider} {period_key}" if period_key else provider
    lines = [
        "[Warning] Carrier Plan Optimization: A Carrier optimization job is already running so "
        "another Carrier optimization job will not be started.",
        "",
        f"Provider and period: {of}",
        f"Why: {_one_line(detail, 500)}",
        "",
        "Nothing needs doing: the run that is going on delivers the results, and the window "
        "sensor starts the next run when it is due.",
    ]
    if run_url:
        lines += ["", f"Refused run: {run_url}"]
    return Notification("already_running", ALREADY_RUNNING_SUBJECT, "\n".join(lines) + "\n")


def error_message(
    *,
    asset: str,
    error: BaseException | str,
    provider: str | None = None,
    period_key: str | None = None,
    run_url: str | None = None,
    run_id: str | None = None,
) -> Notification:
    """Diagnostics for a failed step: which asset, what error, where to look.

    The traceback's last :data:`MAX_TRACEBACK_LINES` lines are included; the project's
    exceptions never carry credentials, so this is safe to mail.
    """
    where = " ".join(part for part in (provider, period_key) if part)
    headline = str(error).splitlines()[0] if str(error) else type(error).__name__
    subject = f"{SUBJECT_PREFIX} FAILED {where + ': ' if where else ''}{asset}: {headline}"
    lines = [f"The step {asset!r} failed{' for ' + where if where else ''}.", ""]
    if isinstance(error, BaseException):
        lines.append(f"Error: {type(error).__name__}: {error}")
    else:
        lines.append(f"Error: {error}")
    if run_id:
        lines.append(f"Run id: {run_id}")
    if run_url:
        lines.append(f"Run: {run_url}")
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        trace = "".join(traceback.format_exception(error)).splitlines()
        lines += ["", "Traceback (last lines):", *trace[-MAX_TRACEBACK_LINES:]]
    return Notification("error", _one_line(subject), "\n".join(lines) + "\n")


def warning_message(
    *,
    provider: str,
    period_key: str,
    oversized_groups: Mapping[str, int] | None = None,
    max_plans_per_group: int | Mapping[str, int] = 15,
    dropped_plans: Sequence[DroppedPlan | tuple[str, str]] = (),
    other: Sequence[str] = (),
    run_url: str | None = None,
    group_label: str = "Communication group",
) -> Notification | None:
    """Things a person should fix, or ``None`` when there are none.

    ``oversized_groups`` maps a group to its number of rate plans (those over
    ``max_plans_per_group`` — one limit, or one per group — were skipped); ``group_label``
    names the kind of group (mobility: ``"Optimization group"``); ``dropped_plans`` are plans
    left out as invalid.
    """
    lines: list[str] = []
    for group, plans in sorted((oversized_groups or {}).items()):
        limit = (
            max_plans_per_group
            if isinstance(max_plans_per_group, int)
            else max_plans_per_group[group]
        )
        lines.append(
            f"- {group_label} {group!r} has {plans} rate plans (more than {limit}): it was "
            "not optimized."
        )
    for plan in dropped_plans:
        code, reason = (plan.rate_plan_code, plan.reason) if isinstance(plan, DroppedPlan) else plan
        lines.append(f"- Rate plan {code!r} was dropped as invalid ({reason}); fix its prices.")
    lines += [f"- {text}" for text in other]
    if not lines:
        return None
    subject = f"{SUBJECT_PREFIX} {provider} {period_key}: {len(lines)} warning(s)"
    body = [f"The optimization of {provider} for {period_key} needs attention:", "", *lines]
    if run_url:
        body += ["", f"Run: {run_url}"]
    return Notification("warning", subject, "\n".join(body) + "\n")


def go_no_go_message(
    *,
    provider: str,
    period_key: str,
    decision: Decision,
    enabled: bool = True,
    run_url: str | None = None,
) -> Notification:
    """Whether rate-plan changes go to the carrier now, with the numbers behind the verdict."""
    verdict = "Go" if decision.go else "No Go"
    subject = (
        f"{SUBJECT_PREFIX} {provider} {period_key}: {verdict} for {decision.devices:,} "
        "rate-plan change(s)"
    )
    lines = [decision.reason + ".", ""]
    if not enabled:
        lines.append(
            "Automatic rate-plan updates are off for this provider: nothing is sent; the "
            "changes are recorded as a dry run."
        )
    elif decision.go:
        lines.append("The changes are being sent to the carrier in batches of up to 250.")
    else:
        lines.append(
            f"Nothing is sent: fewer than {BUFFER_MINUTES} minutes would be left before the "
            "billing period ends. Apply the recommended plans by hand if still worthwhile."
        )
    if run_url:
        lines += ["", f"Run: {run_url}"]
    return Notification("go_no_go", subject, "\n".join(lines) + "\n")


def push_message(
    *, provider: str, period_key: str, outcome: PushOutcome, run_url: str | None = None
) -> Notification:
    """What a push did: the Go/No-Go, what reached the carrier, what did not and why, and the
    expected saving beside the realized one."""
    decision = outcome.decision
    if outcome.mode.value == "dry_run":
        what = f"dry run of {outcome.changes:,} rate-plan change(s)"
    else:
        what = f"{outcome.verdict} for {outcome.changes:,} rate-plan change(s)"
    subject = f"{SUBJECT_PREFIX} {provider} {period_key}: {what}"
    lines = []
    if decision is not None:
        lines += [decision.reason + ".", ""]
    if outcome.mode.value == "dry_run":
        lines.append(
            "Automatic rate-plan updates are off for this provider: nothing was sent; the "
            "changes are recorded as a dry run. To send them, approve the dry run: "
            f"carrier-opt push {provider} --billing-period {period_key} --approved-by NAME "
            "(or materialize approved_rate_plan_push in the Dagster UI)."
        )
    elif decision is not None and not decision.go:
        lines.append(
            f"Nothing was sent: fewer than {BUFFER_MINUTES} minutes would be left before the "
            "billing period ends. Apply the recommended plans by hand if still worthwhile."
        )
    lines += [
        "",
        f"Changes (plan differs from what the carrier shows): {outcome.changes:,}",
        f"Already on their target at the carrier: {outcome.already_on_target:,}",
        f"SIMs moved at the carrier since the sync: {len(outcome.moved_since_sync):,}",
        f"Sent: {outcome.sent:,}   failed: {outcome.failed:,}   not sent: {outcome.not_sent:,}"
        f"   held back: {outcome.held_back:,}   batches: {len(outcome.batches)}",
        f"Expected saving: {usd_text(outcome.expected_saving_usd)}",
        f"Realized saving (the carrier read back): {usd_text(outcome.realized_saving_usd)}",
    ]
    if outcome.stop_reason:
        lines += ["", f"Why it stopped or held back: {outcome.stop_reason}"]
    if outcome.status.value == "no_go" and outcome.moved_since_sync:
        lines += ["", "SIMs moved since the sync:"]
        lines += [f"- {iccid}" for iccid in outcome.moved_since_sync[:50]]
        if len(outcome.moved_since_sync) > 50:
            lines.append(f"- ... and {len(outcome.moved_since_sync) - 50:,} more")
    if outcome.problems:
        lines += ["", "Problems:"] + [f"- {_one_line(p)}" for p in outcome.problems[:20]]
    if run_url:
        lines += ["", f"Run: {run_url}"]
    return Notification("push", subject, "\n".join(lines) + "\n")


def push_check_message(
    *, provider: str, period_key: str, check: PushCheck, run_url: str | None = None
) -> Notification:
    """The carrier does not show some changes a push sent: which, and what it shows."""
    count = len(check.discrepancies)
    subject = (
        f"{SUBJECT_PREFIX} {provider} {period_key}: {count:,} rate-plan change(s) not in "
        f"place (check {check.check_number})"
    )
    lines = [
        f"Re-check {check.check_number} of push {check.push_id}: {count:,} of "
        f"{check.checked:,} sent change(s) are not what the carrier shows now.",
        "",
        *[
            f"- {d.iccid}: expected {d.expected_rate_plan}, the carrier shows "
            f"{d.shown_rate_plan or 'nothing'}"
            for d in check.discrepancies[:100]
        ],
    ]
    if count > 100:
        lines.append(f"- ... and {count - 100:,} more (RatePlanUpdate.verified_rate_plan_code)")
    lines += [
        "",
        "A re-run of the partition (or an approved push) sends them again: it pushes whatever "
        "the carrier does not show.",
    ]
    if check.next_check_at is not None:
        lines.append(f"Next check: {check.next_check_at:%Y-%m-%d %H:%M} UTC.")
    if run_url:
        lines += ["", f"Run: {run_url}"]
    return Notification("push_check", subject, "\n".join(lines) + "\n")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- sending
