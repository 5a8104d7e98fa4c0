"""Exec, broadcast exec and tunnels in the TUI, by keys, against the REAL local engine."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from textual.widgets import DataTable, Input, Log, Static

from tests.ui import test_local_engine
from tests.ui.helpers import settle, text_of, wait_until
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, make_app, open_engine, select_row
from vmtui.core.models import VmConfig, VmState
from vmtui.services.tunnels import TunnelState
from vmtui.ui.screens.broadcast import BroadcastScreen
from vmtui.ui.screens.exec_runs import ExecScreen
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.screens.tunnels import TunnelsScreen

pytestmark = pytest.mark.root

engine_settings = test_local_engine.engine_settings
HTTP_PORT = 8080


def log_text(screen) -> str:
    """The output panel's text; the empty line a final newline leaves open is not part of it."""
    return "\n".join(screen.query_one(Log).lines).removesuffix("\n")


def status_of(screen, widget_id: str) -> str:
    return text_of(screen.query_one(widget_id, Static))


async def test_x_runs_a_command_streams_its_output_keeps_the_exit_and_re_attaches(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(labels={"name": "exec-me"}), wait_boot=True)
        await engine.exec(vm_id, ["mkfifo", "/tmp/gate"])
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            await select_row(pilot, app, vm_id)

            await pilot.press("x")
            screen = app.screen
            assert isinstance(screen, ExecScreen) and screen.focused is screen.query_one(Input)
            await pilot.press(*"echo out; echo err >&2; exit 3", "enter")
            await wait_until(
                pilot, lambda: "exited with code 3" in status_of(screen, "#exec-status"), "exit 3"
            )
            assert log_text(screen).splitlines() == ["out", "err"]
            [run] = app.main_screen.exec_runs.runs
            assert run.exit_code == 3 and run.vm_id == vm_id

            # hostile output: a clipboard write (OSC 52), a screen clear, a bell; shown inert
            await pilot.press(*r"printf '\033]52;c;cHduZWQ=\007\033[2Jevil\a\n'", "enter")
            await wait_until(pilot, lambda: "evil" in log_text(screen), "the hostile output")
            assert not any(char in log_text(screen) for char in "\x1b\x07"), repr(log_text(screen))

            await pilot.press(*"echo first; cat /tmp/gate; echo last", "enter")
            await wait_until(pilot, lambda: log_text(screen) == "first", "the first line")
            await pilot.press("tab", "d")  # the runs table, then detach: the command runs on
            newest = app.main_screen.exec_runs.runs[0]
            await wait_until(pilot, lambda: "detached" in status_of(screen, "#exec-status"), "detached")
            await engine.exec(vm_id, ["sh", "-c", "echo middle > /tmp/gate"])
            await pilot.press("a")
            await wait_until(pilot, lambda: newest.exit_code == 0, "the re-attached run to end")
            await wait_until(pilot, lambda: log_text(screen) == "first\nmiddle\nlast", "the whole output")
            await pilot.press("l")  # the same run from the VM's exec log
            await wait_until(pilot, lambda: "exec log" in status_of(screen, "#exec-status"), "the log")
            assert log_text(screen) == "first\nmiddle\nlast"

            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
            await pilot.press("x")  # runs are kept across openings
            table = app.screen.query_one(DataTable)
            assert table.row_count == 3
            statuses = [text_of_cell(table, row, "status") for row in range(3)]
            assert statuses == ["exit 0", "exit 0", "exit 3"]
    finally:
        await engine.aclose()


def text_of_cell(table: DataTable, row: int, column: str) -> str:
    return str(table.get_cell_at((row, table.get_column_index(column))))


async def test_broadcast_over_three_vms_groups_outputs_with_failures_first(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        ids = []
        for name, role in (("web-1", "web"), ("web-2", "web"), ("db-1", "db")):
            vm_id = await engine.create_vm(VmConfig(labels={"name": name}), wait_boot=True)
            await engine.exec(vm_id, ["sh", "-c", f"echo {role} > /etc/role"])
            ids.append(vm_id)
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: set(states(app)) == set(ids))
            for vm_id in ids:  # the list marks VMs with Space
                await select_row(pilot, app, vm_id)
                await pilot.press("space")
            await select_row(pilot, app, ids[0])
            await pilot.press("X")
            screen = app.screen
            assert isinstance(screen, BroadcastScreen) and len(screen.targets) == 3
            await pilot.press(*'cat /etc/role; [ "$(cat /etc/role)" = web ] || exit 5', "enter")
            await wait_until(
                pilot, lambda: "distinct output" in status_of(screen, "#broadcast-status"), "done"
            )
            assert (
                status_of(screen, "#broadcast-status")
                .strip()
                .endswith("3 VM(s), 2 distinct output(s), 1 failed")
            )
            shown = text_of(screen.query_one("#broadcast-groups", Static))
            db_heading = shown.index("1 VM: db-1 [exit 5]")
            web_heading = shown.index("2 VMs: web-1, web-2")
            assert db_heading < shown.index("\ndb\n") < web_heading < shown.index("\nweb\n")
    finally:
        await engine.aclose()


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=30) as response:
        return response.read()


async def fetch_when_ready(port: int) -> bytes:
    for _ in range(300):  # the web server in the VM may still be starting
        try:
            return await asyncio.to_thread(fetch, port)
        except OSError:
            await asyncio.sleep(0.2)
    raise AssertionError("nothing answered through the tunnel")


async def test_f_opens_a_tunnel_fetches_through_it_survives_a_drop_and_closes(engine_settings):
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(labels={"name": "web"}), wait_boot=True)
        serve = f"mkdir -p /srv && echo hi-through-tunnel > /srv/hello.txt && cd /srv && python3 -m http.server {HTTP_PORT} --bind 127.0.0.1 >/dev/null 2>&1 &"
        assert (await engine.exec(vm_id, ["sh", "-c", serve])).exit_code == 0
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            await select_row(pilot, app, vm_id)
            await pilot.press("F")
            screen = app.screen
            assert isinstance(screen, TunnelsScreen)
            await pilot.press(*f"0:{HTTP_PORT}", "enter")
            tunnels = app.main_screen.tunnels
            await wait_until(pilot, lambda: len(tunnels.open_tunnels) == 1, "the tunnel to open")
            [tunnel] = tunnels.open_tunnels
            table = screen.query_one(DataTable)
            assert text_of_cell(table, 0, "local") == f"127.0.0.1:{tunnel.local_port}"
            assert text_of_cell(table, 0, "state") == "up"
            assert await fetch_when_ready(tunnel.local_port) == b"hi-through-tunnel\n"

            tunnel.retry_delay = 0.2
            tunnel.session.connection.abort()  # the SSH connection under the tunnel drops
            await wait_until(
                pilot, lambda: tunnel.reconnects == 1 and tunnel.state is TunnelState.UP, "reconnect"
            )
            await wait_until(pilot, lambda: "reconnected 1×" in text_of_cell(table, 0, "note"), "the note")
            assert await fetch_when_ready(tunnel.local_port) == b"hi-through-tunnel\n"

            await pilot.press("escape", "q")  # the tunnel outlives the screen; quitting asks first
            assert app.is_running and any("1 tunnel open: press q again" in m for _, m, _ in app.notes)
            await pilot.press("F")
            screen = app.screen
            assert screen.query_one(DataTable).row_count == 1
            await pilot.press("tab", "d")
            await wait_until(pilot, lambda: not tunnels.open_tunnels, "the tunnel to close")
            assert tunnel.state is TunnelState.CLOSED
            with pytest.raises(OSError):
                await asyncio.to_thread(fetch, tunnel.local_port)
    finally:
        await engine.aclose()
