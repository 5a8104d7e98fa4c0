"""`t`: a scratch VM on the REAL local engine: a branch of the selected VM opens in a terminal tab and
is deleted when the tab closes; one that was committed to is deleted only after asking."""

from __future__ import annotations

import pytest

from tests.ui import test_local_engine
from tests.ui.helpers import settle, text_of, wait_actions, wait_until
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, make_app, open_engine, select_row, wait_for_terminal_text
from vmtui.core.models import VmConfig, VmState
from vmtui.ui.screens.confirm import ConfirmScreen

pytestmark = pytest.mark.root
engine_settings = test_local_engine.engine_settings


async def open_scratch(pilot, app, engine, source: str) -> str:
    """Press t on `source`; the new VM's id once its tab shows a shell."""
    await select_row(pilot, app, source)
    await pilot.press("t")
    await wait_actions(pilot, app)
    (scratch,) = [key[1] for key in app.main_screen.actions.scratch]
    await wait_for_terminal_text(pilot, app, "scratch-42", "echo scratch-$((6*7))")
    vm = await engine.get_vm(scratch)
    assert vm.parent_commit_id is not None
    return scratch


async def close_tab(pilot, app) -> None:
    await app.main_screen.terminal.tabs.run_command("close")
    await pilot.pause()


async def test_t_opens_a_copy_in_a_tab_and_closing_the_tab_deletes_it(engine_settings, isolated_home):
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        assert (await engine.exec(source, ["sh", "-c", "echo mine > /root/f"])).exit_code == 0
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {source: VmState.RUNNING})
            scratch = await open_scratch(pilot, app, engine, source)
            assert (await engine.exec(scratch, ["cat", "/root/f"])).stdout == "mine\n"  # a real copy

            await close_tab(pilot, app)
            await wait_actions(pilot, app)
            await wait_until(pilot, lambda: not app.main_screen.actions.scratch, "the scratch VM to go")
            assert ("Scratch VM", f"Deleted scratch VM {scratch}", "information") in app.notes
        assert [vm.id for vm in await engine.list_vms()] == [source]
    finally:
        await engine.aclose()


async def test_a_committed_scratch_vm_is_deleted_only_after_asking(engine_settings, isolated_home):
    engine = await open_engine(engine_settings)
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {source: VmState.RUNNING})
            scratch = await open_scratch(pilot, app, engine, source)
            kept_commit = await engine.commit(scratch, name="worth keeping")

            await close_tab(pilot, app)
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            assert "committed to (1 commit(s))" in text_of(app.screen.query_one("#confirm-body"))
            app.screen.query_one("#confirm").focus()
            await pilot.press("enter")
            await wait_actions(pilot, app)
            await wait_until(pilot, lambda: not app.main_screen.actions.scratch, "the scratch VM to go")
        assert [vm.id for vm in await engine.list_vms()] == [source]
        assert kept_commit in {c.id for c in await engine.list_commits()}
        assert scratch not in {vm.id for vm in await engine.list_vms()}
    finally:
        await engine.aclose()
