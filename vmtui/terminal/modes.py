"""Side scanner for the control sequences the emulator backends ignore.

`avt` implements the screen model but not terminal *modes* an embedding application has to act on
(mouse reporting, bracketed paste, focus events, synchronized output), nor *queries* that need a reply
(cursor position, device attributes, mode reports), nor the window title. `ModeScanner` finds these in the
decoded output stream, keeps the mode state, and reports each sequence with its end offset in the
chunk, so the caller can feed the emulator up to exactly that point before answering (a CPR must report
the cursor as it was where the query sat in the stream). Sequences split across chunks are carried over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, IntEnum

ESC = "\x1b"

# CSI sequences we act on: private/DEC mode set/reset, DSR, DA1/DA2, DECSCUSR, DECRQM.
# OSC 0/1/2 (title), RIS (full reset).
_SEQUENCE = re.compile(
    r"\x1b\[(?P<prefix>[?>]?)(?P<params>[0-9;]*)(?P<inter> ?\$?)(?P<final>[hlncqp])"
    r"|\x1b\](?P<osc>[012]);(?P<title>[^\x07\x1b]*)(?:\x07|\x1b\\)"
    r"|(?P<ris>\x1bc)"
)
# Where a sequence we act on may start: (a character it contains, the text it starts with). Each start is
# searched for only if its character is in the chunk: single characters are found at memchr speed, while a
# multi-character search is slow on escape-rich output (every ESC and digit is a partial match), and a
# regex pass over a whole chunk slower still (~40 us per KB). Queries are found in the form programs send.
_STARTS = (
    ("?", "\x1b[?"),  # DEC private modes, DECRQM, DEC-style CPR
    ("]", "\x1b]"),  # OSC window title
    ("c", "\x1bc"),  # RIS
    ("c", "\x1b[c"),  # DA1
    ("c", "\x1b[0c"),
    ("c", "\x1b[>"),  # DA2
    ("n", "\x1b[6n"),  # CPR
    ("n", "\x1b[5n"),  # DSR
)
_CURSOR_SHAPE_END = " q"  # DECSCUSR: ESC [ <digit> SP q, found by its end
# The same starts in one pass over the chunk's escapes: slower than a few start searches on escape-dense
# text, faster than many (16 KB of syntax-highlighted code has every start character: 52 against 115 us).
_START = re.compile(r"\x1b(?:\[(?:[?>]|0?c|[56]n|[0-9]* q)|[\]c])")
_MAX_START_SEARCHES = 6
# A trailing, possibly unfinished CSI/ESC sequence (an OSC is checked separately).
_UNFINISHED_CSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*)?\Z")
_MAX_CARRY = 4096
_MAX_CURSOR_SHAPE_LENGTH = 8  # ESC [ <parameter> SP: how far back from " q" its ESC can be


class Mode(IntEnum):
    """DEC private modes the widget needs to know about."""

    CURSOR_KEYS = 1
    CURSOR_VISIBLE = 25
    ALT_SCREEN_47 = 47
    MOUSE_X10 = 9
    MOUSE_CLICK = 1000
    MOUSE_DRAG = 1002
    MOUSE_MOTION = 1003
    FOCUS_EVENTS = 1004
    MOUSE_UTF8 = 1005
    MOUSE_SGR = 1006
    MOUSE_URXVT = 1015
    ALT_SCREEN_1047 = 1047
    ALT_SCREEN_1049 = 1049
    BRACKETED_PASTE = 2004
    SYNCHRONIZED_OUTPUT = 2026


ALT_SCREEN_MODES = frozenset({Mode.ALT_SCREEN_47, Mode.ALT_SCREEN_1047, Mode.ALT_SCREEN_1049})
MOUSE_TRACKING_MODES = frozenset({Mode.MOUSE_X10, Mode.MOUSE_CLICK, Mode.MOUSE_DRAG, Mode.MOUSE_MOTION})
_DEFAULT_MODES = frozenset({Mode.CURSOR_VISIBLE})


class CursorShape(Enum):
    BLOCK = "block"
    UNDERLINE = "underline"
    BAR = "bar"


_SHAPES = {
    0: CursorShape.BLOCK,
    1: CursorShape.BLOCK,
    2: CursorShape.BLOCK,
    3: CursorShape.UNDERLINE,
    4: CursorShape.UNDERLINE,
    5: CursorShape.BAR,
    6: CursorShape.BAR,
}


class EventKind(Enum):
    MODE_SET = "mode_set"  # arg: tuple of mode numbers
    MODE_RESET = "mode_reset"  # arg: tuple of mode numbers
    CURSOR_POSITION_QUERY = "cpr"  # arg: True for the DEC form (CSI ? 6 n)
    STATUS_QUERY = "dsr"
    PRIMARY_DA_QUERY = "da1"
    SECONDARY_DA_QUERY = "da2"
    MODE_QUERY = "decrqm"  # arg: mode number
    CURSOR_SHAPE = "cursor_shape"  # arg: CursorShape
    TITLE = "title"  # arg: str
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """A sequence found in a chunk; `end` is the offset just past it in that chunk."""

    end: int
    kind: EventKind
    arg: object = None


def _candidate_starts(text: str) -> list[int]:
    """Offsets in `text` where a sequence we act on may start, in order (each is checked by `_SEQUENCE`)."""
    searches = [start for char, start in _STARTS if char in text]
    cursor_shapes = "q" in text
    if len(searches) + cursor_shapes > _MAX_START_SEARCHES:
        return [match.start() for match in _START.finditer(text)]
    starts: list[int] = []
    for start in searches:
        found = text.find(start)
        while found >= 0:
            starts.append(found)
            found = text.find(start, found + 1)
    if cursor_shapes:
        found = text.find(_CURSOR_SHAPE_END)
        while found >= 0:
            escape = text.rfind(ESC, max(0, found - _MAX_CURSOR_SHAPE_LENGTH), found)
            if escape >= 0:
                starts.append(escape)
            found = text.find(_CURSOR_SHAPE_END, found + 1)
    if len(starts) > 1:
        starts = sorted(set(starts))
    return starts


@dataclass
class ModeScanner:
    """Tracks modes, cursor shape and title across chunks of decoded terminal output."""

    modes: set[int] = field(default_factory=lambda: set(_DEFAULT_MODES))
    cursor_shape: CursorShape = CursorShape.BLOCK
    title: str = ""
    _carry: str = ""

    def scan(self, text: str) -> list[ScanEvent]:
        """Find the interesting sequences in `text`, in order. The caller `apply`s each one when the stream
        reaches it, so a query between two mode changes sees the state of its own position."""
        buffer = self._carry + text if self._carry else text
        if ESC not in buffer:
            self._carry = ""
            return []
        offset = len(self._carry)
        events: list[ScanEvent] = []
        for start in _candidate_starts(buffer):
            match = _SEQUENCE.match(buffer, start)
            if match is not None:
                event = self._event(match, match.end() - offset)
                if event is not None:
                    events.append(event)
        self._carry = self._unfinished_tail(buffer)
        return events

    def is_set(self, mode: int) -> bool:
        return mode in self.modes

    @property
    def alternate_screen(self) -> bool:
        return not self.modes.isdisjoint(ALT_SCREEN_MODES)

    @property
    def mouse_tracking(self) -> bool:
        return not self.modes.isdisjoint(MOUSE_TRACKING_MODES)

    def _event(self, match: re.Match[str], end: int) -> ScanEvent | None:
        if match["ris"]:
            return ScanEvent(end, EventKind.RESET)
        if match["osc"] is not None:
            if match["osc"] == "1":  # icon name only
                return None
            return ScanEvent(end, EventKind.TITLE, match["title"])
        prefix, params, inter, final = match["prefix"], match["params"], match["inter"], match["final"]
        numbers = tuple(int(p) for p in params.split(";") if p)
        if prefix == "?" and not inter and final in "hl" and numbers:
            return ScanEvent(end, EventKind.MODE_SET if final == "h" else EventKind.MODE_RESET, numbers)
        if final == "n" and not inter and numbers == (6,) and prefix in ("", "?"):
            return ScanEvent(end, EventKind.CURSOR_POSITION_QUERY, prefix == "?")
        if final == "n" and not inter and not prefix and numbers == (5,):
            return ScanEvent(end, EventKind.STATUS_QUERY)
        if final == "c" and not inter and numbers in ((), (0,)):
            if prefix == "":
                return ScanEvent(end, EventKind.PRIMARY_DA_QUERY)
            if prefix == ">":
                return ScanEvent(end, EventKind.SECONDARY_DA_QUERY)
        if final == "q" and inter == " " and not prefix and len(numbers) <= 1:
            shape = _SHAPES.get(numbers[0] if numbers else 0)
            return ScanEvent(end, EventKind.CURSOR_SHAPE, shape) if shape else None
        if final == "p" and inter == "$" and prefix == "?" and len(numbers) == 1:
            return ScanEvent(end, EventKind.MODE_QUERY, numbers[0])
        return None

    def apply(self, event: ScanEvent) -> None:
        """Update modes, cursor shape and title for an event returned by `scan`."""
        if event.kind is EventKind.MODE_SET:
            self.modes.update(event.arg)  # type: ignore[arg-type]
        elif event.kind is EventKind.MODE_RESET:
            self.modes.difference_update(event.arg)  # type: ignore[arg-type]
        elif event.kind is EventKind.CURSOR_SHAPE:
            self.cursor_shape = event.arg  # type: ignore[assignment]
        elif event.kind is EventKind.TITLE:
            self.title = event.arg  # type: ignore[assignment]
        elif event.kind is EventKind.RESET:
            self.modes = set(_DEFAULT_MODES)
            self.cursor_shape = CursorShape.BLOCK

    @staticmethod
    def _unfinished_tail(buffer: str) -> str:
        """The end of `buffer` that may be the start of a sequence completed by the next chunk."""
        window = max(0, len(buffer) - _MAX_CARRY)
        last_esc = buffer.rfind(ESC, window)
        if last_esc < 0:
            return ""
        osc_start = buffer.rfind(ESC + "]", window) if buffer.find("]", window) >= 0 else -1
        if osc_start >= 0:
            body = buffer[osc_start + 2 :]
            terminated = "\x07" in body or ESC + "\\" in body
            if not terminated and ESC not in body[:-1]:
                return buffer[osc_start:]
        tail = buffer[last_esc:]
        return tail if _UNFINISHED_CSI.match(tail) else ""
