"""Secrets (environment variables) of one Swiftor VM: keys with masked values.

`v` reveals the highlighted value only, and it is masked again as soon as the cursor moves away;
`a` adds, `e` edits, `d` deletes (after a confirm). Values are never logged, notified or put in a
status line: only keys are. Changes apply at the VM's next start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import SecretStr
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from vmtui.core.models import Vm
from vmtui.services.actions import Actions
from vmtui.ui.format import clean, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding
from vmtui.ui.screens.swiftor_form import SendingFormScreen

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_KEY = 128
MAX_VALUE = 65536
MASK = "********"
"""Same width for every value, so the mask does not tell the length."""


@dataclass(frozen=True)
class SecretEntry:
    key: str
    value: SecretStr = field(repr=False)


class SecretFormScreen(SendingFormScreen[SecretEntry]):
    """Add a secret, or (with `key`) give an existing one a new value; saves it before closing."""

    OK_LABEL = "Save"
    SENDING_TEXT = "Saving…"

    def __init__(self, actions: Actions, vm: Vm, key: str | None = None) -> None:
        super().__init__()
        self.actions = actions
        self.vm = vm
        self.fixed_key = key
        name = clean(vm.display_name, 40)
        title = f"New secret of {name}" if key is None else f"Edit {clean(key, 40)} of {name}"
        self.TITLE_TEXT = title

    def fields(self) -> ComposeResult:
        yield from self.field(
            "key",
            "Key (letters, digits, _; not starting with a digit)",
            self.fixed_key or "",
            placeholder="API_TOKEN",
        )
        yield from self.masked_field("value", "Value", placeholder="hidden while typing")
        yield Static("It becomes an environment variable from the VM's next start.", classes="dialog-hint")

    def on_mount(self) -> None:
        if self.fixed_key is not None:
            self.query_one("#key", Input).disabled = True
            self.query_one("#value", Input).focus()

    def validate(self) -> SecretEntry | None:
        key = self.value("key")
        value = self.query_one("#value", Input).value
        ok = self.set_error("key", self.needed(key, "a key") or _key_error(key))
        ok = self.set_error("value", _value_error(value)) and ok
        return SecretEntry(key, SecretStr(value)) if ok and key else None

    async def send(self, request: SecretEntry) -> None:
        await self.actions.set_secret(self.vm, request.key, request.value)


def _key_error(key: str) -> str | None:
    if len(key) > MAX_KEY:
        return f"at most {MAX_KEY} characters"
    if key and not KEY_PATTERN.fullmatch(key):
        return "letters, digits and _ only, not starting with a digit"
    return None


def _value_error(value: str) -> str | None:
    if len(value) > MAX_VALUE:
        return "at most 64 KiB"
    return "no NUL characters" if "\x00" in value else None


class SecretsScreen(ListScreen[str]):
    KIND = "secrets"
    TITLE = "Secrets"
    WHAT = "secrets"
    COLUMNS = (("Key", "key", 40), ("Value", "value", None))
    BINDINGS: ClassVar[list[BindingType]] = [
        close_binding(KIND),
        Binding(
            "v",
            "reveal",
            "Reveal",
            id="secrets.reveal",
            tooltip="Show the highlighted value (hidden again when the cursor moves)",
        ),
        Binding("a", "add", "Add", id="secrets.add", tooltip="Add a secret"),
        Binding("e", "edit", "Edit", id="secrets.edit", tooltip="Give the highlighted secret a new value"),
        Binding(
            "d", "delete", "Delete", id="secrets.delete", tooltip="Delete the highlighted secret (asks first)"
        ),
        reload_binding(KIND, "secrets"),
    ]

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__(actions)
        self.vm = vm
        self.secrets: dict[str, SecretStr] = {}
        self.revealed: str | None = None

    def heading(self) -> Text:
        return Text(f"Secrets of {clean(self.vm.display_name, 60)}")

    def hints(self) -> ComposeResult:
        yield Static(
            "Environment variables of every process in the VM. Changes apply at the VM's next start.",
            classes="dialog-hint",
        )

    async def fetch(self) -> list[str]:
        self.secrets = await self.actions.list_secrets(self.vm)
        self.revealed = None
        return sorted(self.secrets)

    def rows(self, items: list[str]) -> Iterable[Row]:
        return ((key, (safe(key, limit=60), MASK)) for key in items)

    def loaded(self) -> str:
        return f"{len(self.items)} secret(s); v reveals the highlighted one"

    # ------------------------------------------------------------------ reveal

    def _mask(self) -> None:
        if self.revealed is not None and self.revealed in self.secrets:
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
        value = self.secrets[key].get_secret_value()
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
        def saved(entry: SecretEntry | None) -> None:
            if entry is not None:
                message = f"Saved {clean(entry.key, 60)}; it applies at the VM's next start"
                self.notify(message, title="Secrets", markup=False)
                self.load(entry.key)

        self.app.push_screen(SecretFormScreen(self.actions, self.vm, key), saved)

    def action_add(self) -> None:
        self._open_form(None)

    def action_edit(self) -> None:
        key = self.selected_key()
        if key is not None:
            self._open_form(key)

    def action_delete(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        question = ConfirmScreen(
            "Delete this secret?",  # a title is markup: server-given names go in the Text below
            Text(f"{clean(self.vm.display_name, 60)} · {clean(key, 60)}", style="bold"),
            Text("The VM loses this environment variable at its next start."),
        )
        self.confirm(
            question,
            lambda: self.change(
                lambda: self.actions.delete_secret(self.vm, key),
                f"Cannot delete {clean(key, 40)}",
                f"{key} not deleted",
            ),
        )
