"""MacroStore in memory: one partition per team, writes conditional on the version."""

from __future__ import annotations

from shared.dal.items import MacroItem
from shared.dal.macros import macro_from_item, macro_item
from shared.errors import ConflictError
from shared.models.macros import Macro
from tests.fakes.table import MemoryStore, absent, as_model, delete_op, equals, put_op


class MemoryMacros(MemoryStore):
    """MacroStore on the in-memory table."""

    def list_macros(self, team: str) -> list[Macro]:
        macros = [
            macro_from_item(as_model(MacroItem, item)) for item in self.table.partition(f"MACROS#{team}")
        ]
        return sorted(macros, key=lambda m: (m.title.casefold(), m.id))

    def get_macro(self, team: str, macro_id: str) -> Macro | None:
        item = self.table.get((f"MACROS#{team}", f"MACRO#{macro_id}"))
        return macro_from_item(as_model(MacroItem, item)) if item is not None else None

    def save_macro(self, macro: Macro, expected_version: int | None) -> None:
        condition = absent if expected_version is None else equals("version", expected_version)
        if self.table.transact([put_op(macro_item(macro), condition=condition)]):
            raise ConflictError(f"macro {macro.id} changed meanwhile")

    def delete_macro(self, team: str, macro_id: str, expected_version: int) -> None:
        change = delete_op(
            (f"MACROS#{team}", f"MACRO#{macro_id}"), condition=equals("version", expected_version)
        )
        if self.table.transact([change]):
            raise ConflictError(f"macro {macro_id} changed or was deleted meanwhile")
