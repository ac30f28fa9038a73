"""`helpdesk index rebuild` on moto: the views and the search index rebuilt from the tickets are
the ones route_ticket's live projection made, whatever was lost or wrong, and a rebuild running
beside the stream leaves them as the stream alone would."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import boto3

from shared.dal.items import ViewCountItem, ViewEntryItem, ViewStateItem
from shared.dal.repository import DynamoRepository
from shared.dal.views import ViewEntry
from shared.logic.rebuild import RebuildOptions, rebuild_indexes
from simulator.cli import main
from simulator.resources import Deployment
from tests.integration.conftest import EmailHarness, mail
from tests.integration.test_agent_api import call, id_token
from tests.integration.test_agent_api_search import search
from tests.integration.test_agent_api_views import desk, numbers, pump

__all__ = ["desk"]  # the fixture

ADMIN = {**id_token("carol"), "cognito:groups": "[admins]"}
BOOKKEEPING = ("seq", "version")
"""What a state counts changes with (the stream record it is as of, its version), not what it holds."""


def index_items(deployment: Deployment, keep: Sequence[str] = ()) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the views and the search index (a Scan: tests only), without the states'
    bookkeeping unless kept, and without counts of 0 (a view a ticket only passed through, such as
    the shared inbox before routing, keeps a count of 0: read as no count)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=deployment.name("TicketsTable")):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if sk == "COUNT" and item["total"]["N"] == "0":
                continue
            if pk.startswith(("VIEW#", "SEARCH#")) or sk in ("VIEWS", "SEARCH"):
                drop = [] if sk not in ("VIEWS", "SEARCH") else [k for k in BOOKKEEPING if k not in keep]
                items[(pk, sk)] = {k: v for k, v in item.items() if k not in drop}
    return items


def wipe(deployment: Deployment, keys: Sequence[tuple[str, str]]) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    for pk, sk in keys:
        client.delete_item(TableName=deployment.name("TicketsTable"), Key={"pk": {"S": pk}, "sk": {"S": sk}})


def rebuild(deployment: Deployment, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        ["index", "rebuild", "--table", deployment.name("TicketsTable"), "--region", "us-east-1", *args], out
    )
    return code, out.getvalue()


def three_tickets(desk: EmailHarness, deployment: Deployment) -> None:
    cursor: dict[str, str] = {}
    desk.deliver(mail(subject="Refund for my order", body="The refunded amount is wrong.\n"))
    desk.deliver(mail(subject="Printer on fire", body="The toner smells of smoke.\n"))
    desk.deliver(mail(subject="Wrong invoice amount", body="My printer invoice is wrong.\n"))
    pump(deployment, cursor)
    assert call("POST", "/tickets/2/notes", {"text": "Sent a technician, Müller."}, agent="alice")[0] == 201
    assert call("PATCH", "/tickets/1", {"priority": "urgent", "tags_add": ["vip"]}, claims=ADMIN)[0] == 200
    pump(deployment, cursor)


def test_a_wiped_index_is_rebuilt_as_the_stream_built_it(desk: EmailHarness, deployment: Deployment) -> None:
    # Given three tickets the stream projected, and their views and search index wiped
    three_tickets(desk, deployment)
    live = index_items(deployment)
    assert {pk.split("#")[0] for pk, _ in live} >= {"VIEW", "SEARCH"}
    wipe(deployment, list(live))
    assert index_items(deployment) == {}

    # When a dry run runs, it reports every ticket to repair and writes nothing
    code, output = rebuild(deployment, "--dry-run")
    assert code == 0
    assert "views would repair: 3" in output
    assert "search would repair: 3" in output
    assert index_items(deployment) == {}

    # When the rebuild runs, the index is item for item the one the stream made
    code, output = rebuild(deployment)
    assert (code, index_items(deployment)) == (0, live), output
    # (numbers come from blocks, decision 121: the counter may stand past the last ticket's number)
    walked = re.search(r"tickets #1 to #(\d+): 3 rebuilt(, (\d+) numbers? without a ticket)?;", output)
    assert walked is not None, output
    assert int(walked.group(1)) - 3 == int(walked.group(3) or 0)

    # And running it again finds nothing to do
    kept = index_items(deployment, keep=BOOKKEEPING)
    code, output = rebuild(deployment, "--views", "--search")
    assert (code, "views in sync: 3" in output, "search in sync: 3" in output) == (0, True, True)
    assert index_items(deployment, keep=BOOKKEEPING) == kept


def test_lost_wrong_and_stale_entries_are_repaired_within_the_numbers_asked(
    desk: EmailHarness, deployment: Deployment
) -> None:
    three_tickets(desk, deployment)
    live = index_items(deployment, keep=("seq",))
    repository = DynamoRepository(deployment.name("TicketsTable"), "us-east-1")
    ticket_id = _ticket_id(repository, 1)
    state = repository.view_state(ticket_id)
    assert state is not None
    # Given ticket #1's index damaged: a view entry lost, another with a wrong summary, a stale one
    # (a projection bug put it, its count and its place in the state, in a view it is not in), and
    # a search entry lost
    (lost, lost_sk), (wrong, wrong_sk) = sorted(state.entries.items())[:2]
    refund = next(key for key in live if key[0].endswith("#refun*"))
    wipe(deployment, [(lost, lost_sk), refund])
    ViewEntryItem(pk=wrong, sk=wrong_sk, ticket_id=ticket_id, summary={"id": ticket_id}).save()
    bogus = ("VIEW#-#tag:bogus", f"E#2026-01-01T00:00:00.000Z#{ticket_id}")
    ViewEntryItem(pk=bogus[0], sk=bogus[1], ticket_id=ticket_id, summary={"id": ticket_id}).save()
    ViewCountItem(pk=bogus[0], sk="COUNT", total=1).save()
    entries = {**state.entries, bogus[0]: bogus[1]}
    ViewStateItem(pk=f"TICKET#{ticket_id}", sk="VIEWS", seq=state.seq, entries=entries).save()
    assert numbers(search("refun")[1]) == []

    # When tickets #2 to #3 are rebuilt, #1 is left as it is
    code, output = rebuild(deployment, "--from-number", "2", "--to-number", "3")
    assert code == 0
    assert "#1 " not in output
    assert bogus in index_items(deployment)

    # When #1 is rebuilt, it is as the stream made it (the bogus view's count back to 0)
    code, output = rebuild(deployment, "--from-number", "1", "--to-number", "1")
    assert code == 0
    assert f"#1 {ticket_id} views: repaired (2 entries to write, 1 to delete)" in output
    assert f"#1 {ticket_id} search: repaired (1 entries to write, 0 to delete)" in output
    assert index_items(deployment, keep=("seq",)) == live
    assert numbers(search("refun")[1]) == [1]


def _ticket_id(repository: DynamoRepository, number: int) -> str:
    pointer = repository.get_pointers([("number", str(number))])[("number", str(number))]
    assert pointer.ticket_id is not None
    return pointer.ticket_id


def test_a_rebuild_and_the_live_stream_interleave_to_what_the_stream_alone_makes(
    desk: EmailHarness, deployment: Deployment
) -> None:
    three_tickets(desk, deployment)
    live = index_items(deployment)
    wipe(deployment, list(live))
    # Given changes whose stream records are not applied yet
    cursor_after: dict[str, str] = {}
    pump(deployment, cursor_after)  # nothing pending: the cursor is at the stream's end
    assert call("PATCH", "/tickets/2", {"priority": "low", "tags_add": ["fire"]}, claims=ADMIN)[0] == 200

    second = _ticket_id(DynamoRepository(deployment.name("TicketsTable"), "us-east-1"), 2)

    # When the rebuild runs, and #2's change is applied live between its reads and its write
    class Racing(DynamoRepository):
        raced = False

        def view_entries(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ViewEntry]:
            if not Racing.raced and any(k[1].endswith(second) for k in keys):
                Racing.raced = True
                pump(deployment, cursor_after)  # the stream applies the PATCH first
            return super().view_entries(keys)

    report = rebuild_indexes(Racing(deployment.name("TicketsTable"), "us-east-1"), RebuildOptions())
    assert (Racing.raced, report.busy) == (True, [])
    assert report.outcomes[("views", "in_sync")] + report.outcomes[("views", "repaired")] == 3
    # and another change's records come after the rebuild
    assert call("PATCH", "/tickets/3", {"status": "resolved"}, claims=ADMIN)[0] == 200
    pump(deployment, cursor_after)

    # Then a rebuild finds nothing to repair: the index is the projection of the tickets as they are
    code, output = rebuild(deployment)
    assert code == 0
    assert "views in sync: 3" in output
    assert "search in sync: 3" in output
    counts = {pk: int(i["total"]["N"]) for (pk, sk), i in index_items(deployment).items() if sk == "COUNT"}
    held = {pk for (pk, sk) in index_items(deployment) if pk.startswith("VIEW#") and sk.startswith("E#")}
    for partition, total in counts.items():
        assert total == sum(
            1 for (pk, sk) in index_items(deployment) if pk == partition and sk.startswith("E#")
        )
    assert any(p.endswith("#tag:fire#0") for p in held)
    assert numbers(search("fir")[1]) == [2]
