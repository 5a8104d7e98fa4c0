"""`d`: the files a VM changed since its parent commit, in the TUI, on the REAL local engine, by the
engine's diff route and (as on Vers) by temporary branches after the cost was shown."""

from __future__ import annotations

import functools

import pytest
from textual.widgets import Static
from textual_diff_view import DiffView

from tests.ui import test_local_engine
from tests.ui.helpers import settle, text_of, wait_until
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, make_app, open_engine, select_row
from vmtui.core.models import Commit, VmConfig, VmState
from vmtui.providers.vers import VersProvider
from vmtui.services import registry
from vmtui.services.file_diff import DiffRequest
from vmtui.ui import flows
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.file_diff import FileDiffScreen
from vmtui.ui.screens.main import MainScreen

pytestmark = pytest.mark.root
engine_settings = test_local_engine.engine_settings


async def _vm_on_a_commit(engine) -> tuple[str, str]:
    """A VM branched from a commit, which then changed /srv/t/a and added a file with an escape."""
    source = await engine.create_vm(VmConfig(), wait_boot=True)
    made = await engine.exec(source, ["sh", "-c", "mkdir -p /srv/t && echo one > /srv/t/a"])
    assert made.exit_code == 0, made.stderr
    commit_id = await engine.commit(source)
    (child,) = await engine.branch(commit_id, 1)
    script = "echo two >> /srv/t/a && printf 'x\\033[31m\\n' > /srv/t/esc"
    changed = await engine.exec(child, ["sh", "-c", script])
    assert changed.exit_code == 0, changed.stderr
    return child, commit_id


def _rows(screen: FileDiffScreen) -> list[str]:
    table = screen.table
    return [" ".join(str(cell) for cell in table.get_row_at(n)) for n in range(table.row_count)]


async def _open_text(pilot, screen: FileDiffScreen, path: str) -> DiffView:
    await wait_until(pilot, lambda: any(path in row for row in _rows(screen)), f"{path} listed")
    row = next(n for n, text in enumerate(_rows(screen)) if text.endswith(path))
    screen.table.move_cursor(row=row)

    def shown() -> bool:
        return any(view.path_modified.endswith(path) for view in screen.query(DiffView))

    await wait_until(pilot, shown, f"the text diff of {path}")
    return screen.query_one(DiffView)


async def test_d_shows_the_files_a_vm_changed_with_a_text_diff(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        child, commit_id = await _vm_on_a_commit(engine)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app).get(child) is VmState.RUNNING)
            await select_row(pilot, app, child)

            await pilot.press("d")  # the engine compares itself: no question, no VM
            await wait_until(pilot, lambda: isinstance(app.screen, FileDiffScreen), "the diff screen")
            screen = app.screen
            assert commit_id in text_of(screen.query_one("#diff-title"))
            view = await _open_text(pilot, screen, "/srv/t/a")
            assert (view.code_original, view.code_modified) == ("one\n", "one\ntwo\n")
            rows = _rows(screen)
            assert any(row.startswith("M file") and row.endswith("/srv/t/a") for row in rows), rows
            esc = await _open_text(pilot, screen, "/srv/t/esc")
            assert "\x1b" not in esc.code_modified and "x" in esc.code_modified  # shown, not obeyed
            assert "added" in text_of(screen.query_one("#diff-status", Static))

            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
        assert len(await engine.list_vms()) == 2
    finally:
        await engine.aclose()


async def test_without_a_diff_route_d_shows_the_cost_then_deletes_its_vm(engine_settings, monkeypatch):
    def like_vers(*args, **kwargs) -> VersProvider:
        return VersProvider(*args, **{**kwargs, "file_diff": False})

    monkeypatch.setattr(registry, "VersProvider", like_vers)
    engine = await open_engine(engine_settings)
    try:
        child, _ = await _vm_on_a_commit(engine)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app).get(child) is VmState.RUNNING)
            await select_row(pilot, app, child)
            screen_differ = app.main_screen.actions.file_differ("local")
            # only /srv: listing the host-derived image's whole tree twice is slow on a loaded machine
            monkeypatch.setattr(flows, "DiffRequest", functools.partial(DiffRequest, under="/srv"))

            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the cost question")
            body = text_of(app.screen.query_one("#confirm-body"))
            assert "1 temporary VM" in body and "time unknown" in body
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, FileDiffScreen), "the diff screen")
            screen = app.screen
            view = await _open_text(pilot, screen, "/srv/t/a")
            assert view.code_modified == "one\ntwo\n"
            assert any("Deleting temporary VM" in step for step in screen.steps)
            assert screen_differ.cost(screen.request).seconds is not None
        vms = {vm.id for vm in await engine.list_vms()}
        assert child in vms and len(vms) == 2  # the source and the child; the temporary VM is gone
    finally:
        await engine.aclose()


async def _select_in_tree(pilot, app, commit_id: str) -> None:
    await pilot.press("2", "home")
    tree = app.main_screen.lineage
    for _ in range(20):
        item = tree.selected_item()
        if isinstance(item, Commit) and item.id == commit_id:
            return
        await pilot.press("down")
    raise AssertionError(f"commit {commit_id} is not in the tree")


async def test_a_marked_base_makes_d_compare_two_commits(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(), wait_boot=True)
        assert (await engine.exec(vm_id, ["sh", "-c", "echo 1 > /root/v"])).exit_code == 0
        first = await engine.commit(vm_id, name="first")
        assert (await engine.exec(vm_id, ["sh", "-c", "echo 2 > /root/v; echo n > /root/new"])).exit_code == 0
        second = await engine.commit(vm_id, name="second")
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: len(app.main_screen.fleet.results["local"].fleet.commits) == 2)
            await _select_in_tree(pilot, app, second)
            await pilot.press("d")  # a commit of a root VM has no parent commit
            await pilot.pause()
            assert isinstance(app.screen, MainScreen)
            assert any("mark a commit as diff base" in m for _, m, _ in app.notes), app.notes

            await _select_in_tree(pilot, app, first)
            await app.main_screen.action_run("commit.diff_base")
            await _select_in_tree(pilot, app, second)
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, FileDiffScreen), "the diff screen")
            screen = app.screen
            assert (screen.request.before, screen.request.after) == (first, second)
            view = await _open_text(pilot, screen, "/root/v")
            assert (view.code_original, view.code_modified) == ("1\n", "2\n")
            assert any(row.startswith("A file") and row.endswith("/root/new") for row in _rows(screen))
    finally:
        await engine.aclose()
