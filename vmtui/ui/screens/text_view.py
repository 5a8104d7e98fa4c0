"""A read-only text in a scrollable dialog: `c` copies it all (OSC 52), Esc closes, `q` quits as
everywhere. The describe and logs views are built on it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class TextViewScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close", id="dialog.cancel", tooltip="Close this view"),
        Binding("c", "copy", "Copy", id="view.copy", tooltip="Copy the whole text to the clipboard (OSC 52)"),
        Binding("q", "app.run('app.quit')", "Quit", show=False, id="view.quit", tooltip="Leave vmtui"),
    ]

    def __init__(self, title: str, text: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="text-view-dialog", classes="dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(id="text-view-scroll"):
                yield Static(Text(self.text), id="text-view-body")
            yield Label(Text(self.hint or "c copies, Esc closes"), id="text-view-hint", classes="dialog-hint")

    def show_text(self, text: str) -> None:
        """Replace the shown text (untrusted values are never read as markup)."""
        self.text = text
        for body in self.query("#text-view-body").results(Static):
            body.update(Text(text))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify(f"Copied {len(self.text.splitlines())} lines", timeout=2)
