"""`TerminalPane`: an interactive terminal widget on Textual's line API.

Output is parsed as it arrives, in slices of at most `PARSE_BUDGET` seconds so keys stay responsive; only
dirty rows are repainted, at most `MAX_FPS` times a second (`FLOOD_FPS` while output floods in); when
unparsed output piles up past `HIGH_WATER` bytes the transport is paused until the backlog drains below
`LOW_WATER`.

Every key reaches the remote program, except the leave chord `LEAVE_KEY` (ctrl+]) and shift+PageUp/PageDown,
which scroll the local scrollback. App and screen bindings cannot take keys from a focused pane
(`check_consume_key`), and Escape is not turned into "minimize" while it has focus. While scrolled back the pane is in *scroll mode*: arrows/PageUp/PageDown/
Home/End move, ``/`` searches (``n``/``N`` for the next/previous match), ``v`` marks a line selection, ``y``
or Enter copies it, Escape or ``q`` returns to the live screen; any other key returns and is sent.
The mouse selects text (copied on release) unless the remote program asked for mouse reports; the wheel
scrolls the scrollback, or sends cursor keys on the alternate screen.

Colours: the 16 ANSI colours follow the app theme's terminal palette (Textual maps them), so the pane
matches the rest of the UI in dark and light themes; 256-colour and truecolour values are drawn exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import count
from typing import ClassVar

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from vmtui.ui.terminal.emulator import FeedResult, TerminalEmulator
from vmtui.ui.terminal.keys import encode_key
from vmtui.ui.terminal.modes import CursorShape, Mode
from vmtui.ui.terminal.screen_model import (
    BLINK,
    BOLD,
    FAINT,
    INVERSE,
    ITALIC,
    STRIKE,
    UNDERLINE,
    CellStyle,
    Color,
    Run,
)
from vmtui.ui.terminal.transport import TerminalTransport, TransportFactory

LEAVE_KEY = "ctrl+right_square_bracket"
PARSE_BUDGET = 0.010
PARSE_CHUNK = 16384
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
MAX_FPS = 60
FLOOD_FPS = 30  # while output floods in, paint less often and parse more
FLOOD_BYTES = 16384  # parsed since the last paint: more than a full-screen redraw, so a flood
RESIZE_DEBOUNCE = 0.1
SYNC_OUTPUT_TIMEOUT = 0.15  # never hold the screen longer than this for a synchronized update
WHEEL_LINES = 3

_CURSOR_STYLES = {
    CursorShape.BLOCK: Style(reverse=True),
    CursorShape.UNDERLINE: Style(underline=True),
    CursorShape.BAR: Style(underline2=True, bold=True),  # a cell grid cannot draw a bar; keep it distinct
}
_SCROLL_MODE_KEYS = {
    "up",
    "down",
    "pageup",
    "pagedown",
    "home",
    "end",
    "escape",
    "q",
    "slash",
    "n",
    "N",
    "v",
    "y",
    "enter",
}


def _rich_color(color: Color) -> RichColor | None:
    if color is None:
        return None
    if isinstance(color, int):
        return RichColor.from_ansi(color)
    return RichColor.from_rgb(*color)


def _rich_style(style: CellStyle) -> Style:
    flags = style.flags
    return Style(
        color=_rich_color(style.fg),
        bgcolor=_rich_color(style.bg),
        bold=bool(flags & BOLD) or None,
        dim=bool(flags & FAINT) or None,
        italic=bool(flags & ITALIC) or None,
        underline=bool(flags & UNDERLINE) or None,
        blink=bool(flags & BLINK) or None,
        reverse=bool(flags & INVERSE) or None,
        strike=bool(flags & STRIKE) or None,
    )


def _overlay(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """`strip` with `style` added on top of cells [start, end)."""
    width = strip.cell_length
    start, end = max(0, start), min(width, end)
    if start >= end:
        return strip
    before, middle, after = strip.divide([start, end, width])
    lit = Strip(
        [Segment(text, (seg_style or Style()) + style, control) for text, seg_style, control in middle],
        middle.cell_length,
    )
    return Strip.join([before, lit, after])


def _column_slice(text: str, start: int, end: int | None) -> str:
    """The characters of `text` covering cells [start, end)."""
    out: list[str] = []
    position = 0
    for char in text:
        width = cell_len(char)
        if position >= start and (end is None or position + width <= end):
            out.append(char)
        position += width
    return "".join(out)


@dataclass(frozen=True)
class _Point:
    """A cell in absolute line numbering (stable while scrollback grows and is trimmed)."""

    line: int
    col: int


class TerminalPane(Widget, can_focus=True):
    """A terminal fed by a `TerminalTransport`; implements `TerminalSink` (`feed`, `closed`)."""

    DEFAULT_CSS = """
    TerminalPane {
        width: 1fr;
        height: 1fr;
        background: $background;
        color: $foreground;
    }
    TerminalPane > .terminal-pane--selection {
        background: $primary 60%;
    }
    TerminalPane > .terminal-pane--match {
        background: $warning 70%;
        color: $text;
    }
    TerminalPane > .terminal-pane--prompt {
        background: $panel;
        color: $text;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "terminal-pane--selection",
        "terminal-pane--match",
        "terminal-pane--prompt",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            LEAVE_KEY,
            "leave",
            "Leave terminal",
            key_display="ctrl+]",
            priority=True,
            id="terminal.leave",
            tooltip="Move focus out of the terminal; every other key goes to the remote program.",
        ),
    ]

    class TitleChanged(Message):
        """The remote program set the window title (OSC 0/2)."""

        def __init__(self, pane: TerminalPane, title: str) -> None:
            super().__init__()
            self.pane = pane
            self.title = title

        @property
        def control(self) -> TerminalPane:
            return self.pane

    class Closed(Message):
        """The session ended; `reason` says why."""

        def __init__(self, pane: TerminalPane, reason: str) -> None:
            super().__init__()
            self.pane = pane
            self.reason = reason

        @property
        def control(self) -> TerminalPane:
            return self.pane

    def __init__(
        self,
        *,
        scrollback: int = 5000,
        emulator: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._scrollback_limit = scrollback
        self._emulator_name = emulator
        self.emulator: TerminalEmulator | None = None
        self.transport: TerminalTransport | None = None
        self._factory: TransportFactory | None = None
        self.closed_reason: str | None = None
        # output pipeline
        self._backlog = bytearray()
        self._parse_scheduled = False
        self._reading_paused = False
        self._dirty_rows: set[int] = set()
        self._full_repaint = False
        self._repaint_pending = False
        self._last_paint = 0.0
        self._parsed_since_paint = 0
        self._sync_started: float | None = None
        # rendering
        self._versions = count(1)
        self._row_versions: list[int] = []
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._styles: dict[CellStyle, Style] = {}
        self._base_style: Style | None = None
        self._painted_cursor_row: int | None = None
        # resize
        self._resize_timer: Timer | None = None
        # scrollback view, selection, search
        self.history_offset = 0  # lines scrolled back from the live screen
        self._copy_line: int | None = None  # absolute line of the scroll-mode cursor
        self._anchor: _Point | None = None
        self._head: _Point | None = None
        self._line_selection = False
        self._selecting_with_mouse = False
        self._search_prompt: str | None = None
        self._search_query = ""
        self._match: tuple[int, int, int] | None = None  # absolute line, start col, end col
        self._mouse_buttons_down: set[int] = set()
        self._escape_override = False

    # -- session lifecycle ------------------------------------------------------------------------------
    def connect(self, factory: TransportFactory) -> None:
        """Open a session through `factory` as soon as the pane knows its real size."""
        self._factory = factory
        self.closed_reason = None
        if self.emulator is not None:
            self.call_after_refresh(self._start_session)  # after any pending layout change of the pane

    def _start_session(self) -> None:
        factory, self._factory = self._factory, None
        if factory is None or self.emulator is None:
            return
        self._apply_size()  # open with the size the pane has now, not the last debounced one
        cols, rows = self.emulator.size
        self.run_worker(self._open(factory, cols, rows), group="terminal-connect", exit_on_error=False)

    async def _open(self, factory: TransportFactory, cols: int, rows: int) -> None:
        try:
            transport = await factory(self, cols, rows)
        except Exception as error:  # noqa: BLE001 - any failure to connect ends the session with its message
            self.closed(str(error) or type(error).__name__)
            return
        self.transport = transport
        if self.emulator is not None and self.emulator.size != (cols, rows):
            transport.resize(*self.emulator.size)

    def close(self) -> None:
        """End the session (the transport reports back through `closed`)."""
        if self.transport is not None:
            self.transport.close()

    def on_unmount(self) -> None:
        self.close()  # a removed pane (closed tab, app exit) must not leave its session running

    def feed(self, data: bytes) -> None:
        """Queue output from the remote program (called by the transport)."""
        if not data:
            return
        self._backlog += data
        if len(self._backlog) > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if not self._parse_scheduled:
            self._parse_scheduled = True
            self.call_later(self._parse_backlog)

    def closed(self, reason: str) -> None:
        """The transport is gone (called by the transport)."""
        self.transport = None
        self._reading_paused = False
        self.closed_reason = reason
        self.post_message(self.Closed(self, reason))

    @property
    def backlog_size(self) -> int:
        """Bytes received but not parsed yet."""
        return len(self._backlog)

    @property
    def settled(self) -> bool:
        """All output received so far is parsed and painted."""
        return not (self._backlog or self._parse_scheduled or self._repaint_pending)

    # -- parsing ----------------------------------------------------------------------------------------
    def _parse_backlog(self) -> None:
        self._parse_scheduled = False
        emulator = self.emulator
        if emulator is None:
            return  # parsed once the first size is known
        deadline = time.perf_counter() + PARSE_BUDGET
        while self._backlog:
            chunk = bytes(self._backlog[:PARSE_CHUNK])
            del self._backlog[:PARSE_CHUNK]
            self._parsed_since_paint += len(chunk)
            self._apply(emulator.feed(chunk))
            if time.perf_counter() > deadline:
                break
        if self._reading_paused and len(self._backlog) < LOW_WATER and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        if self._backlog and not self._parse_scheduled:
            self._parse_scheduled = True
            self.call_later(self._parse_backlog)  # queued behind pending input events

    def _apply(self, result: FeedResult) -> None:
        if result.reply and self.transport is not None:
            self.transport.write(result.reply)
        if result.title is not None:
            self.post_message(self.TitleChanged(self, result.title))
        if result.scrolled_lines and self.history_offset:
            # keep the scrolled-back view on the same lines while new output arrives
            self.history_offset = min(
                self.history_offset + result.scrolled_lines,
                self.emulator.scrollback_length if self.emulator else 0,
            )
            self._full_repaint = True
        if result.screen_switched:
            self.history_offset = 0
            self._copy_line = None
            self._full_repaint = True
        if result.modes_changed:
            self._dirty_rows.add(self.emulator.cursor.row if self.emulator else 0)
        self._dirty_rows.update(result.dirty_rows)
        self._schedule_repaint()

    # -- repainting -------------------------------------------------------------------------------------
    def _schedule_repaint(self) -> None:
        """Repaint at once after a quiet period (fast echo), else at the next frame slot."""
        if self._repaint_pending:
            return
        self._repaint_pending = True
        flooding = self._backlog or self._parsed_since_paint > FLOOD_BYTES
        frame = 1 / (FLOOD_FPS if flooding else MAX_FPS)
        delay = self._last_paint + frame - time.monotonic()
        if delay > 0:
            self.set_timer(delay, self._repaint, name="terminal-repaint")
        else:
            self.call_later(self._repaint)

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
                self.set_timer(1 / MAX_FPS, self._repaint, name="terminal-repaint")
                return
        self._sync_started = None
        self._last_paint = time.monotonic()
        self._parsed_since_paint = 0
        rows = emulator.rows
        if len(self._row_versions) != rows:
            self._row_versions = [next(self._versions) for _ in range(rows)]
            self._full_repaint = True
        for row in self._dirty_rows:
            if 0 <= row < rows:
                self._row_versions[row] = next(self._versions)
        cursor_row = emulator.cursor.row
        dirty = self._dirty_rows | {cursor_row}
        if self._painted_cursor_row is not None:
            dirty.add(self._painted_cursor_row)
        self._painted_cursor_row = cursor_row
        self._dirty_rows = set()
        if self._full_repaint or len(dirty) >= rows:
            self._full_repaint = False
            self.refresh()
            return
        top = self._top_line()
        first_screen_line = emulator.scrollback_length
        width = self.size.width
        regions = [
            Region(0, first_screen_line + row - top, width, 1)
            for row in sorted(dirty)
            if 0 <= first_screen_line + row - top < self.size.height
        ]
        if regions:
            self.refresh(*regions)

    def _repaint_all(self) -> None:
        self._full_repaint = True
        self._schedule_repaint()

    def _top_line(self) -> int:
        """Index (scrollback + screen lines) of the line shown on the pane's first row."""
        emulator = self.emulator
        if emulator is None:
            return 0
        return emulator.scrollback_length - self.history_offset

    def _absolute(self, index: int) -> int:
        emulator = self.emulator
        assert emulator is not None
        return emulator.total_scrolled - emulator.scrollback_length + index

    def _index(self, absolute: int) -> int:
        emulator = self.emulator
        assert emulator is not None
        return absolute - (emulator.total_scrolled - emulator.scrollback_length)

    def notify_style_update(self) -> None:
        """CSS or theme changed: every cached style and strip is rebuilt on the next paint."""
        super().notify_style_update()
        self._base_style = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
            self._styles.clear()
            self._strips.clear()
        emulator = self.emulator
        if self._search_prompt is not None and y == self.size.height - 1:
            prompt_style = self.get_component_rich_style("terminal-pane--prompt")
            return Strip([Segment("/" + self._search_prompt, prompt_style)]).adjust_cell_length(
                width, prompt_style
            )
        if emulator is None:
            return Strip.blank(width, base)
        index = self._top_line() + y
        scrollback = emulator.scrollback_length
        if index < 0 or index - scrollback >= emulator.rows:
            return Strip.blank(width, base)
        absolute = self._absolute(index)
        if index < scrollback:
            key: tuple[object, ...] = ("sb", absolute, width)
        else:
            row = index - scrollback
            version = self._row_versions[row] if row < len(self._row_versions) else -1
            key = ("row", row, version, width)
        strip = self._strips.get(key)
        if strip is None:
            runs = (
                emulator.scrollback_runs(index)
                if index < scrollback
                else emulator.row_runs(index - scrollback)
            )
            strip = self._build_strip(runs, width, base)
            self._strips[key] = strip
        strip = self._decorate(strip, index, absolute)
        if y == 0 and self.scroll_mode:
            strip = self._with_position_marker(strip)
        return strip

    def _with_position_marker(self, strip: Strip) -> Strip:
        """Top-right `[offset/length]` while in scroll mode, as tmux's copy mode shows it."""
        emulator = self.emulator
        assert emulator is not None
        marker = f"[{self.history_offset}/{emulator.scrollback_length}]"
        width = strip.cell_length
        if len(marker) >= width:
            return strip
        style = self.get_component_rich_style("terminal-pane--prompt")
        left = strip.crop(0, width - len(marker))
        return Strip.join([left, Strip([Segment(marker, style)], len(marker))])

    def _build_strip(self, runs: list[Run], width: int, base: Style) -> Strip:
        styles = self._styles
        segments = []
        for text, cell_style in runs:
            style = styles.get(cell_style)
            if style is None:
                style = styles[cell_style] = base + _rich_style(cell_style)
            segments.append(Segment(text, style))
        return Strip(segments).adjust_cell_length(width, base)

    def _decorate(self, strip: Strip, index: int, absolute: int) -> Strip:
        """Add selection, search match, scroll-mode line and cursor on top of a cached strip."""
        emulator = self.emulator
        assert emulator is not None
        width = strip.cell_length
        span = self._selection_span(absolute, width)
        if span is not None:
            strip = _overlay(
                strip, span[0], span[1], self.get_component_rich_style("terminal-pane--selection")
            )
        if self._match is not None and self._match[0] == absolute:
            strip = _overlay(
                strip, self._match[1], self._match[2], self.get_component_rich_style("terminal-pane--match")
            )
        if self._copy_line == absolute and span is None:
            strip = _overlay(strip, 0, width, Style(underline=True))
        row = index - emulator.scrollback_length
        cursor = emulator.cursor
        if (
            row == cursor.row
            and cursor.visible
            and self.has_focus
            and not self.scroll_mode
            and self.closed_reason is None
        ):
            col = min(cursor.col, width - 1)
            strip = _overlay(strip, col, col + 1, _CURSOR_STYLES[emulator.scanner.cursor_shape])
        return strip

    # -- size -------------------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        cols, rows = self.size.width, self.size.height
        if cols < 1 or rows < 1:
            return
        if self.emulator is None:
            self.emulator = TerminalEmulator(
                cols, rows, scrollback=self._scrollback_limit, backend=self._emulator_name
            )
            self._row_versions = [next(self._versions) for _ in range(rows)]
            if self._backlog:
                self.call_later(self._parse_backlog)
            self._start_session()
            return
        if self._resize_timer is not None:
            self._resize_timer.stop()
        self._resize_timer = self.set_timer(RESIZE_DEBOUNCE, self._debounced_resize, name="terminal-resize")

    def _debounced_resize(self) -> None:
        self._resize_timer = None
        self._apply_size()

    def _apply_size(self) -> None:
        if self._resize_timer is not None:
            self._resize_timer.stop()
            self._resize_timer = None
        emulator = self.emulator
        cols, rows = self.size.width, self.size.height
        if emulator is None or cols < 1 or rows < 1 or emulator.size == (cols, rows):
            return
        emulator.resize(cols, rows)
        self.history_offset = min(self.history_offset, emulator.scrollback_length)
        self._strips.clear()
        self._row_versions = [next(self._versions) for _ in range(rows)]
        self._repaint_all()
        if self.transport is not None:
            self.transport.resize(cols, rows)

    # -- keyboard ---------------------------------------------------------------------------------------
    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Every key but the leave chord belongs to the terminal: app/screen bindings must not take it."""
        return key != LEAVE_KEY

    def action_leave(self) -> None:
        """Move focus out of the terminal."""
        self.screen.focus_next()
        if self.screen.focused is self:
            self.screen.set_focus(None)

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        key = event.key
        if self._search_prompt is not None:
            self._prompt_key(event)
        elif key == "shift+pageup":
            self.scroll_history(self.history_offset + max(1, self.size.height - 1), stay_in_scroll_mode=True)
        elif key == "shift+pagedown":
            self.scroll_history(self.history_offset - max(1, self.size.height - 1))
        elif self.scroll_mode and key in _SCROLL_MODE_KEYS:
            self._scroll_mode_key(key)
        else:
            application_cursor = self.emulator.application_cursor if self.emulator else False
            data = encode_key(key, event.character, application_cursor=application_cursor)
            if data is None and event.is_printable and event.character:
                data = event.character.encode()
            if data:
                self.send(data)

    def send(self, data: bytes) -> None:
        """Send input to the remote program and return the view to the live screen."""
        if self.scroll_mode or self.history_offset:
            self.leave_scroll_mode()
        elif self._anchor is not None:
            self._clear_selection()
        if self.transport is not None:
            self.transport.write(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if self.emulator is not None and self.emulator.mode(Mode.BRACKETED_PASTE):
            text = "\x1b[200~" + text.replace("\x1b[201~", "") + "\x1b[201~"
        self.send(text.encode("utf-8"))

    def on_focus(self) -> None:
        # Textual turns Escape into "minimize" while anything is maximized, before any widget sees it; while
        # the terminal has focus, Escape belongs to the remote program (vim!). Undone on blur.
        if "ESCAPE_TO_MINIMIZE" not in vars(self.screen):
            self.screen.ESCAPE_TO_MINIMIZE = False
            self._escape_override = True
        self._focus_report("\x1b[I")

    def on_blur(self) -> None:
        if self._escape_override:
            del self.screen.ESCAPE_TO_MINIMIZE
            self._escape_override = False
        self._focus_report("\x1b[O")

    def _focus_report(self, sequence: str) -> None:
        if self.emulator is None:
            return
        self._dirty_rows.add(self.emulator.cursor.row)
        self._schedule_repaint()
        if self.emulator.mode(Mode.FOCUS_EVENTS) and self.transport is not None:
            self.transport.write(sequence.encode())

    # -- scrollback, scroll mode and search --------------------------------------------------------------
    @property
    def scroll_mode(self) -> bool:
        """Keys navigate the scrollback instead of going to the remote program."""
        return self._copy_line is not None

    def scroll_history(self, offset: int, *, stay_in_scroll_mode: bool = False) -> None:
        """Show the screen `offset` lines back in the scrollback (0 = live; leaves scroll mode unless told)."""
        limit = self.emulator.scrollback_length if self.emulator else 0
        self.history_offset = max(0, min(offset, limit))
        if self.history_offset or stay_in_scroll_mode:
            self.enter_scroll_mode()
        else:
            self._copy_line = None
        self.refresh()

    def enter_scroll_mode(self) -> None:
        """Start navigating the scrollback with the keyboard, from the last visible line."""
        if self.emulator is None:
            return
        if self._copy_line is None or not self._line_visible(self._copy_line):
            last = min(
                self._top_line() + self.size.height, self.emulator.scrollback_length + self.emulator.rows
            )
            self._copy_line = self._absolute(last - 1)
        self.refresh()

    def leave_scroll_mode(self) -> None:
        self._clear_selection()
        self._copy_line = None
        self.scroll_history(0)

    def _line_visible(self, absolute: int) -> bool:
        top = self._top_line()
        return top <= self._index(absolute) < top + self.size.height

    def _scroll_mode_key(self, key: str) -> None:
        page = max(1, self.size.height - 1)
        moves = {"up": -1, "down": 1, "pageup": -page, "pagedown": page}
        if key in moves:
            self._move_copy_line(moves[key])
        elif key == "home":
            self.scroll_history(
                self.emulator.scrollback_length if self.emulator else 0, stay_in_scroll_mode=True
            )
            self._copy_line = self._absolute(0)
        elif key in ("end", "escape", "q"):
            self.leave_scroll_mode()
        elif key == "slash":
            self._search_prompt = ""
        elif key in ("n", "N"):
            self.search(self._search_query, backwards=key == "n")
        elif key == "v" and self._copy_line is not None:
            self._line_selection = True
            self._anchor = _Point(self._copy_line, 0)
            self._head = _Point(self._copy_line, 0)
        elif key in ("y", "enter"):
            if self._anchor is None and self._copy_line is not None:
                self._line_selection = True
                self._anchor = self._head = _Point(self._copy_line, 0)
            self.copy_selection()
            self.leave_scroll_mode()
        self.refresh()

    def _move_copy_line(self, delta: int) -> None:
        emulator = self.emulator
        if emulator is None or self._copy_line is None:
            return
        last = self._absolute(emulator.scrollback_length + emulator.rows - 1)
        first = self._absolute(0)
        self._copy_line = max(first, min(last, self._copy_line + delta))
        if self._line_selection and self._anchor is not None:
            self._head = _Point(self._copy_line, 0)
        index = self._index(self._copy_line)
        top = self._top_line()
        if index < top:
            self.scroll_history(self.history_offset + (top - index), stay_in_scroll_mode=True)
        elif index >= top + self.size.height:
            self.scroll_history(
                self.history_offset - (index - top - self.size.height + 1), stay_in_scroll_mode=True
            )

    def _prompt_key(self, event: events.Key) -> None:
        assert self._search_prompt is not None
        if event.key == "escape":
            self._search_prompt = None
        elif event.key == "enter":
            self._search_query, self._search_prompt = self._search_prompt, None
            self.search(self._search_query)
        elif event.key == "backspace":
            self._search_prompt = self._search_prompt[:-1]
        elif event.is_printable and event.character:
            self._search_prompt += event.character
        self.refresh()

    def search(self, query: str, backwards: bool = True) -> bool:
        """Find `query` in scrollback + screen from the scroll-mode line, scroll to it and highlight it."""
        emulator = self.emulator
        if emulator is None or not query:
            return False
        self._search_query = query
        total = emulator.scrollback_length + emulator.rows
        start = self._index(self._copy_line) if self._copy_line is not None else total
        if self._match is not None:
            start = self._index(self._match[0])
        step = -1 if backwards else 1
        index = start + step
        while 0 <= index < total:
            text = emulator.line_text(index)
            column = text.find(query)
            if column >= 0:
                start_col = cell_len(text[:column])
                self._match = (self._absolute(index), start_col, start_col + cell_len(query))
                self._reveal(index)
                return True
            index += step
        self.notify(f"{query!r} not found", severity="warning", timeout=2)
        return False

    def _reveal(self, index: int) -> None:
        """Scroll so that line `index` (scrollback + screen numbering) is visible, and put the copy line there."""
        emulator = self.emulator
        assert emulator is not None
        if not (self._top_line() <= index < self._top_line() + self.size.height):
            offset = emulator.scrollback_length - index + self.size.height // 2
            self.history_offset = max(0, min(offset, emulator.scrollback_length))
        self._copy_line = self._absolute(index)
        self.refresh()

    # -- selection and copy -----------------------------------------------------------------------------
    def _ordered_selection(self) -> tuple[_Point, _Point] | None:
        if self._anchor is None or self._head is None:
            return None
        first, last = sorted((self._anchor, self._head), key=lambda p: (p.line, p.col))
        if first == last and not self._line_selection:
            return None
        return first, last

    def _selection_span(self, absolute: int, width: int) -> tuple[int, int] | None:
        ordered = self._ordered_selection()
        if ordered is None:
            return None
        first, last = ordered
        if not first.line <= absolute <= last.line:
            return None
        if self._line_selection:
            return 0, width
        start = first.col if absolute == first.line else 0
        end = last.col + 1 if absolute == last.line else width
        return start, end

    def selected_text(self) -> str:
        """The selected text, lines joined with newlines, trailing blanks removed."""
        ordered = self._ordered_selection()
        emulator = self.emulator
        if ordered is None or emulator is None:
            return ""
        first, last = ordered
        lines = []
        for absolute in range(first.line, last.line + 1):
            index = self._index(absolute)
            if not 0 <= index < emulator.scrollback_length + emulator.rows:
                continue
            text = emulator.line_text(index)
            if not self._line_selection:
                start = first.col if absolute == first.line else 0
                end = last.col + 1 if absolute == last.line else None
                text = _column_slice(text, start, end)
            lines.append(text.rstrip())
        return "\n".join(lines)

    def copy_selection(self) -> str:
        """Copy the selection to the clipboard (OSC 52 through the outer terminal); return what was copied."""
        text = self.selected_text()
        if text:
            self.app.copy_to_clipboard(text)
            self.notify(f"Copied {len(text)} characters", timeout=2)
        return text

    def _clear_selection(self) -> None:
        self._anchor = self._head = None
        self._line_selection = False
        self._match = None
        self.refresh()

    # -- mouse ------------------------------------------------------------------------------------------
    def _mouse_reporting(self, event: events.MouseEvent) -> bool:
        """The remote program wants mouse events (shift forces local selection, as in xterm)."""
        return (
            self.emulator is not None
            and self.emulator.scanner.mouse_tracking
            and not event.shift
            and self.transport is not None
            and not self.scroll_mode
        )

    def _report_mouse(
        self, event: events.MouseEvent, button: int, release: bool = False, motion: bool = False
    ) -> None:
        emulator = self.emulator
        assert emulator is not None
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset.x + 1, offset.y + 1
        code = button + (4 if event.shift else 0) + (8 if event.meta else 0) + (16 if event.ctrl else 0)
        code += 32 if motion else 0
        if emulator.mode(Mode.MOUSE_SGR):
            data = f"\x1b[<{code};{x};{y}{'m' if release else 'M'}".encode()
        else:
            if x > 223 or y > 223:
                return  # not representable in the X10 encoding
            legacy = 3 + (code & ~3) if release else code
            data = b"\x1b[M" + bytes([32 + legacy, 32 + x, 32 + y])
        self.transport.write(data)  # type: ignore[union-attr]

    def _point(self, event: events.MouseEvent) -> _Point | None:
        offset = event.get_content_offset(self)
        if offset is None or self.emulator is None:
            return None
        return _Point(self._absolute(self._top_line() + offset.y), offset.x)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._mouse_reporting(event):
            self._mouse_buttons_down.add(event.button)
            self._report_mouse(event, event.button - 1)
            event.stop()
            return
        if event.button == 1 and (point := self._point(event)) is not None:
            self._anchor = self._head = point
            self._line_selection = False
            self._selecting_with_mouse = True
            self.capture_mouse()
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._mouse_reporting(event):
            emulator = self.emulator
            assert emulator is not None
            if self._mouse_buttons_down and (
                emulator.mode(Mode.MOUSE_DRAG) or emulator.mode(Mode.MOUSE_MOTION)
            ):
                self._report_mouse(event, min(self._mouse_buttons_down) - 1, motion=True)
            elif emulator.mode(Mode.MOUSE_MOTION):
                self._report_mouse(event, 3, motion=True)
            return
        point = self._point(event) if self._selecting_with_mouse else None
        if point is not None and point != self._head:
            self._head = point
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._mouse_reporting(event) and event.button in self._mouse_buttons_down:
            self._mouse_buttons_down.discard(event.button)
            self._report_mouse(event, event.button - 1, release=True)
            return
        if self._selecting_with_mouse:
            self._selecting_with_mouse = False
            self.release_mouse()
            if self._ordered_selection() is not None:
                self.copy_selection()
            else:
                self._clear_selection()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, up=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, up=False)

    def _wheel(self, event: events.MouseEvent, up: bool) -> None:
        event.stop()
        emulator = self.emulator
        if emulator is None:
            return
        if self._mouse_reporting(event):
            self._report_mouse(event, 64 if up else 65)
        elif emulator.alternate_screen:
            key = encode_key("up" if up else "down", None, application_cursor=emulator.application_cursor)
            if key and self.transport is not None:
                self.transport.write(key * WHEEL_LINES)
        else:
            self.scroll_history(self.history_offset + (WHEEL_LINES if up else -WHEEL_LINES))
