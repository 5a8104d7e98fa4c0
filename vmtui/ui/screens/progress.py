"""Per-VM progress of a multi-VM branch: one line per new VM, updated as each boots."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from vmtui.core.models import VmState
from vmtui.ui.format import clean, state_glyph


class ProgressScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,enter",
            "app.pop_screen",
            "Close",
            id="dialog.cancel",
            tooltip="Hide this; the action keeps running",
        )
    ]

    def __init__(self, title: str, expected: int, *, ascii_only: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.expected = expected
        self.ascii_only = ascii_only
        self.states: dict[str, VmState] = {}
        self.result: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(self._render_lines(), id="progress-lines")
            yield Label("Esc hides this window; the work continues.", classes="dialog-hint")

    def on_mount(self) -> None:
        self._refresh()  # updates may have arrived between compose and mount

    def update_vm(self, vm_id: str, state: VmState) -> None:
        self.states[vm_id] = state
        self._refresh()

    def finish(self, message: str) -> None:
        self.result = message
        self._refresh()

    def _refresh(self) -> None:
        for lines in self.query("#progress-lines").results(Static):  # none until composed
            lines.update(self._render_lines())

    def _render_lines(self) -> Text:
        text = Text()
        if not self.states:
            text.append(f"Requesting {self.expected} VM(s)…\n", style="italic")
        for vm_id, state in self.states.items():
            text.append(f"{state_glyph(state, self.ascii_only)} {clean(vm_id, 60)}  {state.value}\n")
        done = sum(1 for s in self.states.values() if not s.is_transitional)
        text.append(f"{done}/{self.expected} ready\n", style="bold")
        if self.result:
            text.append(clean(self.result, 300))
        return text
