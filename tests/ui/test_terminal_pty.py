"""TerminalPane driving a real bash on a local PTY: echo, ctrl-C, resize, vim in and out, exit."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.containers import Container

from tests.ui.terminal_helpers import TerminalApp, screen_lines
from vmtui.terminal.pty_transport import PtyTransport
from vmtui.terminal.remote_emulator import RemoteEmulator
from vmtui.terminal.transport import TerminalSink
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalTabs


def bash_factory(home: Path):
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "xterm-256color",
        "PS1": "$ ",
        "LANG": "C.UTF-8",
    }

    async def open_bash(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(
            sink, cols, rows, ["bash", "--norc", "--noprofile", "-i"], env=env, cwd=home
        )

    return open_bash


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; screen: {screen_lines(pilot.app.pane)}")
        await pilot.pause(0.05)


async def type_line(pilot, text: str) -> None:
    await pilot.press(*[("space" if char == " " else char) for char in text], "enter")


def shows(pilot, text: str) -> Callable[[], bool]:
    return lambda: any(text == line.strip() for line in screen_lines(pilot.app.pane))


@pytest.mark.parametrize("emulator", ["avt", "pyte"])
async def test_echo_size_ctrl_c_and_resize(tmp_path: Path, emulator: str) -> None:
    app = TerminalApp(emulator, factory=bash_factory(tmp_path))
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: screen_lines(app.pane)[0].startswith("$"))
        await type_line(pilot, "echo hi-$((6*7))")
        await wait_for(pilot, shows(pilot, "hi-42"))
        await type_line(pilot, "stty size")
        await wait_for(pilot, shows(pilot, "17 60"))  # the pane's real size from the first byte on
        # The marker is printed by the foreground job itself: ctrl-C from then on interrupts it.
        await type_line(pilot, "sh -c 'echo go-$((1+1)); exec sleep 3600'")
        await wait_for(pilot, shows(pilot, "go-2"))
        await pilot.press("ctrl+c")
        await type_line(pilot, "echo status=$?")
        await wait_for(pilot, shows(pilot, "status=130"))  # the hour-long sleep was interrupted
        await pilot.resize_terminal(80, 25)
        await wait_for(pilot, lambda: app.pane.emulator.size == (80, 22))  # debounced, then sent to the PTY
        await type_line(pilot, "stty size")
        await wait_for(pilot, shows(pilot, "22 80"))


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")
async def test_vim_opens_and_quits_restoring_the_shell_screen(tmp_path: Path) -> None:
    app = TerminalApp(factory=bash_factory(tmp_path))
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: screen_lines(app.pane)[0].startswith("$"))
        await type_line(pilot, "echo before-vim")
        await wait_for(pilot, shows(pilot, "before-vim"))
        await type_line(pilot, "vim -u NONE -N -i NONE notes.txt")
        await wait_for(pilot, lambda: app.pane.emulator.alternate_screen and shows(pilot, "~")())
        assert not shows(pilot, "before-vim")()
        await pilot.press("i", "h", "e", "y", "escape")
        await wait_for(pilot, lambda: screen_lines(app.pane)[0].startswith("hey"))
        await type_line(pilot, ":wq")
        await wait_for(pilot, lambda: not app.pane.emulator.alternate_screen)
        await wait_for(pilot, shows(pilot, "before-vim"))
        assert not shows(pilot, "~")()
        assert (tmp_path / "notes.txt").read_text() == "hey\n"


async def test_shell_exit_closes_the_session(tmp_path: Path) -> None:
    app = TerminalApp(factory=bash_factory(tmp_path))
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: screen_lines(app.pane)[0].startswith("$"))
        await type_line(pilot, "exit 3")
        await wait_for(pilot, lambda: app.pane.closed_reason is not None)
        assert app.pane.closed_reason == "process exited with status 3"


async def test_a_flood_that_ends_with_its_program_is_painted_to_the_last_line(tmp_path: Path) -> None:
    lines = 300_000  # ~2 MB: many times the PTY's buffers and the pane's flow-control high water
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    async def open_seq(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(sink, cols, rows, ["sh", "-c", f"exec seq 1 {lines}"], env=env)

    app = TerminalApp(factory=open_seq)
    async with app.run_test(size=(60, 20)) as pilot:
        pane = app.pane
        await wait_for(pilot, lambda: pane.closed_reason is not None and pane.settled)
        rows = pane.emulator.rows
        assert pane.closed_reason == "process exited with status 0"
        assert screen_lines(pane)[: rows - 1] == [str(n) for n in range(lines - rows + 2, lines + 1)]
        assert pane.emulator.total_scrolled == lines - (rows - 1), "every line went through the screen"


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("pty-reader-")]


class TabsApp(App):
    def compose(self) -> ComposeResult:
        yield Container(TerminalTabs(), id="terminal-area")

    @property
    def pane(self) -> TerminalPane:  # what the shared wait helpers look at: the tab shown
        session = self.query_one(TerminalTabs).active_session
        assert session is not None
        return session.pane


def flood_progress(pane: TerminalPane) -> int:
    """How much of its output a pane has taken in: the bytes handed to its parser process (a hidden
    tab takes no frames, so the scroll count it mirrors waits for the next one), else lines scrolled."""
    emulator = pane.emulator
    assert emulator is not None
    return emulator.sent if isinstance(emulator, RemoteEmulator) else emulator.total_scrolled


async def test_keys_reach_a_session_while_another_floods_and_closing_stops_both_readers(
    tmp_path: Path,
) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    async def open_flood(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(
            sink, cols, rows, ["sh", "-c", "while :; do seq 1 100000; done"], env=env
        )

    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        tabs = app.query_one(TerminalTabs)
        flooding = await tabs.open_session("flood", open_flood)
        await wait_for(
            pilot, lambda: flooding.emulator is not None and flooding.emulator.total_scrolled > 1000
        )
        typing = await tabs.open_session("bash", bash_factory(tmp_path))
        typing.focus()
        await wait_for(pilot, lambda: typing.size.height > 0 and screen_lines(typing)[0].startswith("$"))
        taken_in = flood_progress(flooding)
        # Keys are posted as the terminal driver does (pilot.press waits for an idle app, never the case here).
        for key, character in [(c, c) for c in "echo typed-$((6*7))"] + [("enter", "\r")]:
            app.post_message(events.Key(key, character))
        await wait_for(pilot, shows(pilot, "typed-42"))
        assert flood_progress(flooding) > taken_in, "the other tab flooded all along"
        assert len(reader_threads()) == 2
        flooding.close()
        typing.close()
        await wait_for(pilot, lambda: not reader_threads())
        assert flooding.closed_reason == typing.closed_reason == "closed"


async def test_resizing_during_a_flood_loses_no_output_and_the_program_sees_the_new_size(
    tmp_path: Path,
) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    lines = 100_000
    # The program waits for the resize before it finishes, so the resize surely lands mid-flood.
    script = f"seq 1 {lines}; while [ \"$(stty size)\" != '22 80' ]; do seq 1 1000; done; stty size; echo END"

    async def open_flood(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(sink, cols, rows, ["sh", "-c", script], env=env)

    app = TerminalApp(factory=open_flood)
    async with app.run_test(size=(60, 20)) as pilot:
        pane = app.pane
        await wait_for(pilot, lambda: pane.emulator is not None and pane.emulator.total_scrolled > 1000)
        await pilot.resize_terminal(80, 25)
        await wait_for(pilot, lambda: pane.closed_reason is not None and pane.settled)
        assert pane.closed_reason == "process exited with status 0"
        assert pane.emulator.size == (80, 22)
        # the rows the resize added stay blank until output reaches them: read the last lines written
        written = [line for line in screen_lines(pane) if line]
        assert written[-2:] == ["22 80", "END"]
