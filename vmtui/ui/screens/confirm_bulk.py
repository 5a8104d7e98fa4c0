"""One confirmation for an action on every marked VM: names each VM it acts on, and each one it skips
with the reason (scrolls when the list is long; Cancel focused when the action destroys). A bulk delete
may checkpoint each running VM first, as a single delete does."""

from __future__ import annotations

from rich.text import Text

from vmtui.core.models import Vm
from vmtui.ui.format import clean, short_id
from vmtui.ui.screens.confirm_checkpoint import ConfirmWithCheckpointScreen


class ConfirmBulkScreen(ConfirmWithCheckpointScreen):
    def __init__(
        self,
        title: str,
        targets: list[Vm],
        skipped: list[tuple[Vm, str]],
        *,
        note: str = "",
        danger: bool = True,
        checkpoint: str = "never",
    ) -> None:
        """`checkpoint`: the policy for the running VMs among `targets` (see ConfirmWithCheckpointScreen)."""
        count = len(targets)
        super().__init__(
            f"{title}: {count} marked VM{'s' if count != 1 else ''}?",
            Text(_summary(count, len(skipped)), style="bold"),
            bulk_text(targets, skipped, note),
            confirm_label=f"{title} {count}",
            checkpoint=checkpoint,
            checkpoint_label="Checkpoint each running VM first (all kept)",
            always_note="A checkpoint commit of each running VM is taken first (all are kept).",
            danger=danger,
        )
        self.targets = targets
        self.skipped = skipped


def _summary(count: int, skipped: int) -> str:
    text = f"Acts on {count} VM{'s' if count != 1 else ''}, each on its own"
    return f"{text}; skips {skipped} that cannot" if skipped else text


def _vm_line(vm: Vm) -> str:
    name = (
        f"{clean(vm.display_name, 30)} ({short_id(vm.id)})" if vm.display_name != vm.id else clean(vm.id, 44)
    )
    return f"  {name}  {clean(vm.provider, 16)} · {vm.state.value}\n"


def bulk_text(targets: list[Vm], skipped: list[tuple[Vm, str]], note: str = "") -> Text:
    text = Text()
    if note:
        text.append(f"{note}\n", style="bold")
    for vm in targets:
        text.append(_vm_line(vm))
    if skipped:
        text.append("Skipped:\n", style="bold")
        for vm, reason in skipped:
            text.append(_vm_line(vm).rstrip("\n"))
            text.append(f"  ({clean(reason, 60)})\n", style="italic")
    return text
