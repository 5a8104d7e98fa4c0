"""Confirm an irreversible delete by typing the name of what goes away (a Swiftor VM's label).

Cancel has the focus; Delete stays disabled until the typed text equals the name exactly, and
Enter on a wrong name is refused with a message. Returns True only for a confirmed delete.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from vmtui.core.models import Vm
from vmtui.ui.format import clean


class ConfirmTypedDeleteScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Keep it")
    ]

    DEFAULT_CSS = """
    ConfirmTypedDeleteScreen #typed-name-prompt { margin-top: 1; }
    ConfirmTypedDeleteScreen #typed-name-error { color: $text-error; height: auto; }
    """

    def __init__(self, title: str, consequences: str, name: str) -> None:
        super().__init__()
        self.title_text = title
        self.expected = name
        self.consequences = consequences

    @classmethod
    def for_vm(cls, vm: Vm) -> ConfirmTypedDeleteScreen:
        """Deleting a Swiftor VM removes its storage, secrets and mappings for good."""
        name = vm.label or vm.id
        return cls(
            f"Delete VM {clean(vm.display_name, 60)}?",
            f"{clean(vm.provider, 40)} · {clean(vm.id, 80)} · {vm.state.value}\n"
            "This cannot be undone: the VM, its storage, its secrets and its port mappings are removed.",
            name,
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(Text(self.consequences), id="delete-consequences")
            prompt = Text("Type ")
            prompt.append(clean(self.expected, 80), style="bold")
            prompt.append(" to confirm:")
            yield Label(prompt, id="typed-name-prompt")
            yield Input(placeholder=clean(self.expected, 80), id="typed-name")
            yield Static("", id="typed-name-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Delete", id="delete", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @property
    def matches(self) -> bool:
        return self.query_one("#typed-name", Input).value == self.expected

    @on(Input.Changed, "#typed-name")
    def _typed(self) -> None:
        self.query_one("#delete", Button).disabled = not self.matches
        self.query_one("#typed-name-error", Static).update("")

    @on(Input.Submitted, "#typed-name")
    @on(Button.Pressed, "#delete")
    def _confirm(self) -> None:
        if self.matches:
            self.dismiss(True)
            return
        self.query_one("#typed-name-error", Static).update(
            "That is not the exact name (case and spaces count); nothing was deleted."
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
