"""PynamoDB item classes of the single tickets table (docs/data-model.md lists every access pattern).

Key layout (pk / sk):
- `TICKET#<id>` / `TICKET`                 the ticket
- `TICKET#<id>` / `MSG#<iso time>#<id>`    its messages, in time order
- `TICKET#<id>` / `EVENT#<iso time>#<write id>#<index>`  its history
- `CUSTOMER#<id>` / `CUSTOMER`             a customer
- `PTR#<kind>#<value>` / `PTR`             a pointer: message reference, inbound dedupe key,
                                           ticket number or customer identity -> ticket / customer
- `QUARANTINE#<id>` / `QUARANTINE`         a quarantined inbound message
- `QUARANTINE#<id>` / `RAW#<nnn>`          the parts of its raw input when too long for the entry
- `COUNTER#<name>` / `COUNTER`             atomic counters (ticket numbers)
- `VIEW#<scope>#<view>` / `E#<sort>#<ticket id>`  a ticket in a view (a team's queue of work)
- `VIEW#<scope>#<view>` / `COUNT`          how many tickets the view holds
- `TICKET#<id>` / `VIEWS`                  the views a ticket is in, as of a stream record
- `MENTIONS#<agent id>` / `<at>#<ticket id>#<message id>`  an agent named in a note
- `SEARCH#<scope>#<term>` / `E#<created>#<ticket id>`  a ticket whose words include the term
- `TICKET#<id>` / `SEARCH`                 the ticket's search terms and scope, as of a stream record
- `REPORT#<dimension>#<value>` / `DAY#<date>`  a per-day report aggregate (counts, duration sketches)
- `REPORT#<dimension>#<value>` / `DAY#<date>#S`  a sealed per-day report aggregate (decision 112)
- `REPORTDIM#<dimension>` / `VALUE#<value>`  a value seen in a report dimension
- `TICKET#<id>` / `LEDGER`                 the ticket's metric ledger, as the aggregates hold it
- `DELIVERY#<key>` / `DELIVERY`            a scheduled delivery (digest email, range alert) and its state
- `PACE#<channel>#<shard>` / `<second>`    send slots taken in a second of a paced channel (TTL)
- `LIVECONN#<connection id>` / `CONN`      an agent's open WebSocket connection (TTL `expires_at`)
- `LIVE#<all|team|agent|admin>#<value>` / `CONN#<connection id>`  the connections a push may reach
- `LIVELOG#<yyyymmddhh>#<shard>` / `<at>#<event id>`  a pushed change, kept a day for catching up
- `TICKET#<id>` / `VIEWER#<agent id>`      an agent viewing or composing on the ticket (short TTL)
GSI1 (`gsi1pk`, `gsi1sk`): `CUSTOMER#<id>` -> the customer's tickets by creation time;
`QUARANTINE` -> quarantine entries by time; `ACTOR#<agent id>` -> the events an agent caused, by time;
`VIEWING#<connection id>` -> the tickets a live connection's agent is on.
GSI2 (`gsi2pk`, `gsi2sk`) also holds `QUARANTINE#<reason>` -> quarantine entries of one reason by time,
and `DELIVERYSENDING` -> scheduled deliveries claimed and not yet settled, by claim time.
GSI3 (`gsi3pk`, `gsi3sk`, keys only): `SLADUE#<shard>` -> tickets by next SLA deadline;
`UNROUTED#<shard>` -> tickets no routing decision reached yet, by creation time (decision 117).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

DEFAULT_TABLE_NAME = "helpdesk-tickets"

MAX_BATCH_GET = 100
"""Most keys DynamoDB accepts in one BatchGetItem."""


class _Meta:
    table_name = DEFAULT_TABLE_NAME
    region = "us-east-1"


class Gsi1(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Customer -> tickets, and the quarantine list, ordered by time."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class SlaDueIndex(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Sparse: tickets with an SLA deadline still to come, by shard, ordered by that deadline."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class DeadlineIndex(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Sparse, keys only: tickets by shard, ordered by next SLA deadline (`SLADUE#<shard>`) or by
    creation while no routing decision reached them (`UNROUTED#<shard>`); readers get the tickets."""

    class Meta:
        index_name = "gsi3"
        projection = KeysOnlyProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class QuarantineReasonIndex(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """`gsi2` as quarantine entries use it: one partition per reason, ordered by time."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class PointerItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="PTR")
    kind = UnicodeAttribute()
    ticket_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    direction = UnicodeAttribute(null=True)
    last_inbound_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


class TicketItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="TICKET")
    entity = UnicodeAttribute(default="ticket")
    id = UnicodeAttribute()
    number = NumberAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    priority = UnicodeAttribute()
    subject = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute()
    team = UnicodeAttribute(null=True)
    assignee = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    flags = ListAttribute(of=UnicodeAttribute, default=list)
    group_id = UnicodeAttribute(null=True)
    linked_ticket_id = UnicodeAttribute(null=True)
    custom_fields = JSONAttribute(null=True)
    sla = JSONAttribute(null=True)
    sla_policy = UnicodeAttribute(null=True)
    participants = ListAttribute(of=UnicodeAttribute, default=list)
    inbox = UnicodeAttribute(null=True)
    preview = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    skills = ListAttribute(of=UnicodeAttribute, default=list)
    load_holder = UnicodeAttribute(null=True)
    load_stale = BooleanAttribute(null=True)
    queued_at = UnicodeAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)
    merge = JSONAttribute(null=True)
    merged_from = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    last_inbound_at = UnicodeAttribute(null=True)
    resolved_at = UnicodeAttribute(null=True)
    closed_at = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_customer = Gsi1()
    gsi2pk = UnicodeAttribute(null=True)
    """Legacy (before decision 117): removed from a ticket when its deadline keys are next written."""
    gsi2sk = UnicodeAttribute(null=True)
    legacy_deadlines = SlaDueIndex()
    """`gsi2` as tickets used it before decision 117: read only by the migration to `gsi3`."""
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    deadlines = DeadlineIndex()


class MessageItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="message")
    id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    direction = UnicodeAttribute()
    channel = UnicodeAttribute()
    at = UnicodeAttribute()
    author = UnicodeAttribute()
    external_id = UnicodeAttribute(null=True)
    provider_id = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    text = UnicodeAttribute(default="")
    full_text = UnicodeAttribute(null=True)
    html = UnicodeAttribute(null=True)
    html_bytes = NumberAttribute(null=True)
    """Size of `html` in UTF-8 (absent: no HTML), so a conversation page says it without reading it."""
    merged_from = ListAttribute(of=UnicodeAttribute, null=True)
    moved_at = UnicodeAttribute(null=True)
    body_key = UnicodeAttribute(null=True)
    raw_key = UnicodeAttribute(null=True)
    automatic = NumberAttribute(default=0)
    flags = ListAttribute(of=UnicodeAttribute, default=list)
    attachments = JSONAttribute(null=True)
    headers = JSONAttribute(null=True)


class EventItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="event")
    at = UnicodeAttribute()
    type = UnicodeAttribute()
    data = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    """`ACTOR#<agent id>` on the events an agent caused (those whose data names them as `by`)."""
    gsi1sk = UnicodeAttribute(null=True)
    by_actor = Gsi1()


class CustomerItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="CUSTOMER")
    entity = UnicodeAttribute(default="customer")
    id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    identities = JSONAttribute(null=True)
    opted_out = ListAttribute(of=UnicodeAttribute, default=list)
    consent = JSONAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)
    merges = JSONAttribute(null=True)
    tier = UnicodeAttribute(null=True)
    fields = JSONAttribute(null=True)
    created_at = UnicodeAttribute()


class QuarantineItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="QUARANTINE")
    entity = UnicodeAttribute(default="quarantine")
    id = UnicodeAttribute()
    reason = UnicodeAttribute()
    at = UnicodeAttribute()
    ref = UnicodeAttribute()
    channel = UnicodeAttribute()
    raw_key = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute(default="QUARANTINE")
    gsi1sk = UnicodeAttribute()
    listing = Gsi1()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_reason = QuarantineReasonIndex()
    released_by = UnicodeAttribute(null=True)
    released_at = UnicodeAttribute(null=True)
    released_ticket_id = UnicodeAttribute(null=True)


class QuarantinePartItem(Model):
    """One part of a quarantined input's raw form, in order (the entry has only its beginning)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="quarantine_part")
    text = UnicodeAttribute()


class AgentItem(Model):
    """An agent's live state: presence and open tickets per capacity group (claimed atomically)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="AGENT")
    entity = UnicodeAttribute(default="agent")
    id = UnicodeAttribute()
    presence = UnicodeAttribute(default="offline")
    teams = ListAttribute(of=UnicodeAttribute, default=list)
    load_email = NumberAttribute(default=0)
    load_sms = NumberAttribute(default=0)
    load_social = NumberAttribute(default=0)
    last_assigned_at = UnicodeAttribute(default="")
    presence_changed_at = UnicodeAttribute(null=True)
    away_since = UnicodeAttribute(null=True)
    """When the current absence (away or offline, without coming online between) began."""
    away_until = UnicodeAttribute(null=True)
    """When the agent said they would be back (set with an away or offline presence)."""


class QueueItem(Model):
    """A ticket waiting for an agent of a team: sorted by priority rank, then waiting time."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="queue")
    ticket_id = UnicodeAttribute()
    team = UnicodeAttribute()
    priority = UnicodeAttribute()
    channel = UnicodeAttribute()
    queued_at = UnicodeAttribute()


class OutboxItem(Model):
    """An outbound message, recorded before it is sent (its key makes every send happen once)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="OUTBOX")
    entity = UnicodeAttribute(default="outbox")
    key = UnicodeAttribute()
    status = UnicodeAttribute()
    ticket_id = UnicodeAttribute(null=True)
    channel = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = UnicodeAttribute()
    body = JSONAttribute()
    """The whole OutboundMessage as JSON."""
    attempts = NumberAttribute(default=0)
    redeliveries = NumberAttribute(null=True)
    """How often the sweeper wrote the pending message again after its stream delivery was lost."""
    provider_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    """The `OUTBOX` listing dropped by decision 119: never written; items queued before it lose
    these keys when a send claims them."""
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    retries = SlaDueIndex()
    """Sparse: messages waiting to be sent (`OUTBOXPENDING#<n>`, by when they became pending),
    waiting for another try (`OUTBOXRETRY#<n>`, by retry time) and being sent (`OUTBOXSENDING#<n>`,
    by claim time, until the result is recorded); n is the key's shard (decision 119)."""


class PaceItem(Model):
    """Sends of a paced channel started in one second, on one of its pace shards (decision 120)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="pace")
    taken = NumberAttribute(default=0)
    expires_at = NumberAttribute()


class CounterItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="COUNTER")
    value = NumberAttribute(default=0)


class MacroItem(Model):
    """A canned response of a team: `MACROS#<team>` / `MACRO#<id>`."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="macro")
    id = UnicodeAttribute()
    team = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    actions = JSONAttribute(null=True)
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    updated_by = UnicodeAttribute()


class ViewEntryItem(Model):
    """A ticket in one view partition: `VIEW#<scope>#<view>#<shard>` / `E#<sort value>#<ticket id>`, with
    the ticket's summary, so a page of a view is one Query of these items."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="view")
    ticket_id = UnicodeAttribute()
    summary = JSONAttribute()


class ViewCountItem(Model):
    """How many tickets a view partition holds: `VIEW#<scope>#<view>#<shard>` / `COUNT`, changed only in
    the transaction that adds or removes an entry (so a retried change never counts twice)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="COUNT")
    entity = UnicodeAttribute(default="view_count")
    total = NumberAttribute(default=0)


class ViewStateItem(Model):
    """Where a ticket stands in the views: `TICKET#<id>` / `VIEWS`, the view partitions it is in
    (with each entry's sort key) as of the stream record `seq` that put it there."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="VIEWS")
    entity = UnicodeAttribute(default="view_state")
    seq = NumberAttribute()
    entries = JSONAttribute()
    shown = UnicodeAttribute(null=True)
    """A digest of the summary the entries show (absent on states written before it was kept)."""


class MentionItem(Model):
    """An agent named in a note: `MENTIONS#<agent id>` / `<at>#<ticket id>#<message id>`, written
    with the note, so an agent's mentions are one Query, newest first."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="mention")
    ticket_id = UnicodeAttribute()
    ticket_number = NumberAttribute()
    message_id = UnicodeAttribute()
    by = UnicodeAttribute()
    at = UnicodeAttribute()
    excerpt = UnicodeAttribute()


class SearchEntryItem(Model):
    """A ticket under one search term: `SEARCH#<scope>#<term>` / `E#<created at>#<ticket id>` (keys
    only: a search reads the tickets it finds, so nothing here goes stale when a ticket changes)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="search")
    ticket_id = UnicodeAttribute()


class SearchStateItem(Model):
    """A ticket's place in the search index: `TICKET#<id>` / `SEARCH`, its terms, its scope and
    entry sort key as of the ticket's stream record `seq`, and a version every change checks."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="SEARCH")
    entity = UnicodeAttribute(default="search_state")
    seq = NumberAttribute(default=0)
    scope = UnicodeAttribute(null=True)
    sort = UnicodeAttribute(null=True)
    terms = JSONAttribute()
    version = NumberAttribute()


class ReportDayItem(Model):
    """One per-day aggregate: `REPORT#<dimension>#<value>` / `DAY#<local date>`. Its counts and
    duration sketches are flat numeric attributes named by `shared.models.reports` (`c#...`,
    `d#...`), changed only with `ADD`, so they are not declared here."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="report_day")


class SealedDayItem(Model):
    """A sealed per-day aggregate: `REPORT#<dimension>#<value>` / `DAY#<local date>#S`, what the
    live item held when it was last sealed (zlib JSON, its sketches as packed integers) and how many
    times it was sealed (decision 112)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="report_sealed")
    blob = BinaryAttribute(legacy_encoding=False)
    rev = NumberAttribute()


class ReportDimensionItem(Model):
    """A value seen in a report dimension: `REPORTDIM#<dimension>` / `VALUE#<value>`."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="report_dimension")
    dimension = UnicodeAttribute()
    value = UnicodeAttribute()


class LedgerItem(Model):
    """A ticket's metric ledger as the aggregates hold it: `TICKET#<id>` / `LEDGER` (zlib-compressed
    JSON), the ticket version it was computed from, its revision (every applied change adds one),
    and, while a change too large for one transaction is applied, the ledger it goes to and the next
    chunk to apply (decision 95)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="LEDGER")
    entity = UnicodeAttribute(default="ledger")
    ledger = BinaryAttribute(legacy_encoding=False, null=True)
    version = NumberAttribute(null=True)
    rev = NumberAttribute(default=0)
    pending = BinaryAttribute(legacy_encoding=False, null=True)
    step = NumberAttribute(null=True)


class ReportClockItem(Model):
    """How current the report aggregates are: `REPORTCLOCK#<n>` / `CLOCK` (decision 127; the keys'
    default is the one item of older releases), the stream time of the newest ticket change a
    route_ticket process projected, and when it did."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, default="REPORTCLOCK")
    sk = UnicodeAttribute(range_key=True, default="CLOCK")
    entity = UnicodeAttribute(default="report_clock")
    stream_at = UnicodeAttribute()
    processed_at = UnicodeAttribute()


class ExportJobItem(Model):
    """An export job of the reports API: `EXPORT#<id>` / `EXPORT`, the job as JSON, and when the
    table's TTL removes it (with its files, decision 103)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="EXPORT")
    entity = UnicodeAttribute(default="export_job")
    job = UnicodeAttribute()
    rev = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)


class DeliveryItem(Model):
    """A scheduled delivery (a digest email, a range alert): claimed before it is sent, settled
    after, so a repeated schedule run sends it once (decision 100)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="DELIVERY")
    entity = UnicodeAttribute(default="delivery")
    key = UnicodeAttribute()
    state = UnicodeAttribute()
    """`sending`, `sent`, `retry` (a transient failure released it), `failed` or `unknown`."""
    claimed_at = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    detail = UnicodeAttribute(null=True)
    """The provider's message id once sent; the reason once failed, unknown or released."""
    settled_at = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    """The table's TTL (epoch seconds): the marker outlives any run that could repeat it."""
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    sending = SlaDueIndex()
    """Sparse: `DELIVERYSENDING`, by claim time, while claimed and not settled."""


class LiveConnectionItem(Model):
    """An agent's WebSocket connection (`LIVECONN#<id>` / `CONN`), and each listing of it in a
    partition pushes read (`LIVE#<kind>#<value>` / `CONN#<id>`), with the scope pushes filter by."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="live")
    connection_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    role = NumberAttribute()
    teams = ListAttribute(of=UnicodeAttribute, default=list)
    listed_in = ListAttribute(of=UnicodeAttribute, default=list)
    """On the connection's own item: the partitions it is listed in (its disconnect removes them)."""
    connected_at = UnicodeAttribute()
    expires_at = NumberAttribute()
    """Epoch seconds: the table's TTL removes items of connections that never said goodbye."""


class LiveChangeItem(Model):
    """A change event as pushed (`LIVELOG#<hour>#<shard>` / `<at>#<event id>`), kept a day so a UI
    that reconnects can read what it missed (`GET /changes`)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="live_change")
    event = UnicodeAttribute()
    """The LiveEvent as JSON."""
    expires_at = NumberAttribute()


class ViewerItem(Model):
    """An agent on a ticket's screen (`TICKET#<id>` / `VIEWER#<agent>`): viewing or composing a
    reply, as their UI last said, until `expires_at` (decision 111)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(default="viewer")
    agent_id = UnicodeAttribute()
    state = UnicodeAttribute()
    """`viewing` or `composing`."""
    at = UnicodeAttribute()
    """When the UI last said so."""
    since = UnicodeAttribute(null=True)
    """When this state began (kept by confirmations of it): the start of its work span."""
    connection_id = UnicodeAttribute(null=True)
    """The connection that said so last: its close removes the item."""
    gsi1pk = UnicodeAttribute(null=True)
    """`VIEWING#<connection id>`: what a connection's close removes."""
    gsi1sk = UnicodeAttribute(null=True)
    by_connection = Gsi1()
    expires_at = NumberAttribute()


ALL_ITEMS: tuple[type[Model], ...] = (
    PointerItem,
    ReportClockItem,
    TicketItem,
    MessageItem,
    EventItem,
    CustomerItem,
    QuarantineItem,
    QuarantinePartItem,
    CounterItem,
    AgentItem,
    QueueItem,
    OutboxItem,
    PaceItem,
    MacroItem,
    ViewEntryItem,
    ViewCountItem,
    ViewStateItem,
    MentionItem,
    SearchEntryItem,
    SearchStateItem,
    ReportDayItem,
    SealedDayItem,
    ReportDimensionItem,
    LedgerItem,
    ExportJobItem,
    DeliveryItem,
    LiveConnectionItem,
    LiveChangeItem,
    ViewerItem,
)


def bind_table(table_name: str, region: str, host: str | None = None) -> None:
    """Point every item class at the deployed table (names come from settings, not code)."""
    for item in ALL_ITEMS:
        meta: Any = item.Meta
        if meta.table_name != table_name or meta.region != region or getattr(meta, "host", None) != host:
            meta.table_name = table_name
            meta.region = region
            meta.host = host
            item._connection = None


def reset_connections() -> None:
    """Drop cached connections (tests and the simulator start fresh moto backends)."""
    for item in ALL_ITEMS:
        item._connection = None
