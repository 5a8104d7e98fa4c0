"""A yes/no question (destructive unless told otherwise).

The focus matches the danger: a destructive question focuses Cancel (Enter changes nothing), a harmless
one (resume before a shell) focuses its confirm button and also takes `y`. Escape and `n` cancel.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="dialog.cancel", tooltip="Change nothing"),
        Binding("y", "confirm", "Yes", id="dialog.yes", tooltip="Confirm (harmless questions only)"),
    ]

    def __init__(
        self, title: str, subject: Text, body: Text, confirm_label: str = "Delete", *, danger: bool = True
    ) -> None:
        super().__init__()
        self.danger = danger
        self.title_text = title
        self.subject = subject
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger" if self.danger else "dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(self.subject, id="confirm-subject")
            yield VerticalScroll(Static(self.body, id="confirm-body"), id="confirm-box")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm_label, id="confirm", variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self.danger else "#confirm", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "confirm" and self.danger)

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
