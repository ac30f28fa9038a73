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
the views), sorted by its creation time, and under the first 3 and 5 letters of each term. The last
word of a query, when it has 3 letters or more and nothing follows it, is the word being typed: a
term must start with it (`refun` finds `refund`). A search reads the partitions of the caller's
scopes for the longest whole word (likely the rarest), else for the longest indexed prefix of the
word being typed, newest first, a page at a time, and keeps the tickets that are still in that
scope and whose terms hold the other words (and one starting with the word being typed). A page
reads at most `limit` entries per scope, `limit` tickets and `limit` search states, however many
tickets there are; it may hold fewer than `limit` tickets (even none) and still have a next cursor.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from shared import clock
from shared.dal.search import (
    PREFIX_LENGTHS,
    SearchChanges,
    SearchHit,
    SearchIndex,
    SearchSlice,
    SearchState,
    prefix_partition,
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


@dataclass(frozen=True)
class Query:
    words: list[str]
    """Words a ticket's terms must hold whole."""
    prefix: str | None
    """The word being typed (the last, at least 3 letters, nothing after it): a term must start with it."""

    @property
    def terms(self) -> list[str]:
        return [*self.words, *([self.prefix] if self.prefix else [])]


def query_terms(q: str) -> list[str]:
    """The terms a search looks for (the first `MAX_QUERY_TERMS`), or InvalidSearchError."""
    terms = terms_of([q], MAX_QUERY_TERMS)
    if not terms:
        raise InvalidSearchError(
            "q: no word to search for (words of 2 to 40 letters or digits, not only common ones like 'the')"
        )
    return terms


def parse_query(q: str) -> Query:
    """The words of `q`; its last word is a prefix when q ends with it (typing `refun` finds
    `refund`; `refun ` with a space looks for the whole word) and it has 3 letters or more."""
    terms = query_terms(q)
    last = terms[-1]
    typed = _SPLIT.split(fold(q))[-1] == last and len(last) >= PREFIX_LENGTHS[0]
    if not typed:
        return Query(terms, None)
    words = [t for t in terms[:-1] if t != last]
    return Query(words, last)


def driver_partition(query: Query, scope: str) -> tuple[str, bool]:
    """The partition a search of the scope reads (that of its longest whole word, else the longest
    indexed prefix of the word being typed) and whether its hits must be checked against the other
    words (their tickets' terms)."""
    if query.words:
        driver = max(query.words, key=len)
        return search_partition(scope, driver), len(query.words) > 1 or query.prefix is not None
    prefix = query.prefix or ""
    length = max(n for n in PREFIX_LENGTHS if n <= len(prefix))
    return prefix_partition(scope, prefix[:length]), length < len(prefix)


def holds(query: Query, terms: Iterable[str]) -> bool:
    """Whether a ticket's terms hold every word whole and one starting with the word being typed."""
    have = set(terms)
    if not set(query.words) <= have:
        return False
    return query.prefix is None or any(t.startswith(query.prefix) for t in have)


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
    """One page of the tickets of the caller's scopes whose terms hold every word of `q` (the last
    one being typed: as the start of a term), newest first."""
    query = parse_query(q)
    scopes = scopes_of(caller, config, team)
    scope_of = {driver_partition(query, scope)[0]: scope for scope in scopes}
    check = driver_partition(query, scopes[0])[1]
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
    found = _matching(hits, scope_of, query if check else None, index)
    more = any(p != _END for p in new_positions)
    return SearchPage(
        query.terms, [summary(t) for t in found], encode_cursor(new_positions) if more else None
    )


def _matching(
    hits: list[tuple[str, SearchHit]], scope_of: dict[str, str], query: Query | None, index: SearchIndex
) -> list[Ticket]:
    """The tickets of the hits still in the scope they were found in, whose terms hold the query
    (None: the partition read says so already). An entry may be a moment behind its ticket: the
    stream is read after the write."""
    ids = [hit.ticket_id for _, hit in hits]
    tickets = index.search_tickets(ids) if ids else {}
    states = index.search_states(ids) if ids and query is not None else {}
    found = []
    for name, hit in hits:
        ticket = tickets.get(hit.ticket_id)
        if ticket is None or (ticket.team or NO_TEAM) != scope_of[name]:
            continue
        state = states.get(hit.ticket_id)
        if query is not None and (state is None or not holds(query, state.terms)):
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


# -- rebuilding -----------------------------------------------------------------------------------


def rebuilt_terms(ticket: Ticket, messages: Iterable[Message], before: SearchState | None) -> tuple[str, ...]:
    """The terms the stream gives the ticket as it is now: those of its subject, then of its
    messages in order (automatic ones aside), the first `MAX_TERMS`; the ones its state has already
    keep their place, words the ticket no longer says (an old subject, a message moved out) go."""
    fresh = terms_of([ticket.subject, *(m.text for m in messages if not m.automatic)])
    kept = [t for t in before.terms if t in set(fresh)] if before is not None else []
    return _union(tuple(kept), fresh)


def rebuild_changes(
    ticket_id: str,
    ticket: Ticket | None,
    messages: Iterable[Message],
    before: SearchState | None,
    index: SearchIndex,
) -> SearchChanges | None:
    """The changes that make the ticket's search entries and state what the stream makes of the
    ticket and messages as they are now, against its state `before` (read before them), keeping the
    state's sequence number: entries missing written, entries the state no longer has removed. None
    when the index is so already."""
    if ticket is None and before is None:
        return None
    seq, version = (before.seq, before.version + 1) if before is not None else (0, 1)
    after = (
        SearchState(seq, None, None, (), version)
        if ticket is None
        else SearchState(
            seq,
            ticket.team or NO_TEAM,
            clock.iso(ticket.created_at),
            rebuilt_terms(ticket, messages, before),
            version,
        )
    )
    wanted = sorted(after.entries(ticket_id))
    changes = SearchChanges(
        ticket_id, before, after, index.search_entries_stored(wanted) if wanted else frozenset()
    )
    same = before is not None and replace(before, version=version) == after
    if same and not changes.puts and not changes.deletes:
        return None
    return changes
