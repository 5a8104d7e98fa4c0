"""A VM's labels, edited in place: `a` sets one (new or overwritten), `e` gives the highlighted one a new
value, `d` removes it, `R` replaces them all. The `name` label is the VM's display name; `F2` on the VM
list opens `RenameScreen`, a one-field form for just that label.

Every form sends its change itself and closes only once the server accepted it; a refusal is shown
under the fields in the server's words and nothing typed is lost (`SendingFormScreen`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from vmtui.core.models import Vm
from vmtui.services.actions import Actions, parse_labels
from vmtui.ui.format import clean, safe
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding
from vmtui.ui.screens.swiftor_form import SendingFormScreen

NAME_LABEL = "name"
MAX_KEY = 128
MAX_VALUE = 1024


def text_error(text: str, limit: int) -> str | None:
    """Why `text` cannot be a label key or value, or None."""
    if len(text) > limit:
        return f"at most {limit} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "control characters are not allowed"
    return None


def key_error(key: str) -> str | None:
    if key and any(ch in key for ch in ",=/"):
        return "no ',', '=' or '/' in a key"
    return text_error(key, MAX_KEY)


class LabelFormScreen(SendingFormScreen[dict[str, str]]):
    """Set one label (a new key, or with `key` a new value for it), keeping the others."""

    OK_LABEL = "Save"
    SENDING_TEXT = "Saving…"

    def __init__(self, actions: Actions, vm: Vm, key: str | None = None, value: str = "") -> None:
        super().__init__()
        self.actions = actions
        self.vm = vm
        self.fixed_key = key
        self.initial_value = value
        name = clean(vm.display_name, 40)
        self.TITLE_TEXT = f"New label of {name}" if key is None else f"Label {clean(key, 40)} of {name}"

    def fields(self) -> ComposeResult:
        yield from self.field("key", "Key", self.fixed_key or "", placeholder="team")
        yield from self.field("value", "Value", self.initial_value, placeholder="infra")

    def on_mount(self) -> None:
        if self.fixed_key is not None:
            self.query_one("#key", Input).disabled = True
            self.query_one("#value", Input).focus()

    def validate(self) -> dict[str, str] | None:
        key, value = self.value("key"), self.value("value")
        ok = self.set_error("key", self.needed(key, "a key") or key_error(key))
        ok = self.set_error("value", text_error(value, MAX_VALUE)) and ok
        return {key: value} if ok and key else None

    async def send(self, request: dict[str, str]) -> None:
        await self.actions.set_labels(self.vm, request)


class ReplaceLabelsScreen(SendingFormScreen[dict[str, str]]):
    """Make the VM's labels exactly these (`k=v,k2=v2`; empty removes every label)."""

    OK_LABEL = "Replace"
    SENDING_TEXT = "Replacing…"
    DIALOG_CLASSES = "dialog -wide"

    def __init__(self, actions: Actions, vm: Vm, current: dict[str, str]) -> None:
        super().__init__()
        self.actions = actions
        self.vm = vm
        self.current = ",".join(f"{k}={v}" for k, v in current.items())
        self.TITLE_TEXT = f"Replace every label of {clean(vm.display_name, 40)}"

    def fields(self) -> ComposeResult:
        yield from self.field("labels", "Labels (k=v,k2=v2)", self.current, placeholder="env=dev,team=infra")
        yield Static("Labels not listed here are removed; empty removes them all.", classes="dialog-hint")

    def validate(self) -> dict[str, str] | None:
        try:
            labels = parse_labels(self.value("labels"))
        except ValueError as exc:
            self.set_error("labels", str(exc))
            return None
        problem = next(
            (
                f"{k}: {error}"
                for k, v in labels.items()
                if (error := key_error(k) or text_error(v, MAX_VALUE))
            ),
            None,
        )
        return labels if self.set_error("labels", problem) else None

    async def send(self, request: dict[str, str]) -> None:
        await self.actions.set_labels(self.vm, request, replace=True)


class RenameScreen(SendingFormScreen[str]):
    """Set the `name` label, the VM's display name (empty removes it: the id shows again)."""

    OK_LABEL = "Rename"
    SENDING_TEXT = "Renaming…"

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__()
        self.actions = actions
        self.vm = vm
        self.TITLE_TEXT = f"Rename {clean(vm.display_name, 50)}"

    def fields(self) -> ComposeResult:
        yield from self.field("name", "Name", self.vm.labels.get(NAME_LABEL, ""), placeholder="web-1")
        yield Static("Stored as the VM's `name` label; empty removes it.", classes="dialog-hint")

    def validate(self) -> str | None:
        name = self.value("name")
        unnamed = not name and NAME_LABEL not in self.vm.labels
        message = self.needed(name, "a name") if unnamed else text_error(name, MAX_VALUE)
        return name if self.set_error("name", message) and (name or not unnamed) else None

    async def send(self, request: str) -> None:
        await self.actions.rename(self.vm, request)


class LabelsScreen(ListScreen[str]):
    KIND = "labels"
    TITLE = "Labels"
    WHAT = "labels"
    COLUMNS = (("Key", "key", 30), ("Value", "value", None))
    BINDINGS: ClassVar[list[BindingType]] = [
        close_binding(KIND),
        Binding("a", "add", "Add", id="labels.add", tooltip="Set a label (a new key or a new value)"),
        Binding("e", "edit", "Edit", id="labels.edit", tooltip="Give the highlighted label a new value"),
        Binding(
            "d", "delete", "Remove", id="labels.delete", tooltip="Remove the highlighted label (asks first)"
        ),
        Binding("R", "replace", "Replace all", id="labels.replace", tooltip="Replace every label at once"),
        reload_binding(KIND, "labels"),
    ]

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__(actions)
        self.vm = vm
        self.labels: dict[str, str] = {}

    def heading(self) -> Text:
        return Text(f"Labels of {clean(self.vm.display_name, 60)}")

    def hints(self) -> ComposeResult:
        yield Static("The `name` label is the VM's display name.", classes="dialog-hint")

    async def fetch(self) -> list[str]:
        self.labels = await self.actions.vm_labels(self.vm)
        return sorted(self.labels)

    def rows(self, items: list[str]) -> Iterable[Row]:
        return ((key, (safe(key, limit=60), safe(self.labels[key], limit=200))) for key in items)

    def action_add(self) -> None:
        self.app.push_screen(LabelFormScreen(self.actions, self.vm), lambda sent: self._saved(sent))

    def action_edit(self) -> None:
        key = self.selected_key()
        if key is not None:
            form = LabelFormScreen(self.actions, self.vm, key, self.labels.get(key, ""))
            self.app.push_screen(form, lambda sent: self._saved(sent))

    def action_replace(self) -> None:
        form = ReplaceLabelsScreen(self.actions, self.vm, self.labels)
        self.app.push_screen(form, lambda sent: self._saved(sent))

    def _saved(self, sent: dict[str, str] | None) -> None:
        if sent is not None:
            shown = ", ".join(f"{k}={v}" for k, v in sent.items()) or "no labels"
            self.notify(f"Saved {clean(shown, 200)}", title=self.TITLE, markup=False)
            self.load(next(iter(sent), None))

    def action_delete(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        question = ConfirmScreen(
            "Remove this label?",  # a title is markup: server-given names go in the Text below
            Text(
                f"{clean(self.vm.display_name, 60)} · {clean(key, 60)}={clean(self.labels[key], 60)}",
                style="bold",
            ),
            Text(
                "The VM's display name falls back to its id."
                if key == NAME_LABEL
                else "Only this label goes."
            ),
        )
        self.confirm(
            question,
            lambda: self.change(
                lambda: self.actions.delete_label(self.vm, key),
                f"Cannot remove {clean(key, 40)}",
                f"{key} not removed",
            ),
        )
