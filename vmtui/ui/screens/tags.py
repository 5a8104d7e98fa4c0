"""`T`: the profile's commit tags — names pointing at commits: create, move, delete, start VMs from one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from vmtui.core.models import CommitTag
from vmtui.services.actions import Actions, Outcome
from vmtui.ui.format import clean, format_age, safe
from vmtui.ui.screens.branch import BranchScreen
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.form import FormScreen
from vmtui.ui.screens.list_screen import ListScreen, Row, close_binding, reload_binding

TAG_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""vers-sdk 1.20.0: alphanumeric, hyphens, underscores, dots, 1-64 characters."""
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class TagRequest:
    name: str
    commit_id: str
    description: str = ""


class TagFormScreen(FormScreen[TagRequest]):
    """Create a tag (name, commit, description), or move one (`moving`: only the commit is asked)."""

    def __init__(self, commit_id: str = "", moving: str | None = None) -> None:
        super().__init__()
        self.commit_id = commit_id
        self.moving = moving
        self.TITLE_TEXT = f"Move tag {clean(moving, 60)}" if moving else "New commit tag"
        self.OK_LABEL = "Move" if moving else "Create"

    def fields(self) -> ComposeResult:
        if self.moving is None:
            yield from self.field("name", "Tag name", placeholder="e.g. stable, v1.0")
        yield from self.field("commit", "Commit id", self.commit_id)
        if self.moving is None:
            yield from self.field("description", "Description (optional)")

    def validate(self) -> TagRequest | None:
        commit_id = self.value("commit")
        ok = self.set_error("commit", None if commit_id else "a commit id is needed")
        if self.moving is not None:
            return TagRequest(self.moving, commit_id) if ok else None
        name, description = self.value("name"), self.value("description")
        bad_name = None if TAG_NAME.fullmatch(name) else "1–64 letters, digits, '.', '_' or '-'"
        unprintable = len(description) > MAX_DESCRIPTION or any(ord(ch) < 32 for ch in description)
        bad_description = f"at most {MAX_DESCRIPTION} printable characters" if unprintable else None
        ok = self.set_error("name", bad_name) and ok
        ok = self.set_error("description", bad_description) and ok
        return TagRequest(name, commit_id, description) if ok else None


class TagsScreen(ListScreen[CommitTag]):
    KIND = "tags"
    TITLE = "Commit tags"
    WHAT = "tags"
    COLUMNS = (
        ("Tag", "name", 20),
        ("Commit", "commit", 38),
        ("Moved", "age", 6),
        ("Description", "description", None),
    )
    SHOW_PALETTE_KEY = False
    BINDINGS: ClassVar[list[BindingType]] = [
        close_binding(KIND),
        Binding(
            "a", "create", "New tag", id="tags.create", tooltip="Tag a commit (the selected one is filled in)"
        ),
        Binding("m", "move", "Move", id="tags.move", tooltip="Point the highlighted tag at another commit"),
        Binding("b", "branch", "New VMs", id="tags.branch", tooltip="Start N VMs from the tag's commit"),
        Binding("D", "delete", "Delete", id="tags.delete", tooltip="Delete the tag (its commit stays)"),
        reload_binding(KIND, "tags"),
    ]

    def __init__(
        self,
        actions: Actions,
        profile: str,
        now: Callable[[], float],
        *,
        commit_id: str = "",
        read_only: bool = False,
        on_new_vms: Callable[[tuple[str, ...]], object] = lambda ids: None,
    ) -> None:
        super().__init__(actions)
        self.profile = profile
        self.now = now
        self.commit_id = commit_id
        self.read_only = read_only
        self.on_new_vms = on_new_vms

    def heading(self) -> Text:
        return Text(f"Commit tags on {clean(self.profile, 40)}")

    async def fetch(self) -> list[CommitTag]:
        return sorted(await self.actions.list_tags(self.profile), key=lambda tag: tag.name)

    def rows(self, items: list[CommitTag]) -> Iterable[Row]:
        for tag in items:
            moved = tag.updated_at or tag.created_at
            cells = (
                safe(tag.name, limit=64),
                safe(tag.commit_id, limit=40),
                format_age(self.now() - moved.timestamp() if moved else None),
                safe(tag.description or "", limit=80),
            )
            yield tag.name, cells

    def loaded(self) -> str:
        return f"{len(self.items)} tag(s)"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("create", "move", "branch", "delete") and self.read_only:
            return None
        return True

    def _selected(self) -> CommitTag | None:
        name = self.selected_key()
        return next((tag for tag in self.items if tag.name == name), None)

    def action_create(self) -> None:
        def create(request: TagRequest | None) -> None:
            if request is not None:
                self.change(
                    lambda: self.actions.create_tag(
                        self.profile, request.name, request.commit_id, request.description
                    ),
                    f"Cannot create tag {clean(request.name, 40)}",
                    "Not created",
                )

        self.app.push_screen(TagFormScreen(self.commit_id), create)

    def action_move(self) -> None:
        tag = self._selected()
        if tag is None:
            return

        def move(request: TagRequest | None) -> None:
            if request is not None:
                self.change(
                    lambda: self.actions.move_tag(self.profile, tag.name, request.commit_id),
                    f"Cannot move tag {clean(tag.name, 40)}",
                    "Not moved",
                )

        self.app.push_screen(TagFormScreen(self.commit_id or tag.commit_id, moving=tag.name), move)

    def action_branch(self) -> None:
        tag = self._selected()
        if tag is None:
            return

        def branch(count: int | None) -> None:
            if count is not None:
                failed = f"Cannot start VMs from {clean(tag.name, 40)}"
                self.change(partial(self._start_from_tag, tag.name, count), failed, "Not started")

        self.app.push_screen(BranchScreen(tag.name), branch)

    async def _start_from_tag(self, name: str, count: int) -> Outcome:
        outcome = await self.actions.branch_tag(self.profile, name, count)
        self.on_new_vms(outcome.ids)
        return outcome

    def action_delete(self) -> None:
        tag = self._selected()
        if tag is None:
            return
        question = ConfirmScreen(
            f"Delete tag {clean(tag.name, 50)}?",
            Text(f"{clean(self.profile, 30)} · points at {clean(tag.commit_id, 60)}", style="bold"),
            Text("The commit stays; only the name goes. VMs and scripts naming the tag no longer find it."),
        )
        self.confirm(
            question,
            lambda: self.change(
                lambda: self.actions.delete_tag(self.profile, tag.name),
                f"Cannot delete {clean(tag.name, 40)}",
                "Not deleted",
            ),
        )
