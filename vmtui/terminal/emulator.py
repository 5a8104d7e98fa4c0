"""The terminal emulator adapter: bytes in; screen rows, scrollback, modes and replies out.

The VT engine is `avt` (native, fast) when its wheel is installed, otherwise pure-Python pyte. The choice is
made at import; ``VMTUI_TERMINAL_EMULATOR=pyte`` (or ``avt``) forces one. Whatever the engine, a
`ModeScanner` tracks the modes and queries the engines do not handle, and this class answers the queries
at their exact position in the stream.
"""

from __future__ import annotations

import codecs
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from vmtui.terminal.modes import ALT_SCREEN_MODES, EventKind, Mode, ModeScanner, ScanEvent
from vmtui.terminal.screen_model import Cursor, EmulatorBackend, RowSnapshot, Run

try:
    from vmtui.terminal.avt_backend import AvtBackend
except ImportError:  # no pyavt wheel for this platform / Python
    AvtBackend = None  # type: ignore[assignment,misc]


def default_backend_name() -> str:
    """The engine used when none is asked for: the env override, else avt if importable, else pyte."""
    forced = os.environ.get("VMTUI_TERMINAL_EMULATOR", "").strip().lower()
    if forced in ("avt", "pyte"):
        return forced
    return "avt" if AvtBackend is not None else "pyte"


def avt_available() -> bool:
    return AvtBackend is not None


def create_backend(name: str, cols: int, rows: int) -> EmulatorBackend:
    if name == "avt":
        if AvtBackend is None:
            raise RuntimeError("the avt terminal emulator (PyPI 'pyavt') is not installed")
        return AvtBackend(cols, rows)
    if name == "pyte":
        from vmtui.terminal.pyte_backend import PyteBackend

        return PyteBackend(cols, rows)
    raise ValueError(f"unknown terminal emulator {name!r} (expected 'avt' or 'pyte')")


# Device attributes we claim: a VT220 with ANSI colour (DA1) and "VT220, version 10" (DA2). Claiming a
# modern xterm version would make programs assume extended key protocols we do not speak.
_KNOWN_MODES = frozenset(int(mode) for mode in Mode)
PRIMARY_DA_REPLY = b"\x1b[?62;22c"
SECONDARY_DA_REPLY = b"\x1b[>1;10;0c"


@dataclass
class FeedResult:
    """What changed after feeding a chunk."""

    dirty_rows: set[int] = field(default_factory=set)
    reply: bytes = b""
    scrolled_lines: int = 0
    title: str | None = None
    screen_switched: bool = False
    modes_changed: bool = False

    parsed_bytes: int = 0

    def merge(self, later: FeedResult) -> None:
        """Add what feeding the next chunk changed (the pipeline paints several feeds in one frame)."""
        self.dirty_rows.update(later.dirty_rows)
        self.reply += later.reply
        self.scrolled_lines += later.scrolled_lines
        self.title = later.title if later.title is not None else self.title
        self.screen_switched = self.screen_switched or later.screen_switched
        self.modes_changed = self.modes_changed or later.modes_changed
        self.parsed_bytes += later.parsed_bytes


class TerminalState(Protocol):
    """What a terminal pane reads of its terminal: a `TerminalEmulator` parsing in this process, or a
    `RemoteEmulator` mirroring one that parses in a child process. Read on the UI thread only."""

    backend_name: str
    scanner: ModeScanner
    total_scrolled: int

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def rows(self) -> int: ...

    @property
    def cursor(self) -> Cursor: ...

    @property
    def application_cursor(self) -> bool: ...

    @property
    def alternate_screen(self) -> bool: ...

    @property
    def scrollback_length(self) -> int: ...

    def mode(self, mode: int) -> bool: ...

    def resize(self, cols: int, rows: int) -> None: ...

    def row_snapshot(self, row: int) -> RowSnapshot: ...

    def scrollback_runs(self, index: int) -> list[Run]: ...

    def screen_text(self) -> list[str]: ...

    def scrollback_text(self) -> Iterator[str]: ...

    def line_text(self, index: int) -> str: ...


class TerminalEmulator:
    """One terminal's state: engine + mode scanner + UTF-8 decoder + scrollback."""

    def __init__(self, cols: int, rows: int, *, scrollback: int = 5000, backend: str | None = None) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, got {cols}x{rows}")
        self.backend_name = backend or default_backend_name()
        self._backend = create_backend(self.backend_name, cols, rows)
        self.scanner = ModeScanner()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._scrollback: deque[object] = deque(maxlen=max(0, scrollback))
        self.total_scrolled = 0  # lines ever pushed into scrollback (absolute line numbering)

    # -- state ------------------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self._backend.size

    @property
    def cols(self) -> int:
        return self._backend.size[0]

    @property
    def rows(self) -> int:
        return self._backend.size[1]

    @property
    def cursor(self) -> Cursor:
        return self._backend.cursor

    @property
    def application_cursor(self) -> bool:
        return self._backend.application_cursor

    @property
    def alternate_screen(self) -> bool:
        return self.scanner.alternate_screen

    @property
    def title(self) -> str:
        return self.scanner.title

    def mode(self, mode: int) -> bool:
        return self.scanner.is_set(mode)

    # -- input ------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> FeedResult:
        """Decode and parse `data` (any split of the stream is fine, even inside UTF-8 or escapes)."""
        result = self.feed_text(self._decoder.decode(data))
        result.parsed_bytes = len(data)
        return result

    def feed_text(self, text: str) -> FeedResult:
        result = FeedResult()
        if not text:
            return result
        replies: list[bytes] = []
        start = 0
        for event in self.scanner.scan(text):
            self._feed_engine(text[start : event.end], result)
            start = event.end
            self.scanner.apply(event)
            reply = self._handle(event, result)
            if reply:
                replies.append(reply)
        self._feed_engine(text[start:] if start else text, result)
        result.reply = b"".join(replies)
        return result

    def resize(self, cols: int, rows: int) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be at least 1x1, got {cols}x{rows}")
        if (cols, rows) == self.size:
            return
        self._keep(self._backend.resize(cols, rows))

    # -- output -----------------------------------------------------------------------------------------
    @property
    def scrollback_length(self) -> int:
        return len(self._scrollback)

    def row_snapshot(self, row: int) -> RowSnapshot:
        return self._backend.row_snapshot(row)

    def scrollback_runs(self, index: int) -> list[Run]:
        """Runs of scrollback line `index` (0 = oldest kept)."""
        return self._backend.line_runs(self._scrollback[index])

    def screen_line(self, row: int) -> object:
        """Screen row `row` as the engine holds it."""
        return self._backend.line(row)

    def scrollback_line(self, index: int) -> object:
        """Scrollback line `index` (0 = oldest kept) as the engine holds it."""
        return self._scrollback[index]

    def screen_text(self) -> list[str]:
        """The visible screen, one string per row, trailing blanks removed."""
        return [self._backend.row_text(y) for y in range(self.rows)]

    def scrollback_text(self) -> Iterator[str]:
        """Scrollback lines, oldest first."""
        for line in self._scrollback:
            yield self._backend.line_text(line)

    def line_text(self, index: int) -> str:
        """Text of line `index` of scrollback + screen (0 = oldest scrollback line)."""
        if index < len(self._scrollback):
            return self._backend.line_text(self._scrollback[index])
        return self._backend.row_text(index - len(self._scrollback))

    # -- internals --------------------------------------------------------------------------------------
    def _feed_engine(self, text: str, result: FeedResult) -> None:
        if not text:
            return
        changed, scrolled = self._backend.feed(text)
        result.dirty_rows.update(changed)
        if scrolled:
            result.scrolled_lines += self._keep(scrolled)

    def _keep(self, lines: list[object]) -> int:
        if self._scrollback.maxlen:
            self._scrollback.extend(lines)
        self.total_scrolled += len(lines)
        return len(lines)

    def _handle(self, event: ScanEvent, result: FeedResult) -> bytes:
        kind = event.kind
        if kind in (EventKind.MODE_SET, EventKind.MODE_RESET):
            result.modes_changed = True
            numbers: tuple[int, ...] = event.arg  # type: ignore[assignment]
            if not ALT_SCREEN_MODES.isdisjoint(numbers):
                self._backend.set_alternate_screen(kind is EventKind.MODE_SET)
                result.screen_switched = True
                result.dirty_rows.update(range(self.rows))
        elif kind is EventKind.RESET:
            self._backend.set_alternate_screen(False)
            result.modes_changed = True
        elif kind is EventKind.TITLE:
            result.title = self.scanner.title
        elif kind is EventKind.CURSOR_SHAPE:
            result.modes_changed = True
        elif kind is EventKind.CURSOR_POSITION_QUERY:
            cursor = self.cursor
            marker = "?" if event.arg else ""
            row = min(cursor.row, self.rows - 1) + 1
            col = min(cursor.col, self.cols - 1) + 1
            return f"\x1b[{marker}{row};{col}R".encode()
        elif kind is EventKind.STATUS_QUERY:
            return b"\x1b[0n"
        elif kind is EventKind.PRIMARY_DA_QUERY:
            return PRIMARY_DA_REPLY
        elif kind is EventKind.SECONDARY_DA_QUERY:
            return SECONDARY_DA_REPLY
        elif kind is EventKind.MODE_QUERY:
            return self._mode_report(event.arg)  # type: ignore[arg-type]
        return b""

    def _mode_report(self, number: int) -> bytes:
        """DECRPM: 1 = set, 2 = reset, 0 = not recognised."""
        if number == Mode.CURSOR_KEYS:
            state = 1 if self.application_cursor else 2
        elif number == Mode.CURSOR_VISIBLE:
            state = 1 if self.cursor.visible else 2
        elif number in _KNOWN_MODES:
            state = 1 if self.scanner.is_set(number) else 2
        else:
            state = 0
        return f"\x1b[?{number};{state}$y".encode()
