"""Commits and tags as first-class objects of the TUI, by keys, against the REAL local engine: edit,
publish/unpublish, history, N VMs from a commit (`b` and `R`), delete naming dependants, and the tags
screen (create, move, start VMs, delete). Each step is checked in the engine through a second provider."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from tests.ui.helpers import settle, text_of, wait_actions
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import (
    SIZE,
    engine_settings,  # noqa: F401 - the fixture
    make_app,
    open_engine,
    select_commit_in_tree,
)
from vmtui.core.models import VmConfig, VmState
from vmtui.ui.screens.commit_history import CommitHistoryScreen
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.screens.tags import TagFormScreen, TagsScreen

pytestmark = pytest.mark.root


def commits_of(app) -> dict[str, object]:
    return {c.id: c for c in app.main_screen.fleet.results["local"].fleet.commits}


async def fill(pilot, field: str, text: str) -> None:
    field_input = pilot.app.screen.query_one(f"#{field}", Input)
    field_input.value = text
    await pilot.pause()


async def confirm(pilot) -> None:
    assert isinstance(pilot.app.screen, ConfirmScreen)
    pilot.app.screen.query_one("#confirm", Button).press()
    await wait_actions(pilot, pilot.app)


async def test_edit_publish_history_branch_and_delete_a_commit_from_the_tree(engine_settings):  # noqa: F811
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        commit_id = await engine.commit(source, name="base")
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: commit_id in commits_of(app))
            await select_commit_in_tree(pilot, app)

            await pilot.press("M")  # edit: the form shows the current name
            assert pilot.app.screen.query_one("#name", Input).value == "base"
            await fill(pilot, "name", "bad\x07name")
            await pilot.press("enter")
            assert "control characters" in text_of(app.screen.query_one("#name-error"))  # inline, not sent
            await fill(pilot, "name", "renamed")
            await fill(pilot, "description", "deps installed")
            await pilot.press("enter")
            await wait_actions(pilot, app)
            [stored] = [c for c in await engine.list_commits() if c.id == commit_id]
            assert (stored.name, stored.description, stored.is_public) == ("renamed", "deps installed", False)

            await wait_for(pilot, app, lambda: commits_of(app)[commit_id].name == "renamed")
            await pilot.press("U")  # publish asks first, then shares it
            assert "Publish commit renamed?" in app.screen.title_text
            await confirm(pilot)
            assert [c.is_public for c in await engine.list_commits() if c.id == commit_id] == [True]
            await wait_for(pilot, app, lambda: commits_of(app)[commit_id].is_public)
            await pilot.press("U")
            assert "Unpublish" in app.screen.title_text
            await confirm(pilot)
            assert [c.is_public for c in await engine.list_commits() if c.id == commit_id] == [False]

            await pilot.press("H")
            history = app.screen
            assert isinstance(history, CommitHistoryScreen)
            await wait_for(pilot, app, lambda: history.table.row_count == 1)
            assert [c.id for c in history.items] == [commit_id]
            await pilot.press("escape")

            await wait_for(pilot, app, lambda: not commits_of(app)[commit_id].is_public)
            await select_commit_in_tree(pilot, app)
            await pilot.press("b")  # on a commit: N VMs from it (branch by commit)
            await fill(pilot, "count", "2")
            await pilot.press("enter")
            await wait_actions(pilot, app)
            started = [m for t, m, _ in app.notes if t == "New VMs from commit"]
            assert started and started[0].startswith(f"Started 2 VMs from commit {commit_id}"), app.notes
            children = {vm.id for vm in await engine.list_vms() if vm.parent_commit_id == commit_id}
            assert len(children) == 2
            await pilot.press("escape")  # the progress dialog

            await wait_for(pilot, app, lambda: children <= set(states(app)))
            await select_commit_in_tree(pilot, app)
            await pilot.press(
                "D"
            )  # the commit: its dependants are named, the engine refuses while VMs use it
            dialog = app.screen
            assert isinstance(dialog, ConfirmDeleteScreen)
            body = text_of(dialog.query_one("#confirm-body"))
            assert "2 VM(s) (2 started from it)" in body and all(child in body for child in children), body
            await confirm(pilot)
            failures = [m for t, m, _ in app.notes if t == "Delete commit failed"]
            assert failures and "active VM" in failures[0], app.notes
            assert commit_id in {c.id for c in await engine.list_commits()}

            for child in children:
                await engine.delete_vm(child)
            await wait_for(pilot, app, lambda: set(states(app)) == {source})
            await select_commit_in_tree(pilot, app)
            await pilot.press("D")
            assert "Nothing depends on it" in text_of(app.screen.query_one("#confirm-body"))
            await confirm(pilot)
            assert ("Delete commit", f"Deleted commit {commit_id}", "information") in app.notes
            assert commit_id not in {c.id for c in await engine.list_commits()}
            await wait_for(pilot, app, lambda: not commits_of(app))
            assert isinstance(app.screen, MainScreen) and states(app) == {source: VmState.RUNNING}
    finally:
        await engine.aclose()


async def test_the_tags_screen_creates_moves_starts_from_and_deletes_a_tag(engine_settings):  # noqa: F811
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        first = await engine.commit(source, name="first")
        second = await engine.commit(source, name="second")
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: {first, second} <= set(commits_of(app)))
            await select_commit_in_tree(pilot, app)
            selected = app.main_screen.lineage.selected_item().id
            other = second if selected == first else first

            await pilot.press("T")
            screen = app.screen
            assert isinstance(screen, TagsScreen)
            await wait_for(
                pilot, app, lambda: text_of(screen.query_one("#tags-status")).strip() == "0 tag(s)"
            )
            await pilot.press("a")
            form = app.screen
            assert isinstance(form, TagFormScreen)
            assert form.query_one("#commit", Input).value == selected  # the tree's commit, filled in
            await fill(pilot, "name", "no spaces")
            await pilot.press("enter")
            assert "letters, digits" in text_of(form.query_one("#name-error"))
            await fill(pilot, "name", "stable")
            await pilot.press("enter")
            await wait_actions(pilot, app)
            [tag] = await engine.list_tags()
            assert (tag.name, tag.commit_id) == ("stable", selected)
            await wait_for(pilot, app, lambda: screen.table.row_count == 1)

            await pilot.press("m")
            await fill(pilot, "commit", other)
            await pilot.press("enter")
            await wait_actions(pilot, app)
            assert [t.commit_id for t in await engine.list_tags()] == [other]

            await pilot.press("b")
            await pilot.press("enter")  # one VM
            await wait_actions(pilot, app)
            started = [vm for vm in await engine.list_vms() if vm.parent_commit_id == other]
            assert len(started) == 1, app.notes

            await pilot.press("D")
            await confirm(pilot)
            assert await engine.list_tags() == []
            assert {first, second} <= {c.id for c in await engine.list_commits()}  # the commits stay
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
            await wait_for(pilot, app, lambda: started[0].id in states(app))
    finally:
        await engine.aclose()
