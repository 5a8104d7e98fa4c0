"""One confirmation for an action on every marked VM: names each VM it acts on, and each one it skips
with the reason (scrolls when the list is long; Cancel focused when the action destroys)."""

from __future__ import annotations

from rich.text import Text

from vmtui.core.models import Vm
from vmtui.ui.format import clean, short_id
from vmtui.ui.screens.confirm import ConfirmScreen


class ConfirmBulkScreen(ConfirmScreen):
    def __init__(
        self,
        title: str,
        targets: list[Vm],
        skipped: list[tuple[Vm, str]],
        *,
        note: str = "",
        danger: bool = True,
    ) -> None:
        count = len(targets)
        super().__init__(
            f"{title}: {count} marked VM{'s' if count != 1 else ''}?",
            Text(_summary(count, len(skipped)), style="bold"),
            bulk_text(targets, skipped, note),
            confirm_label=f"{title} {count}",
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
