"""The views agents work from, kept up to date from the tickets table's stream.

A ticket belongs to view partitions named `VIEW#<scope>#<view>`, where the scope is its team (`-`
for a ticket no team owns: the shared inbox) and the view one of:

- `recent`: every ticket;
- `status:<status>`: the tickets in that status (`waiting` is `status:pending`: waiting on the
  customer);
- `open`: the tickets not resolved or closed, the team's work; `unassigned`: those nobody holds;
- `priority:<p>`, `channel:<c>`, `inbox:<i>`, `tag:<t>`: the open tickets with that value;
- `breaching`: the open tickets with an SLA target not met, by its due time, soonest (or most
  overdue) first; every other view is sorted by the last update, newest first;

and `VIEW#@<agent>#mine`, the open tickets assigned to the agent. Each is written in
`views.shards` shards (the config's, decision 126): a ticket's entries are in shard
`n = hash(ticket id) mod shards` of each view (`VIEW#<scope>#<view>#<n>`), so a busy view's writes
spread over that many partitions. A caller's view is the union of the shards of their scopes (their
teams and `-`; an admin's: every team), merged exactly by entry key a page at a time from one
position (the last key shown), which every shard reads on from: the items a page reads depend on the
page size, the scopes and the shards, never on how many tickets there are. `project` turns a
ticket's change (the stream's new image) into the entries to add, remove and move, writing only
those whose key or summary changed (decision 125; shared/dal/views.py stores them, counting each
once).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared import clock
from shared.dal.views import ViewChanges, ViewEntry, ViewIndex, ViewState
from shared.errors import HelpdeskError
from shared.logic.cursors import decode_cursor, encode_cursor
from shared.logic.permissions import ForbiddenActionError, Principal, Role
from shared.models.config import HelpdeskConfig
from shared.models.ticket import Channel, Priority, Ticket, TicketStatus

NO_TEAM = "-"
"""The scope of tickets no team owns (the shared inbox every agent sees)."""
SOLVED = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
ALIASES = {"waiting": "status:pending"}
FIXED_VIEWS = ("mine", "unassigned", "open", "waiting", "breaching", "recent")
DIMENSIONS = {
    "status": frozenset(s.value for s in TicketStatus),
    "priority": frozenset(p.value for p in Priority),
    "channel": frozenset(c.value for c in Channel),
    "tag": None,
    "inbox": None,
}
"""Views with a value after the colon: the values allowed (None: any text of 1 to 200 characters)."""
COUNTED = (
    *FIXED_VIEWS,
    *(f"status:{s.value}" for s in TicketStatus),
    *(f"priority:{p.value}" for p in Priority),
    *(f"channel:{c.value}" for c in Channel),
)
"""The views `GET /views` lists with their counts (tags and inboxes are asked for by name)."""
MAX_TAG_VIEWS = 30
"""A ticket is in the views of its first 30 tags: so that a change's counts fit one transaction
(at most 2 x (8 + 30) partitions entered or left, and the state, under DynamoDB's 100)."""
ATTEMPTS = 3
"""Reads and writes of a ticket's view state before its record is left to the stream's retry."""
_POSITION = re.compile(r"E#[^\x00-\x1f]{1,1200}")


class InvalidViewError(HelpdeskError):
    """No such view (HTTP 404)."""


class ViewConflictError(HelpdeskError):
    """A ticket's view state kept changing while a record was applied (the record is retried)."""


# -- which views a ticket is in -------------------------------------------------------------------


def next_due(ticket: Ticket) -> datetime | None:
    """The soonest due time of the ticket's SLA targets not met (breached ones included: overdue
    sorts first)."""
    dues = [t.due_at for t in ticket.sla.targets if t.state in ("pending", "breached") and t.due_at]
    return min(dues, default=None)


def summary(ticket: Ticket) -> dict[str, Any]:
    """What a view shows of a ticket, so a page is read from the view alone."""
    due = next_due(ticket)
    return {
        "id": ticket.id,
        "number": ticket.number,
        "subject": ticket.subject or (ticket.preview or "")[:120] or None,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "channel": ticket.channel.value,
        "team": ticket.team,
        "assignee": ticket.assignee,
        "customer_id": ticket.customer_id,
        "tags": list(ticket.tags),
        "created_at": clock.iso(ticket.created_at),
        "updated_at": clock.iso(ticket.updated_at),
        "due_at": clock.iso(due) if due else None,
        "version": ticket.version,
    }


def view_summary(ticket: Ticket) -> dict[str, Any]:
    """What a view entry shows: the summary without the version, which every change moves, so a
    change that moves nothing else (an SLA mark, a routing note) rewrites no entry (decision 125)."""
    shown = summary(ticket)
    del shown["version"]
    return shown


def digest(shown: dict[str, Any]) -> str:
    """A short stable digest of a summary, kept in the view state to tell whether it changed."""
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def shard_of(ticket_id: str, shards: int) -> int:
    """The shard of every view entry of the ticket: stable across processes and deployments."""
    if shards == 1:
        return 0
    return int.from_bytes(hashlib.blake2b(ticket_id.encode(), digest_size=4).digest(), "big") % shards


def shard_partitions(base: str, shards: int) -> list[str]:
    """The partitions of a view (`VIEW#<scope>#<view>`) in `shards` shards."""
    return [f"{base}#{n}" for n in range(shards)]


def entries_of(ticket: Ticket, shards: int = 1) -> list[ViewEntry]:
    """Every view entry of the ticket as it is now, in its shard of each view."""
    scope = ticket.team or NO_TEAM
    updated = clock.iso(ticket.updated_at)
    views: list[tuple[str, str]] = [("recent", updated), (f"status:{ticket.status.value}", updated)]
    if ticket.status not in SOLVED:
        views += [("open", updated), (f"priority:{ticket.priority.value}", updated)]
        views.append((f"channel:{ticket.channel.value}", updated))
        views += [(f"inbox:{ticket.inbox}", updated)] if ticket.inbox else []
        views += [(f"tag:{tag}", updated) for tag in list(dict.fromkeys(ticket.tags))[:MAX_TAG_VIEWS]]
        views += [("unassigned", updated)] if ticket.assignee is None else []
        due = next_due(ticket)
        views += [("breaching", clock.iso(due))] if due is not None else []
    shown = view_summary(ticket)
    n = shard_of(ticket.id, shards)
    entries = [ViewEntry(f"VIEW#{scope}#{view}#{n}", sort, ticket.id, shown) for view, sort in views]
    if ticket.assignee is not None and ticket.status not in SOLVED:
        entries.append(ViewEntry(f"VIEW#@{ticket.assignee}#mine#{n}", updated, ticket.id, shown))
    return entries


def changes_for(
    ticket_id: str, after: Ticket | None, seq: int, before: ViewState | None, shards: int = 1
) -> ViewChanges:
    """The ticket's entries as it is now (none when it is gone), the entries it had elsewhere, and
    the partitions it entered and left, against where it stood (`before`). An entry whose key and
    summary are as the state has them is not written again."""
    entries = entries_of(after, shards) if after is not None else []
    shown = digest(entries[0].summary) if entries else None
    new = {e.partition: e for e in entries}
    old = before.entries if before is not None else {}
    stale = [
        (partition, sk)
        for partition, sk in sorted(old.items())
        if new.get(partition) is None or new[partition].sk != sk
    ]
    counts = {p: 1 for p in new if p not in old} | {p: -1 for p in old if p not in new}
    same = shown is not None and before is not None and before.shown == shown
    kept = frozenset((p, e.sk) for p, e in new.items() if same and old.get(p) == e.sk)
    return ViewChanges(ticket_id, seq, entries, stale, counts, before, kept, shown)


def project(
    ticket_id: str, after: Ticket | None, seq: int, index: ViewIndex, shards: int = 1
) -> ViewChanges | None:
    """Bring the views (in `shards` shards) up to date with the ticket as stream record `seq` shows
    it. A record older than the one the views are at is skipped; one applied twice counts once; one
    whose state was replaced meanwhile (by a rebuild) is computed again. None: nothing done."""
    for _ in range(ATTEMPTS):
        before = index.view_state(ticket_id)
        if before is not None and before.seq >= seq:
            return None
        changes = changes_for(ticket_id, after, seq, before, shards)
        if index.apply_view_changes(changes):
            return changes
    raise ViewConflictError(f"ticket {ticket_id}: its view state kept changing")


def rebuild_changes(
    ticket_id: str, ticket: Ticket | None, before: ViewState | None, index: ViewIndex, shards: int = 1
) -> ViewChanges | None:
    """The changes that make the ticket's views (in `shards` shards) what the stream's projection
    of the ticket as it is now makes them, against its state `before` (read before the ticket),
    keeping the state's sequence number: entries missing or with another summary written, entries
    the state has elsewhere (another shard count, the layout before shards) removed, counts moved.
    None when the views are so already."""
    if before is None and ticket is None:
        return None
    changes = changes_for(ticket_id, ticket, before.seq if before is not None else 0, before, shards)
    keys = [(e.partition, e.sk) for e in changes.entries]
    stored = index.view_entries(keys) if keys else {}
    fine = frozenset(
        key
        for key, entry in zip(keys, changes.entries, strict=True)
        if key in stored and stored[key].summary == entry.summary
    )
    changes = replace(changes, stored=fine)
    if changes.state == before and not changes.stale and not changes.writes:
        return None
    return changes


# -- reading a view -------------------------------------------------------------------------------


def view_name(name: str) -> str:
    """The stored name of a view (`waiting` is `status:pending`), or InvalidViewError."""
    name = ALIASES.get(name, name)
    if name in FIXED_VIEWS:
        return name
    dimension, _, value = name.partition(":")
    if dimension not in DIMENSIONS or not value or len(value) > 200:
        raise InvalidViewError(f"no view {name!r}")
    allowed = DIMENSIONS[dimension]
    if allowed is not None and value not in allowed:
        raise InvalidViewError(f"no view {name!r}: {dimension} is one of {', '.join(sorted(allowed))}")
    return name


def scopes_of(caller: Principal, config: HelpdeskConfig, team: str | None) -> list[str]:
    """The scopes a caller's view reads: one team they may see, or all of theirs and the shared inbox."""
    mine = [t.id for t in config.teams] if caller.role is Role.ADMIN else sorted(caller.teams)
    if team is None:
        return [*mine, NO_TEAM]
    if team != NO_TEAM and team not in mine:
        raise ForbiddenActionError(f"team {team!r} is not one of yours")
    return [team]


def partitions(caller: Principal, config: HelpdeskConfig, view: str, team: str | None) -> list[str]:
    """Every partition (each shard of each scope) a caller's view reads."""
    name = view_name(view)
    if name == "mine":
        bases = [f"VIEW#@{caller.agent_id}#mine"]
    else:
        bases = [f"VIEW#{scope}#{name}" for scope in scopes_of(caller, config, team)]
    return [p for base in bases for p in shard_partitions(base, config.views.shards)]


@dataclass(frozen=True)
class ViewPage:
    view: str
    tickets: list[dict[str, Any]]
    count: int
    cursor: str | None


def merge_page(
    names: Sequence[str], limit: int, ascending: bool, after: str | None, index: ViewIndex
) -> tuple[list[ViewEntry], bool]:
    """The first `limit` entries of the partitions strictly after the position `after`, in entry
    key order (a k-way merge), and whether more follow. Each partition is read a few entries at a
    time, and read on only when the merge has taken all it read of it: every partition with more
    entries always has its next one at hand, so no entry is taken before a smaller one."""
    batch = max(2, -(-limit // len(names)) + 1)
    read = {name: index.view_slice(name, batch, ascending, after) for name in names}
    heads = {name: deque(part.entries) for name, part in read.items()}
    lasts = {name: part.last for name, part in read.items()}
    taken: list[ViewEntry] = []
    pick = min if ascending else max
    while any(heads.values()):
        if len(taken) == limit:
            return taken, True
        name = pick((queue[0].sk, name) for name, queue in heads.items() if queue)[1]
        taken.append(heads[name].popleft())
        last = lasts[name]
        if not heads[name] and last is not None:
            more = index.view_slice(name, batch, ascending, last)
            heads[name].extend(more.entries)
            lasts[name] = more.last
    return taken, False


def _is_position(text: str) -> bool:
    return _POSITION.fullmatch(text) is not None


def read_view(
    caller: Principal,
    config: HelpdeskConfig,
    view: str,
    team: str | None,
    limit: int,
    cursor: str | None,
    index: ViewIndex,
) -> ViewPage:
    """One page of a view: the shards of the caller's scopes merged in the view's order. The
    cursor is the last entry key shown: every shard reads on strictly after it."""
    names = partitions(caller, config, view, team)
    after = decode_cursor(cursor, 1, _is_position)[0] if cursor else None
    taken, more = merge_page(names, limit, view_name(view) == "breaching", after, index)
    counts = index.view_counts(names)
    return ViewPage(
        view=view_name(view),
        tickets=[entry.summary for entry in taken],
        count=sum(counts.values()),
        cursor=encode_cursor([taken[-1].sk]) if more else None,
    )


def view_counts(
    caller: Principal,
    config: HelpdeskConfig,
    team: str | None,
    index: ViewIndex,
    views: Sequence[str] = COUNTED,
) -> dict[str, int]:
    """How many tickets each of the views holds for the caller: the counts of every shard of each
    scope, summed (one BatchGetItem per 100 partitions)."""
    wanted = {view: partitions(caller, config, view, team) for view in views}
    counts = index.view_counts([p for names in wanted.values() for p in names])
    return {view: sum(counts[p] for p in names) for view, names in wanted.items()}
