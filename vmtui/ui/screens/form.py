"""Base of the small input dialogs: labelled fields with inline errors, OK/Cancel, Escape cancels.

Values are validated on every change, so a bad value is flagged before anything is sent; a field's
error shows once the user edited it or pressed OK (a fresh form is not flagged). OK only dismisses
with a result when every field is valid.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultT = TypeVar("ResultT")


class FormScreen(ModalScreen[ResultT | None], Generic[ResultT]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without doing anything")
    ]
    TITLE_TEXT = ""
    OK_LABEL = "OK"
    DIALOG_CLASSES = "dialog"
    """Classes of the dialog box; add a size class of the stylesheet (e.g. `-wide`) for a bigger form."""
    submitted = False
    """True after the first OK: from then on every field's error shows, edited or not."""
    _initial: dict[str, str]
    _edited: set[str]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes=self.DIALOG_CLASSES):
            yield Label(Text(self.TITLE_TEXT), id="dialog-title", classes="dialog-title")
            yield from self.fields()
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.OK_LABEL, id="ok", variant="primary")

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def validate(self) -> ResultT | None:
        """Flag every bad field inline; return the result only when all are valid."""
        raise NotImplementedError

    def field(self, name: str, label: str, value: str = "", placeholder: str = "") -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            yield Input(value, placeholder=placeholder, id=name)
        yield Static("", id=f"{name}-error", classes="field-error")

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def set_error(self, name: str, message: str | None) -> bool:
        """Show or clear a field's error (shown only once edited or after OK); True when it is valid."""
        shown = message if self.submitted or name in self._edited else None
        self.query_one(f"#{name}", Input).set_class(bool(shown), "-invalid")
        error = self.query_one(f"#{name}-error", Static)
        error.update(Text(shown or ""))  # messages quote what was typed: never markup
        error.set_class(bool(shown), "-visible")
        return message is None

    def on_mount(self) -> None:
        inputs = self.query(Input)
        self._initial = {i.id: i.value for i in inputs if i.id}
        self._edited = set()
        if inputs:
            inputs.first().focus()

    @on(Input.Changed)
    def _revalidate(self, event: Input.Changed) -> None:
        name = event.input.id
        if name is not None and event.value != self._initial.get(name, event.value):
            self._edited.add(name)  # not the Changed that mounting fires with the initial value
        self.validate()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        self.submitted = True
        result = self.validate()
        if result is not None:
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
