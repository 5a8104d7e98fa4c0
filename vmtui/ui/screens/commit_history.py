"""`H` on a commit: its ancestry (`/vm/commits/{id}/parents`), the commit first, up to the root."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from vmtui.core.models import Commit
from vmtui.services.actions import Actions
from vmtui.ui.format import clean, format_age, safe
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding


def commit_age(commit: Commit, now: Callable[[], float]) -> str:
    return format_age(now() - commit.created_at.timestamp() if commit.created_at else None)


class CommitHistoryScreen(ListScreen[Commit]):
    KIND = "history"
    TITLE = "Commit history"
    WHAT = "commits"
    COLUMNS = (("Commit", "id", 38), ("Name", "name", 24), ("Age", "age", 6), ("Public", "public", 6))
    SHOW_PALETTE_KEY = False
    BINDINGS: ClassVar[list[BindingType]] = [close_binding(KIND), reload_binding(KIND, "history")]

    def __init__(self, actions: Actions, commit: Commit, now: Callable[[], float]) -> None:
        super().__init__(actions)
        self.commit = commit
        self.now = now

    def heading(self) -> Text:
        return Text(f"History of commit {clean(self.commit.display_name, 60)} (newest first)")

    async def fetch(self) -> list[Commit]:
        return await self.actions.commit_history(self.commit)

    def rows(self, items: list[Commit]) -> Iterable[Row]:
        for commit in items:
            cells = (
                safe(commit.id, limit=40),
                safe(commit.title or "", limit=40),
                commit_age(commit, self.now),
                "yes" if commit.is_public else "",
            )
            yield commit.id, cells

    def loaded(self) -> str:
        return f"{len(self.items)} commit(s) from this one up to the root"
