"""Email threading: which ticket an inbound email belongs to, and why (pure functions, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from shared.channels.email.addresses import address_key
from shared.models.email import ParsedEmail
from shared.models.ticket import Ticket, TicketStatus

Method = Literal["in-reply-to", "references", "subject-token", "plus-address", "bounce"]

GUESSABLE: frozenset[str] = frozenset({"subject-token", "plus-address"})
"""Methods anyone can use who knows (or guesses) a ticket number, unlike a Message-ID of the thread."""

MAX_REFERENCES = 40
_MSGID = re.compile(r"<[^<>\s]+>")


def normalize_message_id(value: str) -> str | None:
    """`<Id@Host>` as we key it: angle brackets kept, surrounding space dropped; None if not an id."""
    value = value.strip()
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return match.group(0)
    inner = value.strip("<>")
    if "@" in inner and not any(ch.isspace() or ch in "<>" for ch in inner):
        return f"<{inner}>"
    return None


def reference_chain(parsed: ParsedEmail) -> list[tuple[Method, str]]:
    """Message ids to look up, strongest first: In-Reply-To, then References newest first."""
    seen: set[str] = set()
    chain: list[tuple[Method, str]] = []
    for method, values in (("in-reply-to", parsed.in_reply_to), ("references", reversed(parsed.references))):
        for raw in values:
            msgid = normalize_message_id(raw)
            if msgid and msgid not in seen:
                seen.add(msgid)
                chain.append((method, msgid))  # type: ignore[arg-type]
    return chain[:MAX_REFERENCES]


def subject_token(subject: str, prefix: str = "#") -> int | None:
    """The ticket number in a `[#123]` subject token, if any (the last one wins)."""
    pattern = re.compile(r"\[\s*" + re.escape(prefix) + r"\s*(\d{1,12})\s*\]")
    matches = pattern.findall(subject or "")
    return int(matches[-1]) if matches else None


def plus_token(recipients: Iterable[str], support_addresses: Iterable[str], domain: str) -> int | None:
    """The ticket number in a plus-addressed recipient `support+123@domain` of one of our addresses."""
    ours = {address.lower() for address in support_addresses}
    for recipient in recipients:
        local, _, host = recipient.strip().lower().partition("@")
        base, plus, tag = local.partition("+")
        if not plus or not host:
            continue
        if f"{base}@{host}" not in ours and host != domain.lower():
            continue
        digits = tag.lstrip("t#")
        if digits.isdigit():
            return int(digits)
    return None


def is_ours(address: str, support_addresses: Iterable[str], domain: str) -> bool:
    """Whether an address is one of the helpdesk's own (any address at the support domain, plus-tags too)."""
    address = address.strip().lower()
    local, _, host = address.partition("@")
    if host == domain.lower():
        return True
    base = local.partition("+")[0]
    return f"{base}@{host}" in {a.lower() for a in support_addresses}


def participants_of(parsed: ParsedEmail, support_addresses: Iterable[str], domain: str) -> list[str]:
    """From, Reply-To, To and Cc addresses that are not ours, keyed like identities (`address_key`)."""
    addresses = [*([parsed.from_] if parsed.from_ else []), *parsed.reply_to, *parsed.to, *parsed.cc]
    result: list[str] = []
    for address in addresses:
        value = address_key(address.address)
        if "@" in value and not is_ours(value, support_addresses, domain) and value not in result:
            result.append(value)
    return result


@dataclass(frozen=True)
class Candidate:
    """A ticket an email may belong to, found by `method` through `ref`."""

    ticket_id: str
    method: Method
    ref: str


@dataclass
class ThreadDecision:
    """Join `ticket_id` (reopening it or not), or open a new ticket (linked to `linked_ticket_id`)."""

    ticket_id: str | None
    method: Method | None
    ref: str | None
    reason: str
    reopen: bool = False
    linked_ticket_id: str | None = None
    rejected: list[dict[str, str]] = field(default_factory=list)


def decide_thread(
    candidates: list[Candidate],
    tickets: dict[str, Ticket],
    sender: str | None,
    sender_customer_id: str | None,
    now: datetime,
    reopen_closed_within: timedelta,
    automatic: bool,
    verified: bool,
) -> ThreadDecision:
    """Choose the ticket for an inbound email among candidates found in threading order.

    A candidate is refused when the sender is neither the ticket's customer nor a participant
    (guards against newsletters and forwards replying into someone else's ticket), when an
    unverified sender (DMARC failed, malformed From, a relay's Reply-To) offers only a subject
    token or plus-address (ticket numbers rise close together, so are easy to guess), or when the ticket was
    closed longer ago than the reopen window: then a new ticket is opened, linked to it.
    """
    rejected: list[dict[str, str]] = []
    link: str | None = None
    for candidate in candidates:
        ticket = tickets.get(candidate.ticket_id)
        if ticket is None:
            rejected.append({"ticket_id": candidate.ticket_id, "method": candidate.method, "why": "missing"})
            continue
        why = _refusal(candidate, ticket, sender, sender_customer_id, verified, now, reopen_closed_within)
        if why is not None:
            rejected.append({"ticket_id": ticket.id, "method": candidate.method, "why": why})
            link = link or ticket.id
            continue
        return ThreadDecision(
            ticket_id=ticket.id,
            method=candidate.method,
            ref=candidate.ref,
            reason=f"matched by {candidate.method}",
            reopen=not automatic and ticket.status in _REOPENED_BY_CUSTOMER,
            rejected=rejected,
        )
    return _new_ticket(rejected, link)


_REOPENED_BY_CUSTOMER = frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED})
"""Statuses a customer's (not an automatic) message reopens when it joins the ticket."""


def _refusal(
    candidate: Candidate,
    ticket: Ticket,
    sender: str | None,
    sender_customer_id: str | None,
    verified: bool,
    now: datetime,
    reopen_closed_within: timedelta,
) -> str | None:
    """Why an email may not join `ticket` (`sender-unverified`, `sender-not-participant`,
    `closed-too-long`), or None when it may."""
    known = (sender_customer_id is not None and sender_customer_id == ticket.customer_id) or (
        sender is not None and sender in {address_key(p) for p in ticket.participants}
    )
    if not verified and candidate.method in GUESSABLE:
        return "sender-unverified"
    if not known:
        return "sender-not-participant"
    if ticket.status == TicketStatus.CLOSED and (
        ticket.closed_at is None or now - ticket.closed_at > reopen_closed_within
    ):
        return "closed-too-long"
    return None


def _new_ticket(rejected: list[dict[str, str]], link: str | None) -> ThreadDecision:
    """No candidate accepted: a new ticket, linked to the first refused one."""
    if link is not None:
        reason = "new ticket: " + ", ".join(sorted({r["why"] for r in rejected}))
    else:
        reason = "new ticket: no reference, token or plus-address matched"
    return ThreadDecision(
        ticket_id=None, method=None, ref=None, reason=reason, linked_ticket_id=link, rejected=rejected
    )


MAX_MERGE_HOPS = 5
"""How many `merged_into` links ingestion follows (A merged into B, B into C...)."""


class TicketReads(Protocol):
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...


def follow_merges(ticket: Ticket, tickets: TicketReads) -> Ticket:
    """The ticket a message for `ticket` belongs in: the one it was merged into, if any (following
    at most MAX_MERGE_HOPS links; decision 87)."""
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into is None:
            return ticket
        survivor = tickets.get_ticket(ticket.merged_into)
        if survivor is None:
            return ticket
        ticket = survivor
    return ticket
