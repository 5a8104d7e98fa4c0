"""Checkpoints on the REAL local engine: delete takes a `vmtui.checkpoint` commit first (config
`checkpoint`), the tree shows it as an undo node, `u` brings the VM back with its labels and files,
and old checkpoints are pruned to `checkpoint_keep`."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox

from tests.ui import test_local_engine
from tests.ui.helpers import settle, wait_actions
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, make_app, open_engine, select_row
from vmtui.core.models import VmConfig, VmState
from vmtui.services.checkpoints import CHECKPOINT_NAME, checkpoints
from vmtui.ui.app import VmTuiApp
from vmtui.ui.screens.confirm_bulk import ConfirmBulkScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen

pytestmark = pytest.mark.root
engine_settings = test_local_engine.engine_settings


async def delete_selected(pilot, app: VmTuiApp, *, untick: bool = False) -> None:
    await pilot.press("D")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmDeleteScreen)
    if untick:
        app.screen.query_one("#checkpoint-first").toggle()
        await pilot.pause()
    app.screen.query_one("#confirm").focus()
    await pilot.press("enter")
    await wait_actions(pilot, app)


def tree_labels(app: VmTuiApp) -> list[str]:
    lines: list[str] = []
    stack = [app.main_screen.lineage.root]
    while stack:
        node = stack.pop()
        lines.append(str(node.label))
        stack.extend(node.children)
    return lines


async def test_delete_checkpoints_and_u_restores_the_vm(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(labels={"name": "web", "team": "core"}), wait_boot=True)
        assert (await engine.exec(vm_id, ["sh", "-c", "echo precious > /root/data"])).exit_code == 0
        app = make_app(engine_settings)  # checkpoint = "ask": the box is ticked
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            await select_row(pilot, app, vm_id)

            await delete_selected(pilot, app)
            await wait_for(pilot, app, lambda: not states(app))
            (checkpoint,) = checkpoints(await engine.list_commits())
            assert checkpoint.parent_vm_id == vm_id
            assert any(f"Deleted {vm_id}; checkpoint {checkpoint.id}" in m for _, m, _ in app.notes), (
                app.notes
            )
            await wait_for(
                pilot, app, lambda: any("checkpoint of web before delete" in t for t in tree_labels(app))
            )

            await pilot.press("u")
            await wait_actions(pilot, app)
            await wait_for(pilot, app, lambda: len(states(app)) == 1)
            (restored,) = states(app)
        vm = await engine.get_vm(restored)
        assert vm.labels == {"name": "web", "team": "core"} and vm.parent_commit_id == checkpoint.id
        assert (await engine.exec(restored, ["cat", "/root/data"])).stdout == "precious\n"
    finally:
        await engine.aclose()


async def test_unticked_or_never_takes_no_checkpoint_and_old_ones_are_pruned(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        made = [await engine.create_vm(VmConfig(labels={"name": f"vm{n}"}), wait_boot=True) for n in range(4)]
        app = make_app(engine_settings, checkpoint_keep=2)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: len(states(app)) == 4)
            await select_row(pilot, app, made[0])
            await delete_selected(pilot, app, untick=True)
            assert not checkpoints(await engine.list_commits())
            for vm_id in made[1:]:
                await wait_for(pilot, app, lambda vm_id=vm_id: vm_id in states(app))
                await select_row(pilot, app, vm_id)
                await delete_selected(pilot, app)
            kept = checkpoints(await engine.list_commits())
            assert [c.parent_vm_id for c in kept] == [made[3], made[2]]  # newest two; vm1's was pruned
            assert all(c.name == CHECKPOINT_NAME for c in kept)

        never = make_app(engine_settings, checkpoint="never")
        survivor = await engine.create_vm(VmConfig(), wait_boot=True)
        async with never.run_test(size=SIZE) as pilot:
            await settle(pilot, never)
            await wait_for(pilot, never, lambda: survivor in states(never))
            await select_row(pilot, never, survivor)
            await pilot.press("D")
            await pilot.pause()
            assert not never.screen.query("#checkpoint-first")
            never.screen.query_one("#confirm").focus()
            await pilot.press("enter")
            await wait_actions(pilot, never)
        assert len(checkpoints(await engine.list_commits())) == 2
    finally:
        await engine.aclose()


async def test_bulk_delete_checkpoints_every_running_vm_and_keeps_them_all(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        made = [
            await engine.create_vm(VmConfig(labels={"name": f"bulk{n}"}), wait_boot=True) for n in range(3)
        ]
        app = make_app(engine_settings, checkpoint_keep=1)  # fewer than the bulk delete takes
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: set(states(app)) == set(made))
            await pilot.press("ctrl+a", "D")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmBulkScreen)
            assert app.screen.query_one("#checkpoint-first", Checkbox).value  # "ask" (default): ticked
            app.screen.query_one("#confirm").focus()
            await pilot.press("enter")
            await wait_actions(pilot, app)
            await wait_for(pilot, app, lambda: not states(app))
            kept = checkpoints(await engine.list_commits())
            assert {c.parent_vm_id for c in kept} == set(made)  # none pruned by the run that took them

            await pilot.press("u")
            await wait_actions(pilot, app)
            await wait_for(pilot, app, lambda: len(states(app)) == 1)
            (restored,) = states(app)
        assert (await engine.get_vm(restored)).parent_commit_id == kept[0].id  # the newest

        unticked = [await engine.create_vm(VmConfig(), wait_boot=True) for _ in range(2)]
        again = make_app(engine_settings)
        async with again.run_test(size=SIZE) as pilot:
            await settle(pilot, again)
            await wait_for(pilot, again, lambda: set(unticked) <= set(states(again)))
            await select_row(pilot, again, unticked[0])
            await pilot.press("space")
            await select_row(pilot, again, unticked[1])
            await pilot.press("space", "D")
            await pilot.pause()
            again.screen.query_one("#checkpoint-first", Checkbox).toggle()
            await pilot.pause()
            again.screen.query_one("#confirm").focus()
            await pilot.press("enter")
            await wait_actions(pilot, again)
            await wait_for(pilot, again, lambda: not set(unticked) & set(states(again)))
        assert {c.parent_vm_id for c in checkpoints(await engine.list_commits())} == set(made)
    finally:
        await engine.aclose()
