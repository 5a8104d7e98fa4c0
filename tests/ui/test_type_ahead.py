"""Bug 1: keys typed ahead after creating a VM act on the new VM, never on the previously selected one."""

from __future__ import annotations

import asyncio

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, poll_now, settle, wait_actions
from vmtui.core.errors import Conflict
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

SIZE = (140, 40)


def gate_create(provider, failure: Exception | None = None) -> asyncio.Event:
    """Hold `create_vm` until the returned event is set (a real platform takes seconds)."""
    release = asyncio.Event()
    create = provider.create_vm

    async def held_create(config, *, wait_boot=False):
        await release.wait()
        if failure is not None:
            raise failure
        return await create(config, wait_boot=wait_boot)

    provider.create_vm = held_create
    return release


async def test_n_enter_s_typed_quickly_opens_the_shell_on_the_new_vm():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        release = gate_create(provider)
        screen = app.main_screen
        await pilot.press("n", "enter", "s")
        await pilot.pause()
        assert not screen.query(TerminalTabs), "the shell must not open on the previously selected VM"
        assert any("runs on the new VM" in message for _, message, _ in app.notes)
        release.set()
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        (new_id,) = [vm_id for vm_id in provider.vms if vm_id.startswith("vm-0")]
        assert screen.table.selected_vm.id == new_id
        for _ in range(100):
            if screen.query(TerminalTabs):
                break
            await asyncio.sleep(0.05)
        tabs = screen.query_one(TerminalTabs)
        assert [session.title for session in tabs.sessions] == [screen.table.selected_vm.display_name]


async def test_a_vm_action_typed_ahead_is_dropped_with_a_reason_when_the_create_fails():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        release = gate_create(provider, Conflict("quota reached"))
        await pilot.press("n", "enter", "p")
        await pilot.pause()
        release.set()
        await wait_actions(pilot, app)
        await pilot.pause()
        assert not [c for c in provider.calls if c[0] in ("pause_vm", "resume_vm")]
        assert any("Not run: vm.pause" in message for _, message, _ in app.notes)
