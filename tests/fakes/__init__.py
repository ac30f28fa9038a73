"""In-memory stores with the semantics of `shared.dal`'s DynamoDB stores, for unit tests.

One module per aggregate, like `shared/dal/`; every store works on a `MemoryTable` it is given, so
stores built on the same table share one state (`MemoryRepository` is all of them on one table).
`tests/integration/test_dal_contract.py` runs the same tests on these and on DynamoDB (moto)."""

from tests.fakes.agents import MemoryAgents
from tests.fakes.audit import MemoryAudit
from tests.fakes.conversation import MemoryConversation
from tests.fakes.customers import MemoryCustomers
from tests.fakes.deadlines import MemoryDeadlines
from tests.fakes.macros import MemoryMacros
from tests.fakes.outbox import MemoryOutbox
from tests.fakes.pointers import MemoryPointers
from tests.fakes.quarantine import MemoryQuarantine
from tests.fakes.repository import MemoryRepository
from tests.fakes.table import MemoryTable
from tests.fakes.ticket_moves import MemoryTicketMoves
from tests.fakes.tickets import MemoryTickets

__all__ = [
    "MemoryAgents",
    "MemoryAudit",
    "MemoryConversation",
    "MemoryCustomers",
    "MemoryDeadlines",
    "MemoryMacros",
    "MemoryOutbox",
    "MemoryPointers",
    "MemoryQuarantine",
    "MemoryRepository",
    "MemoryTable",
    "MemoryTicketMoves",
    "MemoryTickets",
]
