"""What the carrier shows now: each SIM's rate plan, read back from the carrier.

A push must act on the carrier's *actual* state, not on what the run synced (SIMs may have been
moved since, by a person, a rule or an earlier push), and afterwards it must read back what the
carrier accepted. Both reads are incremental: Search Devices with ``modifiedSince`` a little
before the moment of interest returns every SIM changed since then with its ``ratePlan`` (one
of the four fields the real search answers), and a SIM not returned still has the plan known
before. One search page per 50 changed SIMs, so a re-read costs a few calls, not one per SIM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from carrier_opt.jasper.payloads import Device

READ_MARGIN = timedelta(hours=1)
"""Read this much before the moment of interest: the carrier's clock may differ from ours."""

OLDEST_MODIFIED_SINCE = timedelta(days=364)
"""The API refuses ``modifiedSince`` more than a year old (a day of margin)."""


class CarrierReader(Protocol):
    """What reading plans needs of :class:`~carrier_opt.jasper.client.JasperClient`."""

    def search_devices(self, modified_since: datetime, *, skip_malformed: bool = False): ...

    def device_details(self, iccid: str) -> Device: ...


@dataclass
class CarrierRead:
    """Plans of the SIMs changed since ``since`` (ICCID → plan), and what could not be read."""

    since: datetime
    plans: dict[str, str | None] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    pages: int = 0

    def overlay(self, known: dict[str, str | None]) -> dict[str, str | None]:
        """``known`` plans with every SIM read here replaced by what the carrier shows."""
        return {iccid: self.plans.get(iccid, plan) for iccid, plan in known.items()}


def plans_changed_since(client: CarrierReader, moment: datetime, now: datetime) -> CarrierRead:
    """Every SIM the carrier changed since shortly before ``moment``, with its plan now.

    A SIM listed twice (changed while we paged) keeps its last record: the listing is ordered
    by modification. Malformed records are kept in ``problems`` and their SIMs (when the record
    names one) in ``unreadable``, never silently dropped.
    """
    since = max(moment - READ_MARGIN, now - OLDEST_MODIFIED_SINCE)
    since = min(since, now)
    result = client.search_devices(since, skip_malformed=True)
    read = CarrierRead(since=since)
    for device in result:
        read.plans[device.iccid] = device.rate_plan
    read.pages = result.pages_read
    for problem in result.problems:
        read.problems.append(str(problem))
        if problem.iccid:
            read.unreadable.add(problem.iccid)
    return read


def plan_of(client: CarrierReader, iccid: str) -> str | None:
    """One SIM's plan from Get Device Details (for the few whose outcome is unknown)."""
    return client.device_details(iccid).rate_plan
