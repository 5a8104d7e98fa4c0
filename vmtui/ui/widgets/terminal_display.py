"""`TerminalDisplay`: the drawing half of the terminal pane, on Textual's line API.

It shows a terminal (`TerminalState`: parsed in a child process where it can be) through a `ScrollbackView` (scrolled back, selection, search match, cursor)
and repaints the rows the `OutputPipeline` reports dirty, as the pipeline took them at its paint; strips are
cached by what a row shows, so a row whose line only moved (the screen scrolled) is not built again. An
emulator in this process is fed in the transport's reader thread: every read of it here holds
`pipeline.lock`. Input and the session are `TerminalPane`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.filter import ANSIToTruecolor, LineFilter
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from vmtui.terminal.emulator import FeedResult, TerminalState
from vmtui.terminal.pipeline import OutputPipeline
from vmtui.terminal.remote_emulator import open_emulator
from vmtui.terminal.scrollback_view import ScrollbackView
from vmtui.terminal.transport import TerminalTransport
from vmtui.ui.widgets.terminal_render import CURSOR_STYLES, StripCache, overlay, with_marker

RESIZE_DEBOUNCE = 0.1


class TerminalDisplay(Widget):
    """Draws one terminal; implements the pipeline's `PipelineHost`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "terminal-pane--selection",
        "terminal-pane--match",
        "terminal-pane--prompt",
    }

    class RunOnUiThread(Message, bubble=False):
        """Run a pipeline callback on the UI thread (posted from the transport's reader thread)."""

        def __init__(self, callback: Callable[[], None]) -> None:
            super().__init__()
            self.callback = callback

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
        self.closed_reason: str | None = None  # the session ended (the cursor is no longer drawn)
        self.pipeline = OutputPipeline(self)
        self.view = ScrollbackView(lambda: self.size.height)
        self._cache = StripCache()
        self._resize_timer: Timer | None = None

    @property
    def emulator(self) -> TerminalState | None:
        return self.pipeline.emulator

    @property
    def transport(self) -> TerminalTransport | None:
        return self.pipeline.transport

    @property
    def history_offset(self) -> int:
        """Lines scrolled back from the live screen."""
        return self.view.history_offset

    @property
    def scroll_mode(self) -> bool:
        return self.view.scroll_mode

    @property
    def settled(self) -> bool:
        """All output received so far is parsed and painted."""
        return self.pipeline.settled

    # -- PipelineHost -----------------------------------------------------------------------------------
    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """`post_message` is thread-safe; the callback runs behind the keys already received."""
        self.post_message(self.RunOnUiThread(callback))

    def on_terminal_display_run_on_ui_thread(self, message: RunOnUiThread) -> None:
        message.callback()

    def call_in(self, delay: float, callback: Callable[[], None]) -> None:
        self.set_timer(delay, callback, name="terminal-repaint")

    def output_applied(self, result: FeedResult) -> bool:
        return self.view.follow_output(result)

    def paint(self, rows: set[int] | None) -> None:
        emulator = self.emulator
        if rows is None or emulator is None:
            self.refresh()
            return
        first_row = emulator.scrollback_length - self.view.top_line()
        regions = [
            Region(0, first_row + row, self.size.width, 1)
            for row in sorted(rows)
            if 0 <= first_row + row < self.size.height
        ]
        if regions:
            self.refresh(*regions)

    # -- drawing ----------------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        """CSS or theme changed: every cached style and strip is rebuilt on the next paint."""
        super().notify_style_update()
        self._cache.forget_colours()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters but the ANSI-to-truecolor one: the strip cache converts each style once
        (`StripCache.use_colours`) instead of the filter rebuilding every segment of every new line."""
        return [
            line_filter
            for line_filter in super().get_line_filters()
            if not isinstance(line_filter, ANSIToTruecolor)
        ]

    def _use_colours(self) -> None:
        truecolor = next(
            (
                line_filter
                for line_filter in self.app.get_line_filters()
                if isinstance(line_filter, ANSIToTruecolor)
            ),
            None,
        )
        self._cache.use_colours(self.rich_style, truecolor, self.background_colors[1].rich_color)

    def render_lines(self, crop: Region) -> list[Strip]:
        """A frame's lines under one hold of the lock: its rows show one moment of the stream, and the
        frame waits for the reader's parse at most once, not once per line (a frame interleaved with a
        flood's parses took tens of milliseconds, delaying echoes in the panes beside it)."""
        with self.pipeline.lock:
            self._use_colours()
            return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        with self.pipeline.lock:
            return self._render_line(y)

    def _render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._cache.base is None:
            self._use_colours()
        base = self._cache.base
        view, emulator = self.view, self.emulator
        if view.search_prompt is not None and y == self.size.height - 1:
            style = self.get_component_rich_style("terminal-pane--prompt")
            return Strip([Segment("/" + view.search_prompt, style)]).adjust_cell_length(width, style)
        index = view.top_line() + y
        if emulator is None or index < 0 or index >= view.total_lines:
            return Strip.blank(width, base)
        absolute = view.absolute(index)
        scrollback = emulator.scrollback_length
        if index < scrollback:
            key: tuple[object, ...] = ("sb", absolute, width)
            strip = self._cache.strip(key, lambda: emulator.scrollback_runs(index), width)
        else:
            row, snapshots = index - scrollback, self.pipeline.row_snapshots
            content, runs = snapshots[row] if row < len(snapshots) else emulator.row_snapshot(row)
            strip = self._cache.strip(("row", content, width), runs, width)
        strip = self._decorate(strip, index - scrollback, absolute, emulator)
        if y == 0 and view.scroll_mode:  # where we are, as tmux's copy mode shows it
            marker = f"[{view.history_offset}/{scrollback}]"
            strip = with_marker(strip, marker, self.get_component_rich_style("terminal-pane--prompt"))
        return strip

    def _decorate(self, strip: Strip, row: int, absolute: int, emulator: TerminalState) -> Strip:
        """Add selection, search match, scroll-mode line and cursor on top of a cached strip."""
        view = self.view
        width = strip.cell_length
        span = view.selection.span(absolute, width)
        if span is not None:
            strip = overlay(strip, *span, self.get_component_rich_style("terminal-pane--selection"))
        if view.match is not None and view.match[0] == absolute:
            strip = overlay(strip, *view.match[1:], self.get_component_rich_style("terminal-pane--match"))
        if view.copy_line == absolute and span is None:
            strip = overlay(strip, 0, width, Style(underline=True))
        cursor = emulator.cursor
        drawn = cursor.visible and self.has_focus and not view.scroll_mode and self.closed_reason is None
        if row == cursor.row and drawn:
            col = min(cursor.col, width - 1)
            strip = overlay(strip, col, col + 1, CURSOR_STYLES[emulator.scanner.cursor_shape])
        return strip

    # -- size -------------------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        cols, rows = self.size.width, self.size.height
        if cols < 1 or rows < 1:
            return
        if self.emulator is None:
            self._open_emulator(cols, rows)
            self._size_known()
            return
        if self._resize_timer is not None:
            self._resize_timer.stop()
        self._resize_timer = self.set_timer(RESIZE_DEBOUNCE, self._apply_size, name="terminal-resize")

    def _apply_size(self) -> None:
        if self._resize_timer is not None:
            self._resize_timer.stop()
            self._resize_timer = None
        emulator = self.emulator
        cols, rows = self.size.width, self.size.height
        if emulator is None or cols < 1 or rows < 1 or emulator.size == (cols, rows):
            return
        with self.pipeline.lock:
            emulator.resize(cols, rows)
            self.view.clamp()
            self.pipeline.snapshot_rows()
        self._cache.clear()
        self.pipeline.invalidate_all()
        if self.transport is not None:
            self.transport.resize(cols, rows)

    def _open_emulator(self, cols: int, rows: int) -> None:
        emulator = open_emulator(
            cols,
            rows,
            scrollback=self._scrollback_limit,
            backend=self._emulator_name,
            on_output=lambda: self.call_soon_threadsafe(self.pipeline.output_parsed),
        )
        self.view.emulator = emulator
        self.pipeline.attach(emulator)

    def renew_emulator_if_parser_gone(self) -> None:
        """A parser process that died took the screen and scrollback with it: a new session (reconnect)
        starts on a new, blank one instead of ending at its first output."""
        emulator = self.emulator
        if emulator is None or not self.pipeline.parser_gone:
            return
        self.pipeline.detach()
        self._open_emulator(*emulator.size)
        self.view.leave_scroll_mode()
        self._cache.clear()
        self.pipeline.invalidate_all()

    def _size_known(self) -> None:
        """The emulator exists now (first resize); subclasses start their session here."""

    def on_unmount(self) -> None:
        self.pipeline.detach()  # a parser process ends with its pane
