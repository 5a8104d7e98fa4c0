"""Shared helpers for the terminal widget tests: an in-memory transport and a small host app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input

from vmtui.terminal.transport import TerminalSink, TransportFactory
from vmtui.ui.widgets.terminal_pane import TerminalPane


class MemoryTransport:
    """Records everything the pane sends; the test plays the remote side through `sink.feed`."""

    def __init__(self, sink: TerminalSink, cols: int, rows: int) -> None:
        self.sink = sink
        self.opened_size = (cols, rows)
        self.written = bytearray()
        self.resizes: list[tuple[int, int]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def resize(self, cols: int, rows: int) -> None:
        self.resizes.append((cols, rows))

    def close(self) -> None:
        self.closed = True
        self.sink.closed("closed by user")

    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data


class TerminalApp(App):
    """A terminal pane above an input (something else to focus)."""

    def __init__(
        self, emulator: str | None = None, scrollback: int = 1000, factory: TransportFactory | None = None
    ) -> None:
        super().__init__()
        self.emulator_name = emulator
        self.scrollback = scrollback
        self.factory = factory or self.open_memory_transport
        self.transports: list[MemoryTransport] = []

    def compose(self) -> ComposeResult:
        yield TerminalPane(id="term", emulator=self.emulator_name, scrollback=self.scrollback)
        yield Input(id="other")

    def on_mount(self) -> None:
        pane = self.query_one(TerminalPane)
        pane.connect(self.factory)
        pane.focus()

    async def open_memory_transport(self, sink: TerminalSink, cols: int, rows: int) -> MemoryTransport:
        transport = MemoryTransport(sink, cols, rows)
        self.transports.append(transport)
        return transport

    @property
    def pane(self) -> TerminalPane:
        return self.query_one(TerminalPane)

    @property
    def transport(self) -> MemoryTransport:
        return self.transports[-1]


def screen_lines(pane: TerminalPane) -> list[str]:
    """What the pane shows, row by row, as plain text."""
    return [pane.render_line(y).text.rstrip() for y in range(pane.size.height)]


async def settle(pilot, pane: TerminalPane | None = None, timeout: float = 60.0) -> None:
    """Wait until the pane has parsed and painted everything fed so far (no fixed sleeps: CI can be slow)."""
    pane = pane or pilot.app.query_one(TerminalPane)
    for _ in range(int(timeout / 0.01)):
        await pilot.pause(0.01)
        if pane.settled:
            await pilot.pause()  # what the paint posted (a title, a bell) is handled too
            return
    raise AssertionError("the terminal pane never settled")


def process_gone(pid: int) -> bool:
    """The process exited (a zombie not reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `condition` on the running loop, no app needed (no fixed sleeps: CI can be slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)
