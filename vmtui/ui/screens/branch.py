"""Ask how many VMs to branch from the selected VM, commit or tag."""

from __future__ import annotations

from textual.app import ComposeResult

from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.form import FormScreen

MAX_BRANCHES = 64


class BranchScreen(FormScreen[int]):
    OK_LABEL = "Branch"

    def __init__(self, source: Vm | Commit | str) -> None:
        super().__init__()
        if isinstance(source, Vm):
            self.TITLE_TEXT = f"Branch {clean(source.display_name, 60)}"
        elif isinstance(source, Commit):
            self.TITLE_TEXT = f"New VMs from commit {clean(source.display_name, 60)}"
        else:
            self.TITLE_TEXT = f"New VMs from tag {clean(source, 60)}"

    def fields(self) -> ComposeResult:
        yield from self.field("count", f"How many new VMs (1–{MAX_BRANCHES})", "1")

    def validate(self) -> int | None:
        raw = self.value("count")
        if not raw.isdecimal() or not 1 <= int(raw) <= MAX_BRANCHES:
            self.set_error("count", f"a whole number from 1 to {MAX_BRANCHES}")
            return None
        self.set_error("count", None)
        return int(raw)
