"""Who sent an inbound email, and where we answer it (pure functions, no I/O).

The customer is the From address, which DMARC authenticates. Reply-To is only where we answer
when it belongs to the same organisation as From, or when From is a relay the config names (a web
form or shop writing on behalf of the person in Reply-To). See docs/decisions.md, 40 to 42.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from shared.channels.email.addresses import (
    address_domain,
    address_key,
    ascii_domain,
    first_valid_mailbox,
    is_addr_spec,
)
from shared.models.email import MULTIPLE_FROM_DEFECT, EmailAddress, ParsedEmail

IdentitySource = Literal["from", "relay-reply-to", "sender", "none"]
DmarcPolicy = Literal["none", "quarantine", "reject"]

QUARANTINED_POLICIES: frozenset[str] = frozenset({"quarantine", "reject"})

# Second-level labels under which country-code TLDs register names (`example.co.uk`). The
# organisational domain of `mail.example.co.uk` is then `example.co.uk`, not `co.uk`.
_SECOND_LEVEL = frozenset(
    {"ac", "co", "com", "edu", "gov", "gob", "go", "ltd", "me", "mil", "ne", "net", "nom", "or", "org", "plc"}
)


_VOUCHING_STATUSES = frozenset({"PASS", "GRAY", "DISABLED", "NONE"})


@dataclass(frozen=True)
class Dmarc:
    """SES's DMARC verdict on the mail's From domain (`NONE` when SES gave none), and that domain's
    published policy (SES reports it only when the check fails)."""

    status: str = "PASS"
    policy: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    @property
    def vouches(self) -> bool:
        """Whether the verdict leaves the From as trusted as its domain allows: a pass, or a domain
        that publishes no policy (`GRAY`), scanning disabled or no verdict. A failure, a check
        that could not run (`PROCESSING_FAILED`) or a status we do not know does not."""
        return self.status in _VOUCHING_STATUSES

    @property
    def effective_policy(self) -> DmarcPolicy:
        """The policy of a failing mail; an unknown or missing policy counts as `none`."""
        policy = (self.policy or "none").strip().lower()
        return policy if policy in ("quarantine", "reject") else "none"  # type: ignore[return-value]

    @property
    def quarantines(self) -> bool:
        """A forged From whose domain asks receivers to reject or quarantine such mail."""
        return self.failed and self.effective_policy in QUARANTINED_POLICIES


@dataclass
class SenderIdentity:
    """The customer an email speaks for, where answers go, and why.

    `key` is the identity key (`address_key`) of `customer`; `verified` says whether the sender is
    authenticated well enough to join a ticket by a subject token or plus-address alone.
    """

    customer: EmailAddress | None
    key: str | None
    answer_to: str | None
    source: IdentitySource
    verified: bool
    from_address: str | None = None
    reply_to: str | None = None
    flags: list[str] = field(default_factory=list)
    why: str = ""

    def as_event_data(self) -> dict[str, object]:
        """What a ticket event records about the sender."""
        data: dict[str, object] = {
            "from": self.from_address,
            "customer": self.key,
            "answer_to": self.answer_to,
            "source": self.source,
            "verified": self.verified,
            "why": self.why,
        }
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        return data


def organisational_domain(domain: str) -> str:
    """The registrable domain: the last two labels, or three under a country code's second level.

    `mail.customer.example` -> `customer.example`; `shop.example.co.uk` -> `example.co.uk`. A
    simplification of the public suffix list, documented in docs/decisions.md (40).
    """
    labels = [label for label in ascii_domain(domain).split(".") if label]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(address: str, other: str) -> bool:
    """Whether two addresses belong to the same organisation (same organisational domain)."""
    first, second = address_domain(address), address_domain(other)
    return bool(first and second) and organisational_domain(first) == organisational_domain(second)


def is_relay(address: str, relay_senders: Iterable[str]) -> bool:
    """Whether an address is one of the configured relays (`forms@web.example` or `@web.example`)."""
    key = address_key(address)
    domain = key.rpartition("@")[2]
    for entry in relay_senders:
        local, _, relay_domain = entry.strip().rpartition("@")
        if local and address_key(entry) == key:
            return True
        if not local and ascii_domain(relay_domain) == domain:
            return True
    return False


def from_mailbox(parsed: ParsedEmail) -> tuple[EmailAddress | None, list[str]]:
    """The From mailbox as an identity, and flags about how it was read.

    The parser's sender may come from Reply-To or Return-Path when From holds no address (Zammad's
    rule, good for display): that is never taken as From here. A From that is not one plain
    `local@domain` is read like the standard library does (its first valid address) and flagged
    `from_malformed`.
    """
    written = parsed.from_header or ""
    chosen = parsed.from_
    from_written = chosen is not None and chosen.address.strip().lower() in written.lower()
    if chosen is not None and from_written and is_addr_spec(chosen.address.strip()):
        if _addresses_written(written) == 1 and MULTIPLE_FROM_DEFECT not in parsed.defects:
            return chosen, []
        # Two authors, two From headers, or an address outside the brackets: DMARC may have
        # checked another address than the one we read, so it vouches for nobody here.
        return chosen, ["from_malformed"]
    repaired = first_valid_mailbox(written) if written else None
    if repaired is not None:
        name = chosen.name if chosen is not None and from_written and chosen.name != chosen.address else ""
        return EmailAddress(name=name or repaired.name, address=repaired.address), ["from_malformed"]
    return None, ["from_missing"] if not written.strip() or "@" not in written else ["from_malformed"]


def _addresses_written(header: str) -> int:
    """How many `@` a From header holds outside quoted strings and comments (one per address)."""
    count = depth = 0
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif char == '"' and not depth:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")" and depth:
            depth -= 1
        elif char == "@" and not quoted and not depth:
            count += 1
    return count


def resolve_sender(parsed: ParsedEmail, dmarc: Dmarc, relay_senders: Iterable[str]) -> SenderIdentity:
    """Who the customer is and where we answer, from From, Reply-To, the DMARC verdict and the relays.

    - The customer is From. A failed DMARC check or one that could not run (`PROCESSING_FAILED`),
      or a From we had to repair or that may name someone else, makes it unverified.
    - A single Reply-To other than From is where we answer when it shares From's organisational
      domain and DMARC did not fail; it is the customer (and where we answer) when From is a
      configured relay that passed DMARC. Otherwise it is ignored, and flagged `reply_to_ignored`.
    - Without a From address, the Sender header speaks (unverified); else nobody.
    """
    mailbox, flags = from_mailbox(parsed)
    replies = [r for r in parsed.reply_to if is_addr_spec(r.address.strip())]
    reply = replies[0] if len(replies) == 1 else None
    if mailbox is None:
        return _without_from(parsed, reply, flags)
    identity = _from_identity(mailbox, dmarc, flags, reply)
    if reply is None or address_key(reply.address.strip()) == identity.key:
        return identity
    return _weigh_reply_to(identity, reply, dmarc, list(relay_senders))


def _without_from(parsed: ParsedEmail, reply: EmailAddress | None, flags: list[str]) -> SenderIdentity:
    """No From address: the Sender header speaks, unverified; else nobody (a Reply-To is ignored)."""
    reply_address = reply.address.strip() if reply is not None else None
    sender = parsed.sender if parsed.sender is not None and is_addr_spec(parsed.sender.address) else None
    if reply is not None:
        flags.append("reply_to_ignored")
    if sender is None:
        return SenderIdentity(
            None, None, None, "none", False, None, reply_address, flags, "no From or Sender address"
        )
    return SenderIdentity(
        customer=sender,
        key=address_key(sender.address),
        answer_to=sender.address.strip(),
        source="sender",
        verified=False,
        reply_to=reply_address,
        flags=flags,
        why="no From address: the Sender header speaks, unverified",
    )


def _from_identity(
    mailbox: EmailAddress, dmarc: Dmarc, flags: list[str], reply: EmailAddress | None
) -> SenderIdentity:
    """From is the customer and where we answer; verified when DMARC vouches and From is well formed."""
    from_address = mailbox.address.strip()
    return SenderIdentity(
        customer=mailbox,
        key=address_key(from_address),
        answer_to=from_address,
        source="from",
        verified=dmarc.vouches and not flags,
        from_address=from_address,
        reply_to=reply.address.strip() if reply is not None else None,
        flags=flags,
        why=f"From ({_trust(dmarc, flags)})",
    )


def _trust(dmarc: Dmarc, flags: list[str]) -> str:
    """How far the From is trusted, in words for the `why`."""
    if dmarc.failed or flags:
        return "DMARC fail" if dmarc.failed else "malformed From"
    trust = "no DMARC verdict" if dmarc.status == "NONE" else f"DMARC {dmarc.status.lower()}"
    return trust if dmarc.vouches else trust + ", unverified"


def _weigh_reply_to(
    identity: SenderIdentity, reply: EmailAddress, dmarc: Dmarc, relays: list[str]
) -> SenderIdentity:
    """A Reply-To other than From: the customer behind a trusted relay, where we answer when aligned
    with From, else ignored (flagged `reply_to_ignored`)."""
    reply_address = reply.address.strip()
    from_address = identity.from_address or ""
    if dmarc.status == "PASS" and not identity.flags and is_relay(from_address, relays):
        identity.customer = reply
        identity.key = address_key(reply_address)
        identity.answer_to = reply_address
        identity.source = "relay-reply-to"
        identity.verified = False  # the relay vouches for the address, nobody authenticated it
        identity.why = "Reply-To of a configured relay (DMARC pass); the relay's word, unverified"
        return identity
    if not dmarc.failed and aligned(reply_address, from_address):
        identity.answer_to = reply_address
        identity.why += "; Reply-To aligned with From, answers go there"
        return identity
    identity.flags.append("reply_to_ignored")
    reason = "DMARC failed" if dmarc.failed else "not aligned with From"
    identity.why += f"; Reply-To ignored ({reason}), answers go to From"
    return identity
