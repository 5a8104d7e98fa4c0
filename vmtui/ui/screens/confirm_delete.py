"""Confirm a VM delete: names the VM and everything descending from it (Cancel focused), and says
whether a checkpoint commit is taken first (`checkpoint = "ask"`: a checkbox, on by default)."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Checkbox

from vmtui.core.lineage import LineageNode, NodeKind
from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.confirm import ConfirmScreen

MAX_LISTED = 50


class ConfirmDeleteScreen(ConfirmScreen):
    def __init__(self, vm: Vm, dependants: list[LineageNode], checkpoint: str = "never") -> None:
        """`checkpoint`: "always" (said), "ask" (a checkbox), "never" (nothing said)."""
        body = dependants_text(dependants)
        if checkpoint == "always":
            body.append("\nA checkpoint commit is taken first: u restores the VM.", style="italic")
        super().__init__(
            f"Delete VM {clean(vm.display_name, 60)}?",
            Text(f"{clean(vm.provider, 30)} · {clean(vm.id, 80)} · {vm.state.value}", style="bold"),
            body,
        )
        self.vm = vm
        self.dependants = dependants
        self.checkpoint = checkpoint
        self.take_checkpoint = checkpoint in ("always", "ask")
        """What the user chose (read once the screen is dismissed with True)."""

    def on_mount(self) -> None:
        if self.checkpoint == "ask":
            box = Checkbox("Checkpoint first (u restores the VM)", True, id="checkpoint-first")
            self.query_one("#confirm-box", VerticalScroll).mount(box)
        super().on_mount()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.take_checkpoint = event.value


def dependants_text(dependants: list[LineageNode]) -> Text:
    if not dependants:
        return Text("Nothing depends on it. Its processes and disk are removed for good.")
    commits = sum(1 for n in dependants if n.kind is NodeKind.COMMIT)
    text = Text(
        f"Depends on it: {commits} commit(s), {len(dependants) - commits} VM(s). They are kept, "
        "but their lineage will show this VM as missing.\n"
    )
    for node in dependants[:MAX_LISTED]:
        item = node.item
        if isinstance(item, Commit):
            text.append(f"  commit {clean(item.id, 40)}", style="bold")
            text.append(f"  {clean(item.name or '', 40)}\n")
        else:
            text.append(f"  vm     {clean(item.id, 40)}", style="bold")
            name = item.display_name if item.display_name != item.id else ""
            text.append(f"  {clean(name, 40)} ({item.state.value})\n")
    if len(dependants) > MAX_LISTED:
        text.append(f"  … and {len(dependants) - MAX_LISTED} more\n", style="italic")
    return text
