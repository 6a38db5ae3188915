"""The mails of the multi-instance runs (mobility groups, customers), composed from their
stored reports and sent through whatever sends mail (the Dagster run's notifier).

The messages themselves are written by :mod:`carrier_opt.delivery.messages`; this module decides
which go out and to whom: the mobility warnings of the M2M alert path, and one mail per
customer with that customer's workbook only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from carrier_opt.core.mobility import GroupTables
from carrier_opt.db.recipients import Recipients, customer_recipients
from carrier_opt.delivery.mail import NotificationError
from carrier_opt.delivery.messages import Notification, success_message, warning_message
from carrier_opt.pipeline.reports import InstanceReport

EXCLUDED_PLANS_SHOWN = 5
CUSTOMER_REMARK = (
    "Customer optimization only reports: nothing was changed at the carrier. Apply the "
    "recommended customer rate plans in the billing system."
)


class Sender(Protocol):
    """Sends a mail; answers its id, or None when nothing was sent (``NotifierResource``)."""

    def send(self, notification: Notification, recipients: Recipients) -> str | None: ...


@dataclass(frozen=True)
class CustomerMail:
    """One customer's report mail: to whom, whether it went, the error when it could not."""

    recipients: tuple[str, ...]
    sent: bool
    error: str | None


def mobility_warnings(
    provider: str,
    period_key: str,
    groups: Sequence[GroupTables],
    reports: Sequence[InstanceReport],
    run_url: str | None,
) -> Notification | None:
    """The warnings mail (M2M alert path): groups over their plan limit, groups skipped for
    another reason, SIMs left out for their plan type, plans dropped as invalid."""
    over = [g for g in groups if g.skipped_reason and len(g.rate_plans) > g.group.max_rate_plans]
    other = [
        f"Optimization group {g.group.name!r} was not optimized: {g.skipped_reason}."
        for g in groups
        if g.skipped_reason and g not in over
    ]
    for g in groups:
        if len(g.excluded):
            plans = sorted(set(g.excluded["rate_plan_code"].astype(str)))
            shown = ", ".join(plans[:EXCLUDED_PLANS_SHOWN]) + (
                ", ..." if len(plans) > EXCLUDED_PLANS_SHOWN else ""
            )
            other.append(
                f"Optimization group {g.group.name!r}: {len(g.excluded)} SIM(s) are on rate "
                f"plans of types the group does not allow ({shown}); they keep their plans "
                "and were not optimized."
            )
    dropped = dict.fromkeys(plan for r in reports for plan in r.data.dropped_plans)
    return warning_message(
        provider=provider,
        period_key=period_key,
        oversized_groups={g.group.name: len(g.rate_plans) for g in over},
        max_plans_per_group={g.group.name: g.group.max_rate_plans for g in over},
        dropped_plans=list(dropped),
        other=other,
        run_url=run_url,
        group_label="Optimization group",
    )


def attention(warnings: Notification | None) -> list[str]:
    """The warnings, repeated in the report mail (they also go out as the warnings mail)."""
    if warnings is None:
        return []
    lines = [line for line in warnings.body.splitlines() if line.startswith("- ")]
    return ["Needs attention (also sent as a warnings mail):\n" + "\n".join(lines)]


def mail_customers(
    engine: Engine,
    sender: Sender,
    provider_id: int,
    reports: Sequence[InstanceReport],
    *,
    run_url: str | None,
    log: logging.Logger | logging.LoggerAdapter,
) -> dict[str, CustomerMail]:
    """One mail per customer, with its workbook only, to the provider's recipients and the
    addresses of the customer's sites. A mail that cannot be sent does not stop the other
    customers': its error is answered."""
    outcome: dict[str, CustomerMail] = {}
    for report in reports:
        assert report.row.rev_customer_id is not None
        with engine.connect() as connection:
            to, invalid = customer_recipients(connection, provider_id, report.row.rev_customer_id)
        if invalid:
            log.warning(
                "customer %s: site notification entries that are not e-mail addresses are "
                "left out: %s",
                report.name,
                ", ".join(invalid),
            )
        message = success_message(
            report.data,
            workbook=report.workbook,
            file_name=report.file_name,
            report_uri=report.stored.uri,
            run_url=run_url,
            remarks=[CUSTOMER_REMARK],
        )
        sent, error = False, None
        try:
            sent = sender.send(message, to) is not None
        except NotificationError as exc:  # the other customers still get theirs
            error = str(exc)
            log.error("customer %s: %s", report.name, error)
        outcome[report.name] = CustomerMail(tuple(to.everyone), sent, error)
    return outcome
