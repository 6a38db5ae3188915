"""Which SIMs' carrier details are still to come (see :mod:`carrier_opt.core.details`).

``Device.details_at`` is NULL for a SIM whose Get Device Details a call budget left to a later
sync: its detail-only fields (MSISDN, customer, dates...) are missing, not empty. Reports and
customer runs ask here, so that they can say which SIMs lack a field instead of showing a
NULL as if the carrier had said it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from carrier_opt.db.models import Device


def details_not_read(connection: Connection, provider_id: int) -> frozenset[str]:
    """ICCIDs of the provider's SIMs whose details are still to come (``details_at`` NULL)."""
    return frozenset(
        connection.scalars(
            select(Device.iccid).where(
                Device.service_provider_id == provider_id, Device.details_at.is_(None)
            )
        )
    )
