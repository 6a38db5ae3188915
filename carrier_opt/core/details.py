"""Carrier fields that only Get Device Details answers, and how one not read yet is shown.

Search Devices answers four fields per SIM (ICCID, status, rate plan, communication plan);
everything else (MSISDN, IMSI, IMEI, customer, account, the dates) needs one Get Device
Details call per SIM. A first sync under a call budget reads those details first for the SIMs
modified since the period began (proration needs their activation date) and leaves the others
to later syncs (``Device.details_at`` NULL until then). Until they arrive such a field is
*missing*, which is not the same as *empty*: a blank cell or a NULL customer would read as
"the carrier has none". Every report and run says so in the words kept here, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

NOT_READ_YET = "not read yet"
"""What a report shows in place of a detail-only field whose SIM's details are still to come."""

NOT_READ_YET_NOTE = (
    f"'{NOT_READ_YET}': the carrier's details of this SIM (Get Device Details) are still to "
    "come; a later sync reads them. A blank cell: the carrier has no value for this SIM."
)
"""The note beside a column that may show :data:`NOT_READ_YET`."""

ICCIDS_NAMED = 5
"""ICCIDs named in one line about SIMs lacking a field (the count says how many in all)."""


def named_sims(iccids: Sequence[str], limit: int = ICCIDS_NAMED) -> str:
    """``2 SIMs (89011, 89012)``, ``12 SIMs (89011, ..., 89015 and 7 more)``: a count an
    operator can act on, with ICCIDs to look up, in a line of bounded length."""
    ordered = sorted(iccids)
    shown = ", ".join(ordered[:limit])
    more = f" and {len(ordered) - limit:,} more" if len(ordered) > limit else ""
    noun = "SIM" if len(ordered) == 1 else "SIMs"
    return f"{len(ordered):,} {noun} ({shown}{more})" if ordered else "no SIM"
