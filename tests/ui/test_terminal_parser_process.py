"""The pane with its output parsed in a child process (the default with avt): scrollback, search and
selection after a flood, replies through a real PTY, and the child's lifetime."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.ui.terminal_helpers import TerminalApp, process_gone, screen_lines, settle, until
from tests.ui.test_terminal_pty import TabsApp, bash_factory, type_line, wait_for
from vmtui.terminal.emulator import TerminalEmulator
from vmtui.terminal.pty_transport import PtyTransport
from vmtui.terminal.remote_emulator import RemoteEmulator
from vmtui.terminal.transport import TerminalSink
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

pytest.importorskip("avt", reason="pyavt has no wheel for this platform or Python")

SIZE = (60, 20)
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def parser_pid(pane: TerminalPane) -> int:
    assert isinstance(pane.emulator, RemoteEmulator), "an avt pane parses in a child process"
    return pane.emulator.pid


async def test_after_a_flood_the_scrollback_is_searched_selected_and_copied_from_the_child() -> None:
    app = TerminalApp(scrollback=5000)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane, transport = app.pane, app.transport
        parser_pid(pane)
        lines = 20_000
        flood = b"".join(b"\x1b[3%dmflood\x1b[0m %d\r\n" % (n % 8, n) for n in range(lines))
        reader = threading.Thread(
            target=lambda: [transport.sink.feed(flood[i : i + 4096]) for i in range(0, len(flood), 4096)]
        )
        reader.start()
        while reader.is_alive():
            await pilot.pause(0.01)
        transport.sink.feed(b"$ ")
        await settle(pilot)
        rows = pane.emulator.rows
        assert pane.emulator.total_scrolled == lines - rows + 1
        assert pane.emulator.scrollback_length == 5000
        oldest = lines - rows + 1 - 5000
        assert next(iter(pane.emulator.scrollback_text())) == f"flood {oldest}"
        await pilot.press("shift+pageup", "slash", *"flood 15123", "enter")
        assert pane.view.line_text(pane.view.match[0]) == "flood 15123"
        assert "flood 15123" in screen_lines(pane)
        await pilot.press("v", "up", "y")
        assert app.clipboard == "flood 15122\nflood 15123"
        assert not pane.scroll_mode
        with pane.pipeline.current():
            assert not pane.view.search(f"flood {oldest - 1}")  # trimmed from the scrollback
            assert pane.view.search(f"flood {oldest}")
            assert pane.view.line_text(pane.view.match[0]) == f"flood {oldest}"
            pane.view.leave_scroll_mode()
        assert screen_lines(pane)[-2:] == [f"flood {lines - 1}", "$"]
        assert transport.take() == b""


async def test_a_program_on_a_pty_reads_the_reply_to_its_cursor_query(tmp_path: Path) -> None:
    script = (
        "printf 'ab\\033[6n'; IFS= read -rs -d R reply; printf '\\r\\nGOT %s\\r\\n' \"${reply#*[}\"; sleep 60"
    )

    async def open_shell(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(sink, cols, rows, ["bash", "-c", script], env=ENV, cwd=tmp_path)

    app = TerminalApp(factory=open_shell)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "GOT 1;3" in screen_lines(app.pane))
        parser_pid(app.pane)


async def test_the_parser_process_ends_with_its_tab_and_with_the_app() -> None:
    async def open_cat(sink: TerminalSink, cols: int, rows: int) -> PtyTransport:
        return await PtyTransport.spawn(sink, cols, rows, ["cat"], env=ENV)

    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        tabs = app.query_one(TerminalTabs)
        first = await tabs.open_session("one", open_cat)
        await wait_for(pilot, lambda: first.emulator is not None)
        second = await tabs.open_session("two", open_cat)
        await wait_for(pilot, lambda: second.emulator is not None)
        first_pid, second_pid = parser_pid(first), parser_pid(second)
        await first.remove()
        await until(lambda: process_gone(first_pid))
        assert not process_gone(second_pid)
    await until(lambda: process_gone(second_pid))


async def test_pyte_panes_and_inline_parsing_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMTUI_TERMINAL_PARSER", "inline")
    app = TerminalApp("avt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.pane.emulator, TerminalEmulator)
        app.transport.sink.feed(b"parsed here")
        await settle(pilot)
        assert screen_lines(app.pane)[0] == "parsed here"


async def test_a_dead_parser_ends_the_session_with_why_and_reconnect_parses_in_a_new_one(
    tmp_path: Path,
) -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one(TerminalTabs)
        pane = await tabs.open_session("bash", bash_factory(tmp_path))
        await wait_for(pilot, lambda: pane.emulator is not None and "$" in screen_lines(pane)[0])
        dead = parser_pid(pane)
        os.kill(dead, signal.SIGKILL)
        await until(lambda: process_gone(dead))
        await type_line(pilot, "echo after-$((6*7))")  # echoed output meets the dead parser
        session = tabs.active_session
        assert session is not None
        await wait_for(pilot, lambda: session.ended)
        assert "parser process was killed by SIGKILL" in session.reason
        tabs.reconnect(session)
        await wait_for(pilot, lambda: parser_pid(pane) != dead)  # a new parser, on a blank screen
        await wait_for(pilot, lambda: screen_lines(pane)[0] == "$")
        await type_line(pilot, "echo again-$((6*7))")
        await wait_for(pilot, lambda: "again-42" in screen_lines(pane))
        assert not session.ended
