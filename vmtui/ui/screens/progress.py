"""Per-VM progress of a multi-VM branch: one line per new VM, updated as each boots.

The lines scroll inside the dialog, so twenty VMs fit at 80x24. When the branch succeeded and every
VM is ready the dialog closes itself: the action's notification then says it all, once."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
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
            yield Static(self._render_summary(), id="progress-summary")
            with VerticalScroll(id="progress-scroll"):
                yield Static(self._render_lines(), id="progress-lines")
            yield Label("Esc hides this window; the work continues.", classes="dialog-hint")

    def on_mount(self) -> None:
        self._refresh()  # updates may have arrived between compose and mount

    def update_vm(self, vm_id: str, state: VmState) -> None:
        self.states[vm_id] = state
        self._refresh()

    def finish(self, message: str, *, succeeded: bool) -> None:
        """The action ended: close when it succeeded and all are ready, else show why and stay."""
        self.result = message
        self._refresh()
        if succeeded and self.all_ready and self.app.screen is self:
            self.dismiss()

    @property
    def ready(self) -> int:
        return sum(1 for state in self.states.values() if not state.is_transitional)

    @property
    def all_ready(self) -> bool:
        return self.ready >= self.expected

    def _refresh(self) -> None:
        for lines in self.query("#progress-lines").results(Static):  # none until composed
            lines.update(self._render_lines())
        for summary in self.query("#progress-summary").results(Static):
            summary.update(self._render_summary())

    def _render_summary(self) -> Text:
        """Above the lines, so it stays in sight however many VMs scroll below."""
        text = Text(f"{self.ready}/{self.expected} ready", style="bold")
        if self.result:
            text.append(f"\n{clean(self.result, 300)}", style="")
        return text

    def _render_lines(self) -> Text:
        if not self.states:
            return Text(f"Requesting {self.expected} VM(s)…", style="italic")
        lines = (
            f"{state_glyph(state, self.ascii_only)} {clean(vm_id, 60)}  {state.value}"
            for vm_id, state in self.states.items()
        )
        return Text("\n".join(lines))
