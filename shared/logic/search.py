"""Search tickets by the words of their subject and messages: a keyword index in the table, kept
up to date from the tickets table's stream (decision 89).

A word is a term once lower-cased, accent-folded (`Café` is `cafe`) and split on anything that is
not a letter or digit; terms of one character, over `MAX_TERM_LENGTH` or in `STOP_WORDS` are not
kept. A ticket's terms are those of its subject and of its messages (inbound, outbound and notes;
not automatic ones, whose boilerplate every ticket shares), the first `MAX_TERMS` in the order they
came. Terms are only ever added while the ticket exists: a subject edited, or a message moved out
by a merge or split, leaves its words findable (a search may find a ticket that no longer says
them; never miss one that does, up to the cap).

A ticket is an entry under each term in the partition of its scope (its team, `-` for none, as
the views), sorted by its creation time: a search reads the partitions of the caller's scopes for
the longest word (likely the rarest), newest first, a page at a time, and keeps the tickets that
are still in that scope and whose terms hold the other words. A page reads at most `limit`
entries per scope, `limit` tickets and `limit` search states, however many tickets there are; it
may hold fewer than `limit` tickets (even none) and still have a next cursor.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared import clock
from shared.dal.search import (
    SearchChanges,
    SearchHit,
    SearchIndex,
    SearchSlice,
    SearchState,
    search_partition,
)
from shared.errors import HelpdeskError
from shared.logic.cursors import decode_cursor, encode_cursor
from shared.logic.permissions import Principal
from shared.logic.views import NO_TEAM, scopes_of, summary
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Message, Ticket

MAX_TERMS = 200
"""Terms kept per ticket: bounds the entries a ticket writes (and its search state's size)."""
MAX_TERM_LENGTH = 40
MAX_QUERY_TERMS = 8
ATTEMPTS = 3
"""Reads and writes of a ticket's search state before its record is left to the stream's retry."""
_COMMON = (
    "a an and are as at be but by for from has have i if in into is it its me my no not of on or our"
    " so that the their there this to was we were will with you your re fw fwd"
)
STOP_WORDS = frozenset(_COMMON.split(" "))
_SPLIT = re.compile(r"[\W_]+")
_START, _END = "^", "$"
_POSITION = re.compile(r"E#[^\x00-\x1f]{1,300}")


class InvalidSearchError(HelpdeskError):
    """A search with no word to look for (HTTP 400)."""


class SearchConflictError(HelpdeskError):
    """A ticket's search state kept changing while a record was applied (the record is retried)."""


# -- terms ----------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-cased, compatibility-decomposed text without combining marks (`Ｃafé` -> `cafe`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms_of(texts: Iterable[str | None], limit: int = MAX_TERMS) -> list[str]:
    """The distinct terms of the texts, in the order they first come, at most `limit`."""
    terms: dict[str, None] = {}
    for text in texts:
        for word in _SPLIT.split(fold(text or "")):
            if 2 <= len(word) <= MAX_TERM_LENGTH and word not in STOP_WORDS and word.isprintable():
                terms.setdefault(word)
                if len(terms) >= limit:
                    return list(terms)
    return list(terms)


def message_terms(message: Message) -> list[str]:
    """The terms a message gives its ticket (none for automatic messages)."""
    return [] if message.automatic else terms_of([message.text])


def _union(old: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*old, *new]))[:MAX_TERMS]


# -- keeping the index ----------------------------------------------------------------------------


def ticket_state(after: Ticket | None, seq: int, before: SearchState | None) -> SearchState:
    """The ticket's search state after its stream record `seq`: in its team's scope with the words
    of its subject added, or out of every scope with no terms when it is gone."""
    version = before.version + 1 if before is not None else 1
    if after is None:
        return SearchState(seq, None, None, (), version)
    terms = _union(before.terms if before is not None else (), terms_of([after.subject]))
    return SearchState(seq, after.team or NO_TEAM, clock.iso(after.created_at), terms, version)


def project_ticket(
    ticket_id: str, after: Ticket | None, seq: int, index: SearchIndex
) -> SearchChanges | None:
    """Bring the ticket's search entries up to date with stream record `seq` of the ticket (None
    when it is gone). A record older than the one the state is at is skipped. None: nothing done."""
    for _ in range(ATTEMPTS):
        before = index.search_state(ticket_id)
        if before is not None and before.seq >= seq:
            return None
        changes = SearchChanges(ticket_id, before, ticket_state(after, seq, before))
        if index.apply_search_changes(changes):
            return changes
    raise SearchConflictError(f"ticket {ticket_id}: its search state kept changing")


def project_message(message: Message, index: SearchIndex) -> SearchChanges | None:
    """Add a message's terms to its ticket's (in any order, any number of times: a union). None:
    nothing new."""
    words = message_terms(message)
    for _ in range(ATTEMPTS):
        before = index.search_state(message.ticket_id)
        old = before or SearchState(0, None, None, (), 0)
        terms = _union(old.terms, words)
        if terms == old.terms:
            return None
        after = SearchState(old.seq, old.scope, old.sort, terms, old.version + 1)
        changes = SearchChanges(message.ticket_id, before, after)
        if index.apply_search_changes(changes):
            return changes
    raise SearchConflictError(f"ticket {message.ticket_id}: its search state kept changing")


# -- searching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    terms: list[str]
    tickets: list[dict[str, Any]]
    cursor: str | None


def query_terms(q: str) -> list[str]:
    """The terms a search looks for (the first `MAX_QUERY_TERMS`), or InvalidSearchError."""
    terms = terms_of([q], MAX_QUERY_TERMS)
    if not terms:
        raise InvalidSearchError(
            "q: no word to search for (words of 2 to 40 letters or digits, not only common ones like 'the')"
        )
    return terms


def _is_position(text: str) -> bool:
    return text in (_START, _END) or _POSITION.fullmatch(text) is not None


def search_tickets(
    caller: Principal,
    config: HelpdeskConfig,
    q: str,
    team: str | None,
    limit: int,
    cursor: str | None,
    index: SearchIndex,
) -> SearchPage:
    """One page of the tickets of the caller's scopes whose terms hold every word of `q`, newest first."""
    terms = query_terms(q)
    driver = max(terms, key=len)
    scope_of = {search_partition(scope, driver): scope for scope in scopes_of(caller, config, team)}
    names = list(scope_of)
    positions = (
        decode_cursor(cursor, len(names), *[_is_position] * len(names)) if cursor else [_START] * len(names)
    )
    slices = {
        name: index.search_slice(name, limit, None if position == _START else position)
        for name, position in zip(names, positions, strict=True)
        if position != _END
    }
    merged = sorted(((hit.sk, name, hit) for name, part in slices.items() for hit in part.hits), reverse=True)
    hits = [(name, hit) for _, name, hit in merged[:limit]]
    new_positions = [
        _next_position(position, slices.get(name), [h for n, h in hits if n == name])
        for name, position in zip(names, positions, strict=True)
    ]
    found = _matching(hits, scope_of, terms, index)
    more = any(p != _END for p in new_positions)
    return SearchPage(terms, [summary(t) for t in found], encode_cursor(new_positions) if more else None)


def _matching(
    hits: list[tuple[str, SearchHit]], scope_of: dict[str, str], terms: list[str], index: SearchIndex
) -> list[Ticket]:
    """The tickets of the hits still in the scope they were found in, whose terms hold every word
    (an entry may be a moment behind its ticket: the stream is read after the write)."""
    ids = [hit.ticket_id for _, hit in hits]
    tickets = index.search_tickets(ids) if ids else {}
    states = index.search_states(ids) if ids and len(terms) > 1 else {}
    found = []
    for name, hit in hits:
        ticket = tickets.get(hit.ticket_id)
        if ticket is None or (ticket.team or NO_TEAM) != scope_of[name]:
            continue
        state = states.get(hit.ticket_id)
        if len(terms) > 1 and (state is None or not set(terms) <= set(state.terms)):
            continue
        found.append(ticket)
    return found


def _next_position(position: str, part: SearchSlice | None, used: list[SearchHit]) -> str:
    """Where the partition's next page starts: after the last hit this page took from it; the end
    when it took all that was left."""
    if position == _END or part is None:
        return _END
    if len(used) == len(part.hits):
        return part.last if part.last is not None else _END
    return used[-1].sk if used else position
