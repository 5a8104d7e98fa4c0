"""The TUI against the REAL local engine (`vmtui serve` for a temp state dir): keys drive real VMs."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from textual.widgets import Input

from tests.ui.helpers import poll_now, record_notes, settle, wait_actions
from vmtui.config import PollSettings, load_settings
from vmtui.core.models import VmState
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

pytestmark = pytest.mark.root


@pytest.fixture
def engine_settings(tmp_path):
    state_dir = tmp_path / "engine"
    config = tmp_path / "config.toml"
    config.write_text(
        f'active = "local"\n[poll]\ntimeout = 60\n'  # per request: generous, as a busy machine is slow
        f'[profiles.local]\nkind = "local"\nstate_dir = "{state_dir}"\n'
    )
    settings = load_settings(config)
    yield settings
    endpoint = state_dir / "endpoint.json"
    if endpoint.exists():
        pid = json.loads(endpoint.read_text())["pid"]
        _delete_all_vms(settings)
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)


def _delete_all_vms(settings) -> None:
    import asyncio

    async def wipe() -> None:
        provider = await Registry(settings).opener("local")(lambda _status: None)
        for vm in await provider.list_vms():
            await provider.delete_vm(vm.id)
        await provider.aclose()

    asyncio.run(wipe())


def states(app) -> dict[str, VmState]:
    return {vm.id: vm.state for vm in app.main_screen.table.vms.values()}


async def wait_for(pilot, app, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await poll_now(pilot, app)
        if predicate():
            return
    raise AssertionError("the UI never showed the expected state")


async def test_create_branch_commit_pause_with_keys(engine_settings):
    openers = Registry(engine_settings).openers(["local"])
    app = record_notes(
        VmTuiApp(openers, AppOptions(poll=PollSettings(fast=30, slow=30, max_backoff=30, timeout=30)))
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        assert app.main_screen.fleet.results["local"].stale is False
        assert app.main_screen.table.row_count == 0

        await pilot.press("n")  # new root VM with the defaults, waiting for boot
        await pilot.pause()
        app.screen.query_one("#labels", Input).value = "suite=tui"
        await pilot.press("enter")
        await wait_actions(pilot, app)
        await wait_for(pilot, app, lambda: list(states(app).values()) == [VmState.RUNNING])
        root_id = app.main_screen.table.selected_vm.id
        assert app.main_screen.table.selected_vm.labels == {"suite": "tui"}

        await pilot.press("b")  # branch into 2
        app.screen.query_one("#count", Input).value = "2"
        pushed = []
        push_screen = app.push_screen
        app.push_screen = lambda screen, *args, **kwargs: (
            pushed.append(screen),
            push_screen(screen, *args, **kwargs),
        )[1]
        await pilot.press("enter")
        await wait_actions(pilot, app)
        app.push_screen = push_screen
        (progress,) = pushed
        assert len(progress.states) == 2 and all(s is VmState.RUNNING for s in progress.states.values())
        assert app.screen is app.main_screen  # all ready: the progress dialog closed itself
        await wait_for(pilot, app, lambda: len(states(app)) == 3)
        children = [vm for vm in app.main_screen.table.vms.values() if vm.id != root_id]
        assert all(vm.parent_commit_id for vm in children)  # lineage comes through the real API

        app.main_screen.table.select(("local", root_id))
        await pilot.pause()
        await pilot.press("c")
        app.screen.query_one("#name", Input).value = "from the tui"
        await pilot.press("enter")
        await wait_actions(pilot, app)
        await wait_for(
            pilot,
            app,
            lambda: any(
                c.name == "from the tui" for c in app.main_screen.fleet.results["local"].fleet.commits
            ),
        )

        await pilot.press("p")
        await wait_actions(pilot, app)
        await wait_for(pilot, app, lambda: states(app)[root_id] is VmState.PAUSED)
        assert "paused" in app.main_screen.table.cells(("local", root_id))[2].plain
        await pilot.press("p")
        await wait_actions(pilot, app)
        await wait_for(pilot, app, lambda: states(app)[root_id] is VmState.RUNNING)
        notes = [message for _, message, _ in app.notes]
        assert any(m.startswith("Created VM") for m in notes) and any(m.startswith("Paused") for m in notes)

        await pilot.press("s")  # SSH terminal in the terminal pane, over the engine's TLS gateway
        from vmtui.ui.widgets.terminal_pane import TerminalPane

        deadline = time.monotonic() + 120
        typed = False
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            panes = list(app.main_screen.query_one("#terminal-area").query(TerminalPane))
            text = "\n".join(panes[0].emulator.screen_text()) if panes and panes[0].emulator else ""
            if "vmtui-42" in text:
                break
            if not typed and text.strip():
                await pilot.press(*"echo vmtui-$((6*7))", "enter")
                typed = True
        else:
            raise AssertionError(f"no shell output in the terminal pane: {text!r}")
