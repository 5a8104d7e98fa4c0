"""Confirm a delete: names the VM and everything descending from it. Cancel has the focus."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from vmtui.core.lineage import LineageNode, NodeKind
from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean

MAX_LISTED = 50


class ConfirmDeleteScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Keep the VM")]

    def __init__(self, vm: Vm, dependants: list[LineageNode]) -> None:
        super().__init__()
        self.vm = vm
        self.dependants = dependants

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger"):
            yield Label(f"Delete VM {clean(self.vm.display_name, 60)}?", classes="dialog-title")
            yield Static(Text(f"{self.vm.provider} · {self.vm.id} · {self.vm.state.value}", style="bold"),
                         id="delete-target")
            yield VerticalScroll(Static(self._dependants_text(), id="delete-dependants"), id="dependants-box")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Delete", id="delete", variant="error")

    def _dependants_text(self) -> Text:
        if not self.dependants:
            return Text("Nothing depends on it. Its processes and disk are removed for good.")
        commits = sum(1 for n in self.dependants if n.kind is NodeKind.COMMIT)
        vms = len(self.dependants) - commits
        text = Text(f"Depends on it: {commits} commit(s), {vms} VM(s). They are kept, "
                    "but their lineage will show this VM as missing.\n")
        for node in self.dependants[:MAX_LISTED]:
            item = node.item
            if isinstance(item, Commit):
                text.append(f"  commit {clean(item.id, 40)}", style="bold")
                text.append(f"  {clean(item.name or '', 40)}\n")
            else:
                text.append(f"  vm     {clean(item.id, 40)}", style="bold")
                text.append(f"  {clean(item.display_name if item.display_name != item.id else '', 40)} "
                            f"({item.state.value})\n")
        if len(self.dependants) > MAX_LISTED:
            text.append(f"  … and {len(self.dependants) - MAX_LISTED} more\n", style="italic")
        return text

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#delete")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
