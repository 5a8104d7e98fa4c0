"""Ask how many VMs to branch from the selected one."""

from __future__ import annotations

from textual.app import ComposeResult

from vmtui.core.models import Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.form import FormScreen

MAX_BRANCHES = 64


class BranchScreen(FormScreen[int]):
    OK_LABEL = "Branch"

    def __init__(self, vm: Vm) -> None:
        super().__init__()
        self.vm = vm
        self.TITLE_TEXT = f"Branch {clean(vm.display_name, 60)}"

    def fields(self) -> ComposeResult:
        yield from self.field("count", f"How many new VMs (1–{MAX_BRANCHES})", "1")

    def validate(self) -> int | None:
        raw = self.value("count")
        if not raw.isdecimal() or not 1 <= int(raw) <= MAX_BRANCHES:
            self.set_error("count", f"a whole number from 1 to {MAX_BRANCHES}")
            return None
        self.set_error("count", None)
        return int(raw)
