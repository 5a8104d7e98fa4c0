"""A terminal parsed in a child process (`RemoteEmulator` + `parser_child`) against the same bytes parsed
in this process: what the pane reads of it must not differ. Real child processes, real pipes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ui.terminal_helpers import process_gone, until
from vmtui.terminal import remote_emulator
from vmtui.terminal.emulator import FeedResult, TerminalEmulator
from vmtui.terminal.modes import CursorShape, Mode
from vmtui.terminal.parser_protocol import Resume
from vmtui.terminal.pipeline import OutputPipeline
from vmtui.terminal.remote_emulator import ParserGone, RemoteEmulator, open_emulator

pytest.importorskip("avt", reason="pyavt has no wheel for this platform or Python")

COLS, ROWS = 40, 8


@contextmanager
def remote(cols: int = COLS, rows: int = ROWS, scrollback: int = 100) -> Iterator[RemoteEmulator]:
    emulator = RemoteEmulator(cols, rows, scrollback=scrollback, on_output=lambda: None)
    try:
        yield emulator
    finally:
        emulator.close()


def local(cols: int = COLS, rows: int = ROWS, scrollback: int = 100) -> TerminalEmulator:
    return TerminalEmulator(cols, rows, scrollback=scrollback, backend="avt")


def record_asks(mirror: RemoteEmulator) -> list[object]:
    """The requests `mirror` sends its child from now on (it still sends them)."""
    asked: list[object] = []
    ask = mirror._ask

    def recording_ask(request: object, *, reply: bool = True) -> object | None:
        asked.append(request)
        return ask(request, reply=reply)

    mirror._ask = recording_ask  # type: ignore[method-assign]
    return asked


def same_as_local(mirror: RemoteEmulator, here: TerminalEmulator) -> None:
    assert mirror.size == here.size
    assert mirror.screen_text() == here.screen_text()
    assert mirror.cursor == here.cursor
    assert mirror.application_cursor == here.application_cursor
    assert mirror.scanner.modes == here.scanner.modes
    assert mirror.scanner.cursor_shape == here.scanner.cursor_shape
    assert mirror.title == here.scanner.title
    assert mirror.total_scrolled == here.total_scrolled
    assert list(mirror.scrollback_text()) == list(here.scrollback_text())
    for row in range(here.rows):
        assert mirror.row_snapshot(row)[1]() == here.row_snapshot(row)[1](), f"row {row}"
    for index in range(here.scrollback_length):
        assert mirror.scrollback_runs(index) == here.scrollback_runs(index), f"scrollback line {index}"


async def test_output_split_anywhere_even_inside_utf8_and_escapes_reads_as_parsed_here() -> None:
    stream = (
        "\x1b]2;höst: ~\x07\x1b[1;31mrød\x1b[0m \x1b[38;5;208mindexed\x1b[0m \x1b[48;2;10;20;30mtrue\x1b[0m\r\n"
        "wide 日本語 and ⏎ at the end⏎\r\n\x1b[?1h\x1b[?2004h\x1b[?1000;1006h\x1b[5 q\x1b[?25l"
        + "".join(f"line {n} \x1b[7mé\x1b[0m\r\n" for n in range(30))
        + "\x1b[3;5Hover\x1b[K"
    ).encode()
    here = local()
    with remote() as mirror:
        for offset in range(len(stream)):  # one byte a write: every split of every sequence
            mirror.send(stream[offset : offset + 1])
        here.feed(stream)
        changes = mirror.take_changes(everything_sent=True)
        assert changes.parsed_bytes == len(stream)
        assert changes.title == "höst: ~"
        assert mirror.mode(Mode.BRACKETED_PASTE) and mirror.mode(Mode.MOUSE_SGR) and mirror.application_cursor
        assert mirror.scanner.cursor_shape is CursorShape.BAR and not mirror.cursor.visible
        same_as_local(mirror, here)


async def test_replies_to_queries_come_with_the_frame_in_stream_order() -> None:
    with remote() as mirror:
        mirror.send(b"ab\x1b[6n\x1b[c\r\n\x1b[>c\x1b[5n\x1b[?2004$p")
        changes = mirror.take_changes(everything_sent=True)
        assert changes.reply == b"\x1b[1;3R\x1b[?62;22c\x1b[>1;10;0c\x1b[0n\x1b[?2004;2$y"


async def test_a_flood_arrives_whole_and_scrollback_beyond_its_limit_is_trimmed_as_here() -> None:
    flood = b"".join(b"\x1b[3%dmflood\x1b[0m %d\r\n" % (n % 8, n) for n in range(5000)) + b"END"
    here = local(scrollback=1000)
    here.feed(flood)
    with remote(scrollback=1000) as mirror:
        for start in range(0, len(flood), 4096):
            mirror.send(flood[start : start + 4096])
        changes = mirror.take_changes(everything_sent=True)
        assert changes.scrolled_lines == 5000 - ROWS + 1
        assert mirror.scrollback_length == 1000
        assert mirror.screen_text()[-1] == "END"
        same_as_local(mirror, here)


async def test_resize_reaches_the_child_and_pushes_lines_into_scrollback_as_here() -> None:
    output = b"".join(b"row %d\r\n" % n for n in range(ROWS - 1)) + b"last"
    here = local()
    here.feed(output)
    here.resize(30, 4)
    with remote() as mirror:
        mirror.send(output)
        mirror.resize(30, 4)
        assert mirror.size == (30, 4)
        same_as_local(mirror, here)
        mirror.send(b"\r\nafter")
        here.feed(b"\r\nafter")
        mirror.take_changes(everything_sent=True)
        same_as_local(mirror, here)


async def test_scrollback_lines_are_asked_for_once_and_kept() -> None:
    with remote(scrollback=1000) as mirror:
        mirror.send(b"".join(b"old %d\r\n" % n for n in range(600)))
        mirror.take_changes(everything_sent=True)
        asked = record_asks(mirror)
        texts = [mirror.line_text(index) for index in range(mirror.scrollback_length)]
        assert texts == [f"old {n}" for n in range(600 - ROWS + 1)]
        assert len(asked) == -(-len(texts) // remote_emulator.BLOCK)  # a block at a time
        asked.clear()
        assert [mirror.line_text(index) for index in range(mirror.scrollback_length)] == texts
        assert asked == []


async def test_a_pipeline_on_a_child_paints_what_it_parsed_and_waits_for_it_before_input() -> None:
    painted: list[set[int] | None] = []
    loop = asyncio.get_running_loop()

    class Host:
        def call_soon_threadsafe(self, callback) -> None:
            loop.call_soon_threadsafe(callback)

        def call_in(self, delay: float, callback) -> None:
            loop.call_later(delay, callback)

        def output_applied(self, result: FeedResult) -> bool:
            return False

        def paint(self, rows: set[int] | None) -> None:
            painted.append(rows)

    output = OutputPipeline(Host())
    output.feed(b"early ")  # before the size is known
    mirror = RemoteEmulator(COLS, ROWS, scrollback=100, on_output=lambda: output.output_parsed())
    try:
        output.attach(mirror)
        output.feed(b"output\r\n\x1b[?1h")
        await until(lambda: output.settled)
        assert painted and output.row_snapshots[0][1]()[0][0].startswith("early output")
        output.feed(b"\x1b[?1l")  # a key typed now must be encoded for this
        with output.current():
            assert not mirror.application_cursor
    finally:
        output.detach()
    assert mirror._closed


async def test_the_child_exits_when_its_pane_closes_it() -> None:
    with remote() as mirror:
        pid = mirror.pid
        assert not process_gone(pid)
    await until(lambda: process_gone(pid))
    mirror.send(b"ignored after close")  # the transport may still deliver a last read


async def test_the_child_exits_when_the_pane_process_dies_without_closing_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from vmtui.terminal.remote_emulator import RemoteEmulator

        async def main():
            mirror = RemoteEmulator(40, 8, scrollback=100, on_output=lambda: None)
            mirror.send(b"hello")
            mirror.take_changes(everything_sent=True)
            print(mirror.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child = int(await parent.stdout.readline())
        assert not process_gone(child)
        parent.send_signal(signal.SIGKILL)
        await parent.wait()
        await until(lambda: process_gone(child))
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()


async def test_a_dead_child_ends_the_session_with_a_reason_and_the_pane_keeps_running() -> None:
    with remote() as mirror:
        mirror.send(b"before")
        mirror.take_changes(everything_sent=True)
        os.kill(mirror.pid, signal.SIGKILL)
        await until(lambda: process_gone(mirror.pid))
        with pytest.raises(ParserGone, match="parser process was killed by SIGKILL"):
            for _ in range(100):  # the first writes may still fit in the pipe
                mirror.send(b"x" * 65536)
        assert mirror.take_changes() == FeedResult()
        assert mirror.screen_text()[0] == "before"


async def test_where_the_child_cannot_run_the_terminal_is_parsed_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError("fork: resource temporarily unavailable")

    chosen = open_emulator(COLS, ROWS, scrollback=10, backend="avt", on_output=lambda: None)
    assert isinstance(chosen, RemoteEmulator)
    chosen.close()
    assert isinstance(
        open_emulator(COLS, ROWS, scrollback=10, backend="pyte", on_output=lambda: None), TerminalEmulator
    )
    monkeypatch.setenv("VMTUI_TERMINAL_PARSER", "inline")
    assert isinstance(
        open_emulator(COLS, ROWS, scrollback=10, backend="avt", on_output=lambda: None), TerminalEmulator
    )
    monkeypatch.delenv("VMTUI_TERMINAL_PARSER")
    monkeypatch.setattr(remote_emulator.subprocess, "Popen", no_process)
    fallback = open_emulator(COLS, ROWS, scrollback=10, backend="avt", on_output=lambda: None)
    assert isinstance(fallback, TerminalEmulator) and fallback.backend_name == "avt"


async def test_output_after_a_quiet_moment_is_pushed_and_painted_without_a_round_trip() -> None:
    notices: list[int] = []
    mirror = RemoteEmulator(COLS, ROWS, scrollback=100, on_output=lambda: notices.append(1))
    try:
        asked = record_asks(mirror)
        for echo in (b"a", b"b", b"c"):
            mirror.send(echo)
            await until(lambda: mirror.caught_up)  # the child pushed its frame
            assert notices, "the pane was told to repaint"
            notices.clear()
            assert mirror.take_changes().parsed_bytes == 1
            assert [type(request).__name__ for request in asked] == ["Resume"]  # nothing waited for
            asked.clear()
        assert mirror.screen_text()[0] == "abc"
    finally:
        mirror.close()


async def test_a_floods_last_screen_is_pushed_unasked_so_a_paint_never_waits() -> None:
    notices: list[int] = []
    flood = b"".join(b"flood %d\r\n" % n for n in range(20_000)) + b"END"
    with remote() as mirror:
        mirror._on_output = lambda: notices.append(1)
        asked = record_asks(mirror)
        for start in range(0, len(flood), 4096):
            mirror.send(flood[start : start + 4096])
        await until(lambda: mirror.caught_up)  # one push at the first output, one when the flood ran out
        assert mirror.screen_text()[-2:] == ["flood 19999", "END"]
        assert mirror.take_changes().scrolled_lines == 20_000 - ROWS + 1
        assert asked == [Resume()] and notices
