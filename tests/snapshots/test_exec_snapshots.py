"""SVG snapshot of the exec screen at 80x24: every column of the runs table whole, output below."""

from __future__ import annotations

import time

from textual.widgets import Input

from tests.ui.test_exec_output_feed import StyledApp, chunk
from vmtui.core.models import Vm, VmState
from vmtui.services.exec_runs import ExecRun, ExecRuns
from vmtui.ui.screens.exec_runs import ExecScreen

VM = Vm(provider="local", provider_kind="vers", id="vm-1", label="build-box", state=VmState.RUNNING)


def three_runs() -> ExecRuns:
    """A finished, a failed and a detached run, minutes old (the ages stay put while the test runs)."""
    runs = ExecRuns({})
    started = time.time() - 5 * 60
    for exec_id, line, code in (
        ("detached", "tail -f /var/log/syslog | grep --line-buffered -i error", None),
        ("failed", "make -C /src test", 2),
        ("done", "uname -a", 0),
    ):
        run = ExecRun("local", VM.id, VM.display_name, ("sh", "-c", line), exec_id, started=started)
        run.apply(chunk(b"Linux build-box 6.1.0 x86_64 GNU/Linux\n"))
        run.exit_code = code
        runs.runs.append(run)
    return runs


def test_exec_runs_at_80x24(snap_compare):
    app = StyledApp()

    async def open_screen(pilot) -> None:
        await app.push_screen(ExecScreen(three_runs(), VM))
        await pilot.pause()
        app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_screen)
