"""Who receives a provider's mail: ``ProviderNotificationRecipient`` (``to``, ``cc``, ``bcc``),
and for a customer's report also the addresses its sites list (``Site.notification_emails``),
added to ``to``. BCC addresses travel in the envelope only, never in a header."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from carrier_opt.db.models import ProviderNotificationRecipient, RecipientKind, Site
from carrier_opt.db.types import utc_now
from carrier_opt.errors import InputError


@dataclass(frozen=True)
class Recipients:
    """Where a provider's messages go; ``bcc`` never appears in the headers."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()

    @property
    def everyone(self) -> tuple[str, ...]:
        """Every envelope recipient (to, cc and bcc), each once."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))

    def __bool__(self) -> bool:
        return bool(self.everyone)


# --------------------------------------------------------------------------- recipients


def notification_recipients(connection: Connection, provider_id: int) -> Recipients:
    """The provider's to/cc/bcc addresses, in a stable (alphabetical) order."""
    table = ProviderNotificationRecipient.__table__
    rows = connection.execute(
        select(table.c.kind, table.c.address)
        .where(table.c.service_provider_id == provider_id)
        .order_by(table.c.kind, table.c.address)
    )
    by_kind: dict[str, list[str]] = {kind.value: [] for kind in RecipientKind}
    for kind, address in rows:
        by_kind[kind].append(address)
    return Recipients(*(tuple(by_kind[kind.value]) for kind in RecipientKind))


def set_notification_recipients(
    connection: Connection,
    provider_id: int,
    *,
    to: Iterable[str],
    cc: Iterable[str] = (),
    bcc: Iterable[str] = (),
) -> Recipients:
    """Replace the provider's recipients (in the caller's transaction); answers them."""
    wanted = {
        RecipientKind.TO: _addresses(to),
        RecipientKind.CC: _addresses(cc),
        RecipientKind.BCC: _addresses(bcc),
    }
    table = ProviderNotificationRecipient.__table__
    connection.execute(delete(table).where(table.c.service_provider_id == provider_id))
    rows = [
        {
            "service_provider_id": provider_id,
            "kind": kind.value,
            "address": address,
            "created_at": utc_now(),
        }
        for kind, addresses in wanted.items()
        for address in addresses
    ]
    if rows:
        connection.execute(insert(table), rows)
    return notification_recipients(connection, provider_id)


def customer_recipients(
    connection: Connection, provider_id: int, rev_customer_id: int
) -> tuple[Recipients, tuple[str, ...]]:
    """The provider's recipients plus, in ``to``, the addresses in ``notification_emails`` of
    the customer's active sites; also the site entries that are not addresses (left out)."""
    texts = connection.scalars(
        select(Site.notification_emails)
        .where(Site.rev_customer_id == rev_customer_id, Site.is_active.is_(True))
        .order_by(Site.id)
    ).all()
    valid, invalid = parse_address_list(";".join(text for text in texts if text))
    provider = notification_recipients(connection, provider_id)
    return with_addresses(provider, valid), invalid


def parse_address_list(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(addresses, entries that are not addresses) of a comma/semicolon separated list, each
    once, in order; ``None`` or blanks give nothing."""
    valid: list[str] = []
    invalid: list[str] = []
    for entry in re.split(r"[,;]", text or ""):
        entry = entry.strip()
        if not entry:
            continue
        try:
            valid += _addresses([entry])
        except InputError:
            invalid.append(entry)
    return tuple(dict.fromkeys(valid)), tuple(dict.fromkeys(invalid))


def with_addresses(recipients: Recipients, to: Iterable[str]) -> Recipients:
    """``recipients`` with ``to`` added to its ``to`` (an address is never listed twice)."""
    known = {address.lower() for address in recipients.everyone}
    extra = [address for address in to if address.lower() not in known]
    return Recipients(tuple(dict.fromkeys((*recipients.to, *extra))), recipients.cc, recipients.bcc)


def _addresses(values: Iterable[str]) -> list[str]:
    """Trimmed, de-duplicated addresses; something without ``@`` is refused."""
    addresses = list(dict.fromkeys(value.strip() for value in values if value and value.strip()))
    for address in addresses:
        local, _, domain = address.rpartition("@")
        if not local or not domain or any(c in address for c in " ,;<>\r\n"):
            raise InputError(f"{address!r} is not an e-mail address")
    return addresses


# --------------------------------------------------------------------------- builders
