"""The output pipeline of a terminal pane: transport bytes -> emulator -> paint requests.

Transports call `feed` from their own reader thread, and output is parsed there at once under `lock`
(the emulator's lock, which the UI thread holds while it reads the screen). So a flood never waits for
the UI and the UI never waits for a flood: when the UI falls behind, frames are dropped, never bytes.
The first output after a paint wakes the UI thread (`PipelineHost.call_soon_threadsafe`), which repaints
only dirty rows, at most `MAX_FPS` times a second (`FLOOD_FPS` while output floods in), at once after a
quiet period (an echo). While the program holds a synchronized update (mode 2026) the screen is not
painted, for at most `SYNC_OUTPUT_TIMEOUT`.

Where the terminal is parsed in a child process (`RemoteEmulator`), `feed` only forwards the bytes; the
child pushes what it parsed (`output_parsed`, on the UI thread) and each paint takes what was pushed,
never waiting for the child. The same scheduling, sync-output hold and flood pacing apply.

The pipeline knows no UI toolkit: its `PipelineHost` schedules callbacks and paints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from vmtui.terminal.emulator import FeedResult, TerminalEmulator, TerminalState
from vmtui.terminal.modes import Mode
from vmtui.terminal.remote_emulator import RemoteEmulator
from vmtui.terminal.screen_model import RowSnapshot
from vmtui.terminal.transport import TerminalTransport

MAX_FPS = 60
FLOOD_FPS = 15  # while output floods in, paint less often (a full frame costs 2-7 ms)
FLOOD_BYTES = 16384  # parsed between two paints: more than a full-screen redraw, so a flood
SYNC_OUTPUT_TIMEOUT = 0.15  # never hold the screen longer than this for a synchronized update


class PipelineHost(Protocol):
    """What the pipeline needs from the widget that shows the terminal (all called on the UI thread,
    except `call_soon_threadsafe`)."""

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the UI thread soon; callable from any thread."""

    def call_in(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay` seconds."""

    def output_applied(self, result: FeedResult) -> bool:
        """React to parsed output (title, scrolled-back view); True if the whole pane must be repainted."""

    def paint(self, rows: set[int] | None) -> None:
        """Repaint these screen rows (None: everything)."""


class OutputPipeline:
    """Parsing, repaint scheduling and row versions of one terminal."""

    def __init__(self, host: PipelineHost) -> None:
        self._host = host
        self.lock = threading.RLock()
        """Held by the feeding thread while it parses, and by the UI thread while it reads the emulator."""
        self.emulator: TerminalState | None = None
        self._local: TerminalEmulator | None = None  # the emulator when it parses in this process
        self._remote: RemoteEmulator | None = None  # ... or when it parses in a child process
        self.transport: TerminalTransport | None = None
        self._early = bytearray()  # output that arrived before the pane knew its size
        self._changes: FeedResult | None = None  # parsed, not painted yet
        self._parsed_since_paint = 0
        self._flooding = False  # more than FLOOD_BYTES were parsed between the last two paints
        self._repaint_pending = False  # a repaint is queued: new output need not wake the UI thread
        self._dirty_rows: set[int] = set()
        self._full_repaint = False
        self._last_paint = 0.0
        self._sync_started: float | None = None
        self._painted_cursor_row: int | None = None
        self.row_snapshots: list[RowSnapshot] = []
        """Per screen row, what it showed at the last paint: the UI draws these, so a row drawn again for
        any other reason (a synchronized update is held, Textual refreshes the pane) shows the painted
        moment of the stream, never a half-parsed one."""

    # -- state ------------------------------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        """All output received so far is parsed and painted."""
        with self.lock:
            painted = not (self._early or self._changes or self._repaint_pending)
            return painted and (self._remote is None or self._remote.caught_up)

    @property
    def parser_gone(self) -> bool:
        """The process that parsed this terminal's output died (it took the screen with it)."""
        return self._remote is not None and not self._remote.alive

    def attach(self, emulator: TerminalEmulator | RemoteEmulator) -> None:
        """The pane knows its size (or its parser process died): parse what arrived before it, and from
        now on with `emulator`."""
        with self.lock:
            self.emulator = emulator
            self._local = self._remote = None
            self._changes = None
            self.snapshot_rows()
            early, self._early = bytes(self._early), bytearray()
            if isinstance(emulator, RemoteEmulator):
                self._remote = emulator
                emulator.send(early)  # under the lock: before any output a feed waiting for it sends
                return
            self._local = emulator
        self.feed(early)

    @contextmanager
    def current(self) -> Iterator[None]:
        """Hold the lock, the terminal as all output received so far left it: keys, pastes and mouse events
        are encoded for the modes the program set before them (a parser process is waited for)."""
        with self.lock:
            if self._remote is not None and not self._remote.caught_up:
                self._take(self._remote.take_changes(everything_sent=True))
            yield

    def detach(self) -> None:
        """The pane is gone: stop a parser process."""
        if self._remote is not None:
            self._remote.close()

    def snapshot_rows(self) -> None:
        """Take every screen row again (after a resize: every row may have changed)."""
        with self.lock:
            emulator = self.emulator
            self.row_snapshots = (
                [emulator.row_snapshot(row) for row in range(emulator.rows)] if emulator else []
            )

    # -- input from the transport (any thread) -----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Parse output from the remote program now, in the calling thread (or send it to the process
        that parses it)."""
        if not data:
            return
        remote = self._remote
        if remote is None:
            with self.lock:
                remote = self._remote
                wake = self._parse_here(data) if remote is None else False
            if wake:
                self._host.call_soon_threadsafe(self._schedule)
            if remote is None:
                return
        remote.send(data)

    def output_parsed(self) -> None:
        """The parser process pushed what it parsed (UI thread): repaint at the next frame slot."""
        self.schedule_repaint()

    def _parse_here(self, data: bytes) -> bool:
        """Parse `data` in this process (the lock held); True if the UI thread must be woken."""
        emulator = self._local
        if emulator is None:
            self._early += data
            return False
        self._take(emulator.feed(data))
        wake = not self._repaint_pending
        self._repaint_pending = True
        return wake

    def closed(self) -> None:
        self.transport = None

    # -- repainting (UI thread) -------------------------------------------------------------------------
    def invalidate_row(self, row: int) -> None:
        """Repaint `row` soon (e.g. the cursor row when focus changes)."""
        with self.lock:
            self._dirty_rows.add(row)
        self.schedule_repaint()

    def invalidate_all(self) -> None:
        self._full_repaint = True
        self.schedule_repaint()

    def schedule_repaint(self) -> None:
        with self.lock:
            if self._repaint_pending:
                return
            self._repaint_pending = True
        self._schedule()

    def _schedule(self) -> None:
        """Repaint at once after a quiet period (fast echo), else at the next frame slot.

        A flood is known by the last frame's bytes, not only by those parsed since it: the UI wakes after
        the first read following a paint, often a single 4-16 KB batch, and a flood judged by that
        alone was painted at `MAX_FPS` (each frame holding the GIL the reader parses with)."""
        flooding = self._flooding or self._parsed_since_paint > FLOOD_BYTES
        delay = self._last_paint + 1 / (FLOOD_FPS if flooding else MAX_FPS) - time.monotonic()
        if delay > 0:
            self._host.call_in(delay, self._repaint)
        else:
            self._repaint()

    def _repaint(self) -> None:
        with self.lock:
            emulator = self.emulator
            if emulator is None:
                self._repaint_pending = False
                return
            if self._remote is not None:
                self._take(self._remote.take_changes())
            if emulator.mode(Mode.SYNCHRONIZED_OUTPUT):
                now = time.monotonic()
                self._sync_started = self._sync_started or now
                if now - self._sync_started < SYNC_OUTPUT_TIMEOUT:
                    self._host.call_in(1 / MAX_FPS, self._repaint)
                    return
            self._sync_started = None
            self._repaint_pending = False
            changes, self._changes = self._changes, None
            if changes is not None:
                self._apply(changes, emulator)
            self._paint_dirty_rows(emulator)

    def _take(self, changes: FeedResult) -> None:
        """Keep what was parsed since the last frame (here, or in the parser process) until it is painted."""
        self._parsed_since_paint += changes.parsed_bytes
        if self._changes is None:
            self._changes = changes
        else:
            self._changes.merge(changes)

    def _apply(self, changes: FeedResult, emulator: TerminalState) -> None:
        if changes.reply and self.transport is not None:
            self.transport.write(changes.reply)
        if self._host.output_applied(changes):
            self._full_repaint = True
        if changes.modes_changed:
            self._dirty_rows.add(emulator.cursor.row)
        self._dirty_rows.update(changes.dirty_rows)

    def _paint_dirty_rows(self, emulator: TerminalState) -> None:
        self._last_paint = time.monotonic()
        self._flooding = self._parsed_since_paint > FLOOD_BYTES
        self._parsed_since_paint = 0
        rows = emulator.rows
        if len(self.row_snapshots) != rows:
            self.snapshot_rows()
            self._full_repaint = True
        for row in self._dirty_rows:
            if 0 <= row < rows:
                self.row_snapshots[row] = emulator.row_snapshot(row)
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
