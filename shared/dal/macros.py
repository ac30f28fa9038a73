"""Canned responses: one partition per team (`MACROS#<team>`), one item per macro, each write
conditional on the version the editor saw."""

from __future__ import annotations

from typing import Protocol

from pynamodb.exceptions import DeleteError, PutError

from shared import clock
from shared.dal.base import raise_if_permanent
from shared.dal.items import MacroItem
from shared.errors import ConflictError
from shared.models.macros import Macro, MacroActions


class MacroStore(Protocol):
    def list_macros(self, team: str) -> list[Macro]: ...

    def get_macro(self, team: str, macro_id: str) -> Macro | None: ...

    def save_macro(self, macro: Macro, expected_version: int | None) -> None: ...

    def delete_macro(self, team: str, macro_id: str, expected_version: int) -> None: ...


def macro_item(macro: Macro) -> MacroItem:
    return MacroItem(
        pk=f"MACROS#{macro.team}",
        sk=f"MACRO#{macro.id}",
        id=macro.id,
        team=macro.team,
        title=macro.title,
        body=macro.body,
        actions=macro.actions.model_dump(mode="json"),
        version=macro.version,
        created_at=clock.iso(macro.created_at),
        updated_at=clock.iso(macro.updated_at),
        updated_by=macro.updated_by,
    )


def macro_from_item(item: MacroItem) -> Macro:
    return Macro(
        id=item.id,
        team=item.team,
        title=item.title,
        body=item.body,
        actions=MacroActions.model_validate(item.actions or {}),
        version=int(item.version),
        created_at=clock.parse_iso(item.created_at),
        updated_at=clock.parse_iso(item.updated_at),
        updated_by=item.updated_by,
    )


class DynamoMacros:
    """MacroStore on the table."""

    def list_macros(self, team: str) -> list[Macro]:
        """The team's macros by title (a team keeps tens, not thousands: one Query, paged by PynamoDB)."""
        macros = [macro_from_item(item) for item in MacroItem.query(f"MACROS#{team}")]
        return sorted(macros, key=lambda m: (m.title.casefold(), m.id))

    def get_macro(self, team: str, macro_id: str) -> Macro | None:
        try:
            return macro_from_item(MacroItem.get(f"MACROS#{team}", f"MACRO#{macro_id}"))
        except MacroItem.DoesNotExist:
            return None

    def save_macro(self, macro: Macro, expected_version: int | None) -> None:
        """Create (`expected_version` None: the id must be new) or replace the version the editor saw."""
        condition = (
            MacroItem.pk.does_not_exist()
            if expected_version is None
            else MacroItem.version == expected_version
        )
        try:
            macro_item(macro).save(condition=condition)
        except PutError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"macro {macro.id} changed meanwhile") from exc

    def delete_macro(self, team: str, macro_id: str, expected_version: int) -> None:
        try:
            MacroItem(pk=f"MACROS#{team}", sk=f"MACRO#{macro_id}").delete(
                condition=MacroItem.version == expected_version
            )
        except DeleteError as exc:
            raise_if_permanent(exc)
            raise ConflictError(f"macro {macro_id} changed or was deleted meanwhile") from exc
