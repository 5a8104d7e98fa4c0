"""The output pipeline of a terminal pane: transport bytes -> backlog -> emulator -> paint requests.

Output is parsed as it arrives, in slices of at most `PARSE_BUDGET` seconds so keys stay responsive (a
small chunk after a quiet period, such as an echo, is parsed and painted at once, without a trip through
the event queue); only dirty rows are repainted, at most `MAX_FPS` times a second (`FLOOD_FPS` while
output floods in), at once after a quiet period; when unparsed output piles up past `HIGH_WATER` bytes
the transport is paused until the backlog drains below `LOW_WATER`. While the program holds a synchronized update (mode 2026) the
screen is not painted, for at most `SYNC_OUTPUT_TIMEOUT`.

The pipeline knows no UI toolkit: its `PipelineHost` schedules callbacks and paints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import count
from typing import Protocol

from vmtui.terminal.emulator import FeedResult, TerminalEmulator
from vmtui.terminal.modes import Mode
from vmtui.terminal.transport import TerminalTransport

PARSE_BUDGET = 0.010
PARSE_CHUNK = 16384
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
MAX_FPS = 60
FLOOD_FPS = 15  # while output floods in, paint less often and parse more (a full frame costs 3-13 ms)
FLOOD_BYTES = 16384  # parsed since the last paint: more than a full-screen redraw, so a flood
SYNC_OUTPUT_TIMEOUT = 0.15  # never hold the screen longer than this for a synchronized update


class PipelineHost(Protocol):
    """What the pipeline needs from the widget that shows the terminal."""

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the events already queued (keys first)."""

    def call_in(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay` seconds."""

    def output_applied(self, result: FeedResult) -> bool:
        """React to parsed output (title, scrolled-back view); True if the whole pane must be repainted."""

    def paint(self, rows: set[int] | None) -> None:
        """Repaint these screen rows (None: everything)."""


class OutputPipeline:
    """Backlog, parse budget, water marks, repaint scheduling and row versions of one terminal."""

    def __init__(self, host: PipelineHost) -> None:
        self._host = host
        self.emulator: TerminalEmulator | None = None
        self.transport: TerminalTransport | None = None
        self._backlog = bytearray()
        self._parse_scheduled = False
        self._parsing = False
        self._reading_paused = False
        self._dirty_rows: set[int] = set()
        self._full_repaint = False
        self._repaint_pending = False
        self._last_paint = 0.0
        self._parsed_since_paint = 0
        self._sync_started: float | None = None
        self._painted_cursor_row: int | None = None
        self._versions = count(1)
        self.row_versions: list[int] = []  # per screen row, changes whenever the row is repainted

    # -- state ------------------------------------------------------------------------------------------
    @property
    def backlog_size(self) -> int:
        """Bytes received but not parsed yet."""
        return len(self._backlog)

    @property
    def settled(self) -> bool:
        """All output received so far is parsed and painted."""
        return not (self._backlog or self._parse_scheduled or self._repaint_pending)

    def attach(self, emulator: TerminalEmulator) -> None:
        """The pane knows its size: parse what arrived before it."""
        self.emulator = emulator
        self.renumber_rows()
        if self._backlog:
            self._host.call_soon(self._parse_backlog)

    def renumber_rows(self) -> None:
        """Give every screen row a new version (after a resize, or when strips were dropped)."""
        rows = self.emulator.rows if self.emulator else 0
        self.row_versions = [next(self._versions) for _ in range(rows)]

    # -- input from the transport ------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Queue output from the remote program."""
        if not data:
            return
        self._backlog += data
        if len(self._backlog) > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._parsing or self._parse_scheduled:
            return  # the running or the queued slice takes it
        if len(self._backlog) <= PARSE_CHUNK:
            self._parse_backlog()  # a small chunk after a quiet period (an echo): no trip through the queue
        else:
            self._parse_scheduled = True
            self._host.call_soon(self._parse_backlog)

    def closed(self) -> None:
        self.transport = None
        self._reading_paused = False

    # -- parsing ----------------------------------------------------------------------------------------
    def _parse_backlog(self) -> None:
        self._parse_scheduled = False
        emulator = self.emulator
        if emulator is None:
            return  # parsed once the first size is known
        self._parsing = True
        try:
            self._parse_slice(emulator)
        finally:
            self._parsing = False
        if self._reading_paused and len(self._backlog) < LOW_WATER and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        if self._backlog and not self._parse_scheduled:
            self._parse_scheduled = True
            self._host.call_soon(self._parse_backlog)  # queued behind pending input events

    def _parse_slice(self, emulator: TerminalEmulator) -> None:
        """Parse the backlog for at most `PARSE_BUDGET` (output arriving meanwhile joins it)."""
        deadline = time.perf_counter() + PARSE_BUDGET
        while self._backlog:
            chunk = bytes(self._backlog[:PARSE_CHUNK])
            del self._backlog[:PARSE_CHUNK]
            self._parsed_since_paint += len(chunk)
            self._apply(emulator.feed(chunk), emulator)
            if time.perf_counter() > deadline:
                break

    def _apply(self, result: FeedResult, emulator: TerminalEmulator) -> None:
        if result.reply and self.transport is not None:
            self.transport.write(result.reply)
        if self._host.output_applied(result):
            self._full_repaint = True
        if result.modes_changed:
            self._dirty_rows.add(emulator.cursor.row)
        self._dirty_rows.update(result.dirty_rows)
        self.schedule_repaint()

    # -- repainting -------------------------------------------------------------------------------------
    def invalidate_row(self, row: int) -> None:
        """Repaint `row` soon (e.g. the cursor row when focus changes)."""
        self._dirty_rows.add(row)
        self.schedule_repaint()

    def invalidate_all(self) -> None:
        self._full_repaint = True
        self.schedule_repaint()

    def schedule_repaint(self) -> None:
        """Repaint at once after a quiet period (fast echo), else at the next frame slot."""
        if self._repaint_pending:
            return
        self._repaint_pending = True
        flooding = self._backlog or self._parsed_since_paint > FLOOD_BYTES
        frame = 1 / (FLOOD_FPS if flooding else MAX_FPS)
        delay = self._last_paint + frame - time.monotonic()
        if delay > 0:
            self._host.call_in(delay, self._repaint)
        elif flooding:
            self._host.call_soon(self._repaint)
        else:
            self._repaint()

    def _repaint(self) -> None:
        self._repaint_pending = False
        emulator = self.emulator
        if emulator is None:
            return
        if emulator.mode(Mode.SYNCHRONIZED_OUTPUT):
            now = time.monotonic()
            self._sync_started = self._sync_started or now
            if now - self._sync_started < SYNC_OUTPUT_TIMEOUT:
                self._repaint_pending = True
                self._host.call_in(1 / MAX_FPS, self._repaint)
                return
        self._sync_started = None
        self._last_paint = time.monotonic()
        self._parsed_since_paint = 0
        rows = emulator.rows
        if len(self.row_versions) != rows:
            self.renumber_rows()
            self._full_repaint = True
        for row in self._dirty_rows:
            if 0 <= row < rows:
                self.row_versions[row] = next(self._versions)
        cursor_row = emulator.cursor.row
        dirty = self._dirty_rows | {cursor_row}
        if self._painted_cursor_row is not None:
            dirty.add(self._painted_cursor_row)
        self._painted_cursor_row = cursor_row
        self._dirty_rows = set()
        if self._full_repaint or len(dirty) >= rows:
            self._full_repaint = False
            self._host.paint(None)
        else:
            self._host.paint(dirty)
