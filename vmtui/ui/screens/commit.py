"""Ask for the name and description of a new commit of the selected VM, or new ones for a commit."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult

from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.form import FormScreen

MAX_TEXT = 500


@dataclass(frozen=True)
class CommitRequest:
    name: str
    description: str


class CommitScreen(FormScreen[CommitRequest]):
    OK_LABEL = "Commit"

    def __init__(self, item: Vm | Commit) -> None:
        """A VM: name a new commit of it; a commit: edit its name and description."""
        super().__init__()
        self.item = item
        if isinstance(item, Vm):
            self.TITLE_TEXT = f"Commit {clean(item.display_name, 60)}"
        else:
            self.TITLE_TEXT = f"Edit commit {clean(item.display_name, 60)}"
            self.OK_LABEL = "Save"

    def fields(self) -> ComposeResult:
        commit = self.item if isinstance(self.item, Commit) else None
        name, description = (commit.name or "", commit.description or "") if commit else ("", "")
        yield from self.field("name", "Name (optional)", name, placeholder="e.g. deps installed")
        yield from self.field("description", "Description (optional)", description)

    def validate(self) -> CommitRequest | None:
        ok = True
        for name in ("name", "description"):
            text = self.value(name)
            bad = next((ch for ch in text if ord(ch) < 32 or ord(ch) == 127), None)
            message = (
                f"at most {MAX_TEXT} characters"
                if len(text) > MAX_TEXT
                else "control characters are not allowed"
                if bad
                else None
            )
            ok = self.set_error(name, message) and ok
        return CommitRequest(self.value("name"), self.value("description")) if ok else None
