"""Confirm a VM delete: names the VM and everything descending from it (Cancel focused), and says
whether a checkpoint commit is taken first (`checkpoint = "ask"`: a checkbox, on by default)."""

from __future__ import annotations

from rich.text import Text

from vmtui.core.lineage import LineageNode, NodeKind
from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.confirm_checkpoint import ConfirmWithCheckpointScreen

MAX_LISTED = 50


class ConfirmDeleteScreen(ConfirmWithCheckpointScreen):
    def __init__(self, item: Vm | Commit, dependants: list[LineageNode], checkpoint: str = "never") -> None:
        """`checkpoint` (a VM's delete): "always" (said), "ask" (a checkbox), "never" (nothing said)."""
        if isinstance(item, Vm):
            title = f"Delete VM {clean(item.display_name, 60)}?"
            detail = f"{clean(item.provider, 30)} · {clean(item.id, 80)} · {item.state.value}"
        else:
            title = f"Delete commit {clean(item.display_name, 60)}?"
            detail = f"{clean(item.provider, 30)} · {clean(item.id, 80)}" + (
                " · public" if item.is_public else ""
            )
        body = dependants_text(item, dependants)
        super().__init__(title, Text(detail, style="bold"), body, checkpoint=checkpoint)
        self.item = item
        self.dependants = dependants


def dependants_text(item: Vm | Commit, dependants: list[LineageNode]) -> Text:
    if not dependants:
        gone = "Its processes and disk are" if isinstance(item, Vm) else "Its snapshot is"
        return Text(f"Nothing depends on it. {gone} removed for good.")
    commits = sum(1 for n in dependants if n.kind is NodeKind.COMMIT)
    vms = len(dependants) - commits
    if isinstance(item, Vm):
        head = f"Depends on it: {commits} commit(s), {vms} VM(s). They are kept, but their lineage will show "
        head += "this VM as missing.\n"
    else:
        started = sum(
            1 for n in dependants if n.kind is NodeKind.VM and n.parent is not None and n.parent.id == item.id
        )
        head = f"Depends on it: {vms} VM(s) ({started} started from it), {commits} commit(s). "
        head += "The platform refuses while VMs started from it exist; delete those first.\n"
    text = Text(head)
    for node in dependants[:MAX_LISTED]:
        item = node.item
        if isinstance(item, Commit):
            text.append(f"  commit {clean(item.id, 40)}", style="bold")
            text.append(f"  {clean(item.title or '', 40)}\n")
        else:
            text.append(f"  vm     {clean(item.id, 40)}", style="bold")
            name = item.display_name if item.display_name != item.id else ""
            text.append(f"  {clean(name, 40)} ({item.state.value})\n")
    if len(dependants) > MAX_LISTED:
        text.append(f"  … and {len(dependants) - MAX_LISTED} more\n", style="italic")
    return text
