"""One customer across channels: merging, undoing a merge, and identity suggestions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from shared.channels.email.addresses import address_key, ascii_domain
from shared.dal.customers import CustomerStore
from shared.dal.tickets import TicketStore
from shared.errors import HelpdeskError
from shared.ids import new_id
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Customer, Identity, IdentityKind, MergeRecord, TicketEvent

MAX_SCANNED_CHARS = 5000
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


def identity_key(kind: str, value: str) -> str:
    """The pointer value of a customer identity, e.g. `phone#+14255550182`."""
    return f"{kind}#{value}"


def suggestion_event(
    text: str, known: list[Identity], at: datetime, default_region: str | None = None
) -> TicketEvent | None:
    """A ticket event listing identities suggested by the message text, if there are any."""
    suggestions = suggest_identities(text, known, default_region)
    if not suggestions:
        return None
    return TicketEvent(
        at=at,
        type="identity_suggested",
        data={"identities": [s.model_dump(mode="json") for s in suggestions], "confirmed": False},
    )


class MergeError(HelpdeskError):
    """A merge or unmerge that cannot be done (unknown customer, same customer, already undone...)."""


def suggest_identities(text: str, known: list[Identity], default_region: str | None = None) -> list[Identity]:
    """Email addresses and phone numbers written in a message that the customer does not have yet.

    These are suggestions for an agent to confirm, never automatic links: anyone can type an
    address into a message.
    """
    import phonenumbers

    sample = text[:MAX_SCANNED_CHARS]
    have = {(i.kind, i.value) for i in known}
    found: list[Identity] = []
    for match in _EMAIL.findall(sample):
        candidate = Identity(kind=IdentityKind.EMAIL, value=match.lower().rstrip("."))
        if (candidate.kind, candidate.value) not in have and candidate not in found:
            found.append(candidate)
    for number in phonenumbers.PhoneNumberMatcher(sample, default_region or "ZZ"):
        e164 = phonenumbers.format_number(number.number, phonenumbers.PhoneNumberFormat.E164)
        candidate = Identity(kind=IdentityKind.PHONE, value=e164)
        if (candidate.kind, candidate.value) not in have and candidate not in found:
            found.append(candidate)
    return found


class MergeStores(CustomerStore, TicketStore, Protocol):
    """What merging customers reads and writes: both customers and their tickets."""


def _load(repository: MergeStores, customer_id: str) -> Customer:
    customer = repository.get_customer(customer_id)
    if customer is None:
        raise MergeError(f"no customer {customer_id}")
    return customer


def merge_customers(
    repository: MergeStores, source_id: str, target_id: str, by: str, at: datetime
) -> MergeRecord:
    """Merge `source` into `target`: its identities and tickets move, and the merge is recorded."""
    if source_id == target_id:
        raise MergeError("a customer cannot be merged into itself")
    source, target = _load(repository, source_id), _load(repository, target_id)
    if source.merged_into is not None:
        raise MergeError(f"customer {source_id} was already merged into {source.merged_into}")
    if target.merged_into is not None:
        raise MergeError(f"customer {target_id} was merged into {target.merged_into}; merge into that one")
    tickets = repository.list_customer_tickets(source_id)
    record = MergeRecord(
        id=new_id("mrg", at),
        source_id=source_id,
        identities=list(source.identities),
        ticket_ids=[t.id for t in tickets],
        at=at,
        by=by,
    )
    merged_target = target.model_copy(
        update={
            "identities": [*target.identities, *(i for i in source.identities if i not in target.identities)],
            "opted_out": sorted({*target.opted_out, *source.opted_out}),
            "merges": [*target.merges, record],
        }
    )
    emptied_source = source.model_copy(update={"merged_into": target_id, "identities": []})
    repository.save_merge(
        [merged_target, emptied_source],
        {identity_key(i.kind.value, i.value): target_id for i in source.identities},
        {t.id: target_id for t in tickets},
    )
    return record


def unmerge_customers(
    repository: MergeStores, target_id: str, merge_id: str, by: str, at: datetime
) -> MergeRecord:
    """Undo a recorded merge: identities and tickets go back to the customer they came from."""
    target = _load(repository, target_id)
    record = next((m for m in target.merges if m.id == merge_id), None)
    if record is None:
        raise MergeError(f"customer {target_id} has no merge {merge_id}")
    if record.undone_at is not None:
        raise MergeError(f"merge {merge_id} was already undone at {record.undone_at.isoformat()}")
    source = _load(repository, record.source_id)
    undone = record.model_copy(update={"undone_at": at, "undone_by": by})
    restored_target = target.model_copy(
        update={
            "identities": [i for i in target.identities if i not in record.identities],
            "merges": [undone if m.id == merge_id else m for m in target.merges],
        }
    )
    restored_source = source.model_copy(update={"merged_into": None, "identities": list(record.identities)})
    repository.save_merge(
        [restored_target, restored_source],
        {identity_key(i.kind.value, i.value): source.id for i in record.identities},
        dict.fromkeys(record.ticket_ids, source.id),
    )
    return undone


def customer_attributes(
    identities: list[Identity], config: HelpdeskConfig
) -> tuple[str | None, dict[str, str]]:
    """Tier and custom fields the config's customer rules give to a customer with these identities."""
    tier: str | None = None
    fields: dict[str, str] = {}
    values = {_rule_key(i.value) for i in identities}
    domains = {v.rpartition("@")[2] for v in values if "@" in v}
    for rule in config.customers:
        wanted = {ascii_domain(d) for d in rule.email_domains}  # `bücher.de` or `xn--bcher-kva.de`
        if values & {_rule_key(v) for v in rule.identities} or domains & wanted:
            tier = rule.tier or tier
            fields.update(rule.fields)
    return tier, fields


def _rule_key(value: str) -> str:
    """An identity as config rules compare it: emails by `address_key` (IDNA domain), else lower case."""
    return address_key(value) if "@" in value else value.lower()
