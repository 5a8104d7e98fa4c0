"""Keys typed ahead: after creating a VM they act on the new VM, never on the previously selected one
(bug 1); right after a key that opens a dialog they reach the dialog, never the VM list."""

from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import Input

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, poll_now, settle, wait_actions, wait_until
from vmtui.core.errors import Conflict
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.create_vm import CreateVmScreen
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


def typed_at_once(app, *keys: str) -> None:
    """Queue keys the way a terminal delivers a burst: all posted before the app handles the first
    (Pilot's `press` waits for each key to be handled, which hides the race)."""
    chars = {"enter": "\r", "tab": "\t"}
    for key in keys:
        event = events.Key(key, chars.get(key, key))
        event.set_sender(app)
        app.post_message(event)


async def test_a_name_typed_right_after_n_goes_into_the_form_not_to_the_vm_list():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        before = screen.table.selected_vm.id
        typed_at_once(app, "n", *"box-j")  # on the list: b branches, x execs, j moves down
        await wait_until(pilot, lambda: isinstance(app.screen, CreateVmScreen), "the new-VM form")
        form = app.screen
        await wait_until(  # no #name until the form has composed
            pilot, lambda: [box.value for box in form.query("#name").results(Input)] == ["box-j"], "the name"
        )
        await wait_actions(pilot, app)
        assert app.screen is form and screen.table.selected_vm.id == before
        assert app.notes == [] and {call[0] for call in provider.calls} <= {"list_vms", "list_images"}


async def test_keys_typed_right_after_shift_d_answer_the_delete_question():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        vm_id = app.main_screen.table.selected_vm.id
        typed_at_once(app, "D", "y")  # `y` copies the id on the list; a delete question refuses it
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), "the delete question")
        await wait_actions(pilot, app)
        assert isinstance(app.screen, ConfirmDeleteScreen) and app.notes == []

        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main_screen, "the list again")
        typed_at_once(app, "D", "tab", "enter")  # from Cancel to Delete, pressed
        await wait_until(pilot, lambda: ("delete_vm", (vm_id,)) in provider.calls, "the delete")
        await wait_actions(pilot, app)
        assert app.screen is app.main_screen and [title for title, _, _ in app.notes] == ["Delete"]
