"""Key/value lists whose values are secret (Swiftor secrets, Vers environment variables): masked rows.

`v` reveals the highlighted value only, and it is masked again as soon as the cursor moves away or a
dialog opens on top; `a` adds, `e` edits, `d` deletes (after a confirm). Values are never logged,
notified or put in a status line: only keys are. A kind says where the values live (`fetch_values`,
its form's `save`, `delete`) and how it words them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import SecretStr
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from vmtui.services.actions import Actions, Outcome
from vmtui.ui.format import clean, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding
from vmtui.ui.screens.swiftor_form import SendingFormScreen

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MASK = "********"
"""Same width for every value, so the mask does not tell the length."""


@dataclass(frozen=True)
class MaskedEntry:
    key: str
    value: SecretStr = field(repr=False)


class MaskedValueForm(SendingFormScreen[MaskedEntry]):
    """Add a value, or (with `key`) give an existing one a new value; saves it before closing."""

    OK_LABEL = "Save"
    SENDING_TEXT = "Saving…"
    NOUN: ClassVar[str]
    """What one entry is called ("secret")."""
    HINT: ClassVar[str]
    """When the value takes effect."""
    MAX_KEY: ClassVar[int]
    MAX_VALUE: ClassVar[int]

    def __init__(self, owner: str, key: str | None = None) -> None:
        super().__init__()
        self.fixed_key = key
        name = clean(owner, 40)
        self.TITLE_TEXT = f"New {self.NOUN} of {name}" if key is None else f"Edit {clean(key, 40)} of {name}"

    async def save(self, key: str, value: SecretStr) -> None:
        raise NotImplementedError

    def fields(self) -> ComposeResult:
        yield from self.field(
            "key",
            "Key (letters, digits, _; not starting with a digit)",
            self.fixed_key or "",
            placeholder="API_TOKEN",
        )
        yield from self.masked_field("value", "Value", placeholder="hidden while typing")
        yield Static(self.HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        if self.fixed_key is not None:
            self.query_one("#key", Input).disabled = True
            self.query_one("#value", Input).focus()

    def validate(self) -> MaskedEntry | None:
        key = self.value("key")
        value = self.query_one("#value", Input).value
        ok = self.set_error("key", self.needed(key, "a key") or self._key_error(key))
        ok = self.set_error("value", self._value_error(value)) and ok
        return MaskedEntry(key, SecretStr(value)) if ok and key else None

    def _key_error(self, key: str) -> str | None:
        if len(key) > self.MAX_KEY:
            return f"at most {self.MAX_KEY} characters"
        if key and not KEY_PATTERN.fullmatch(key):
            return "letters, digits and _ only, not starting with a digit"
        return None

    def _value_error(self, value: str) -> str | None:
        if len(value) > self.MAX_VALUE:
            return f"at most {self.MAX_VALUE} characters"
        return "no NUL characters" if "\x00" in value else None

    async def send(self, request: MaskedEntry) -> None:
        await self.save(request.key, request.value)


def masked_bindings(kind: str, noun: str) -> list[BindingType]:
    """The keys of a masked list; ids `<kind>.reveal` … for `[ui] keymap`."""
    return [
        close_binding(kind),
        Binding(
            "v",
            "reveal",
            "Reveal",
            id=f"{kind}.reveal",
            tooltip="Show the highlighted value (hidden again when the cursor moves)",
        ),
        Binding("a", "add", "Add", id=f"{kind}.add", tooltip=f"Add a {noun}"),
        Binding("e", "edit", "Edit", id=f"{kind}.edit", tooltip=f"Give the highlighted {noun} a new value"),
        Binding(
            "d",
            "delete",
            "Delete",
            id=f"{kind}.delete",
            tooltip=f"Delete the highlighted {noun} (asks first)",
        ),
        reload_binding(kind, f"{noun}s"),
    ]


class MaskedValuesScreen(ListScreen[str]):
    COLUMNS = (("Key", "key", 40), ("Value", "value", None))
    NOUN: ClassVar[str]

    def __init__(self, actions: Actions) -> None:
        super().__init__(actions)
        self.values: dict[str, SecretStr] = {}
        self.revealed: str | None = None

    async def fetch_values(self) -> dict[str, SecretStr]:
        raise NotImplementedError

    def form(self, key: str | None) -> MaskedValueForm:
        raise NotImplementedError

    def saved_message(self, key: str) -> str:
        raise NotImplementedError

    def delete_question(self, key: str) -> ConfirmScreen:
        raise NotImplementedError

    def delete(self, key: str) -> Callable[[], Awaitable[Outcome]]:
        raise NotImplementedError

    async def fetch(self) -> list[str]:
        self.values = await self.fetch_values()
        self.revealed = None
        return sorted(self.values)

    def rows(self, items: list[str]) -> Iterable[Row]:
        return ((key, (safe(key, limit=60), MASK)) for key in items)

    def loaded(self) -> str:
        return f"{len(self.items)} {self.NOUN}(s); v reveals the highlighted one"

    # ------------------------------------------------------------------ reveal

    def _mask(self) -> None:
        if self.revealed is not None and self.revealed in self.values:
            self.table.update_cell(self.revealed, "value", MASK)
        self.revealed = None

    def action_reveal(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        if self.revealed == key:
            self._mask()
            return
        self._mask()
        value = self.values[key].get_secret_value()
        self.table.update_cell(key, "value", safe(value, limit=200), update_width=True)
        self.revealed = key

    @on(DataTable.RowHighlighted)
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        if self.revealed is not None and event.row_key.value != self.revealed:
            self._mask()

    def on_screen_suspend(self) -> None:
        """A dialog on top would still show the value through its translucent backdrop."""
        self._mask()

    # ------------------------------------------------------------------ changes

    def _open_form(self, key: str | None) -> None:
        def saved(entry: MaskedEntry | None) -> None:
            if entry is not None:
                self.notify(self.saved_message(clean(entry.key, 60)), title=self.TITLE, markup=False)
                self.load(entry.key)

        self.app.push_screen(self.form(key), saved)

    def action_add(self) -> None:
        self._open_form(None)

    def action_edit(self) -> None:
        key = self.selected_key()
        if key is not None:
            self._open_form(key)

    def action_delete(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.confirm(
                self.delete_question(key),
                lambda: self.change(
                    self.delete(key), f"Cannot delete {clean(key, 40)}", f"{key} not deleted"
                ),
            )


def confirm_delete(noun: str, where: str, key: str, consequence: str) -> ConfirmScreen:
    return ConfirmScreen(
        f"Delete this {noun}?",  # a title is markup: server-given names go in the Text below
        Text(f"{clean(where, 60)} · {clean(key, 60)}", style="bold"),
        Text(consequence),
    )
