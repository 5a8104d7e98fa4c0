"""Which lines a terminal pane shows, and its tmux-like *scroll mode*: scrollback, search, selection.

Lines are numbered three ways: a screen row (0 = top of the live screen), an *index* into scrollback +
screen (0 = oldest kept scrollback line) and an *absolute* line (index + lines ever trimmed from the
scrollback), which does not move while new output scrolls older lines away.

While scrolled back the view is in scroll mode: arrows/PageUp/PageDown/Home/End move a cursor line, ``/``
searches (``n``/``N`` for the next/previous match), ``v`` marks a line selection, ``y`` or Enter copies it,
Escape or ``q`` returns to the live screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len

from vmtui.terminal.emulator import FeedResult, TerminalState
from vmtui.terminal.selection import Point, Selection

SCROLL_MODE_KEYS = frozenset(
    {"up", "down", "pageup", "pagedown", "home", "end", "escape", "q", "slash", "n", "N", "v", "y", "enter"}
)


@dataclass(frozen=True, slots=True)
class KeyOutcome:
    """What the pane must do after a scroll-mode key: copy text, or say a search found nothing."""

    copied: str = ""
    not_found: str = ""


class ScrollbackView:
    """The scrolled-back position, scroll-mode cursor line, selection and search of one terminal.

    `height` returns the number of rows the pane shows (it changes on resize)."""

    def __init__(self, height: Callable[[], int]) -> None:
        self._height = height
        self.emulator: TerminalState | None = None
        self.history_offset = 0  # lines scrolled back from the live screen
        self.copy_line: int | None = None  # absolute line of the scroll-mode cursor
        self.selection = Selection()
        self.search_prompt: str | None = None  # the query being typed after "/"
        self.search_query = ""
        self.match: tuple[int, int, int] | None = None  # absolute line, start col, end col

    # -- numbering --------------------------------------------------------------------------------------
    @property
    def scroll_mode(self) -> bool:
        """Keys navigate the scrollback instead of going to the remote program."""
        return self.copy_line is not None

    @property
    def scrollback_length(self) -> int:
        return self.emulator.scrollback_length if self.emulator else 0

    @property
    def total_lines(self) -> int:
        return self.emulator.scrollback_length + self.emulator.rows if self.emulator else 0

    def top_line(self) -> int:
        """Index (scrollback + screen lines) of the line shown on the pane's first row."""
        return self.scrollback_length - self.history_offset

    def absolute(self, index: int) -> int:
        emulator = self.emulator
        return index + (emulator.total_scrolled - emulator.scrollback_length if emulator else 0)

    def index(self, absolute: int) -> int:
        emulator = self.emulator
        return absolute - (emulator.total_scrolled - emulator.scrollback_length if emulator else 0)

    def point(self, col: int, y: int) -> Point:
        """The absolute cell under pane row `y`, column `col`."""
        return Point(self.absolute(self.top_line() + y), col)

    def line_text(self, absolute: int) -> str | None:
        index = self.index(absolute)
        if self.emulator is None or not 0 <= index < self.total_lines:
            return None
        return self.emulator.line_text(index)

    # -- following output and size ----------------------------------------------------------------------
    def follow_output(self, result: FeedResult) -> bool:
        """Keep a scrolled-back view on the same lines while output arrives; True if the view moved."""
        moved = False
        if result.scrolled_lines and self.history_offset:
            self.history_offset = min(self.history_offset + result.scrolled_lines, self.scrollback_length)
            moved = True
        if result.screen_switched:
            self.history_offset = 0
            self.copy_line = None
            moved = True
        return moved

    def clamp(self) -> None:
        """After a resize: the scrollback may have shrunk."""
        self.history_offset = min(self.history_offset, self.scrollback_length)

    # -- scrolling --------------------------------------------------------------------------------------
    def scroll_history(self, offset: int, *, stay_in_scroll_mode: bool = False) -> None:
        """Show the screen `offset` lines back (0 = live); leaves scroll mode at 0 unless told."""
        self.history_offset = max(0, min(offset, self.scrollback_length))
        if self.history_offset or stay_in_scroll_mode:
            self.enter_scroll_mode()
        else:
            self.copy_line = None

    def page_up(self) -> None:
        self.scroll_history(self.history_offset + self._page(), stay_in_scroll_mode=True)

    def page_down(self) -> None:
        self.scroll_history(self.history_offset - self._page())

    def enter_scroll_mode(self) -> None:
        """Start navigating the scrollback with the keyboard, from the last visible line."""
        if self.emulator is None:
            return
        if self.copy_line is None or not self._line_visible(self.copy_line):
            last = min(self.top_line() + self._height(), self.total_lines)
            self.copy_line = self.absolute(last - 1)

    def leave_scroll_mode(self) -> None:
        self.clear_selection()
        self.copy_line = None
        self.scroll_history(0)

    def clear_selection(self) -> None:
        self.selection.clear()
        self.match = None

    def _page(self) -> int:
        return max(1, self._height() - 1)

    def _line_visible(self, absolute: int) -> bool:
        top = self.top_line()
        return top <= self.index(absolute) < top + self._height()

    # -- scroll-mode keys -------------------------------------------------------------------------------
    def key(self, key: str) -> KeyOutcome:
        """Handle one of `SCROLL_MODE_KEYS` while in scroll mode."""
        moves = {"up": -1, "down": 1, "pageup": -self._page(), "pagedown": self._page()}
        if key in moves:
            self._move_copy_line(moves[key])
        elif key == "home":
            self.scroll_history(self.scrollback_length, stay_in_scroll_mode=True)
            self.copy_line = self.absolute(0)
        elif key in ("end", "escape", "q"):
            self.leave_scroll_mode()
        elif key == "slash":
            self.search_prompt = ""
        elif key in ("n", "N"):
            if not self.search(self.search_query, backwards=key == "n") and self.search_query:
                return KeyOutcome(not_found=self.search_query)
        elif key == "v" and self.copy_line is not None:
            self.selection.start(Point(self.copy_line, 0), whole_lines=True)
        elif key in ("y", "enter"):
            if not self.selection.started and self.copy_line is not None:
                self.selection.start(Point(self.copy_line, 0), whole_lines=True)
            copied = self.selected_text()
            self.leave_scroll_mode()
            return KeyOutcome(copied=copied)
        return KeyOutcome()

    def prompt_key(self, key: str, character: str | None, printable: bool) -> KeyOutcome:
        """A key typed while the search prompt is open."""
        assert self.search_prompt is not None
        if key == "escape":
            self.search_prompt = None
        elif key == "enter":
            self.search_query, self.search_prompt = self.search_prompt, None
            if not self.search(self.search_query) and self.search_query:
                return KeyOutcome(not_found=self.search_query)
        elif key == "backspace":
            self.search_prompt = self.search_prompt[:-1]
        elif printable and character:
            self.search_prompt += character
        return KeyOutcome()

    def _move_copy_line(self, delta: int) -> None:
        if self.emulator is None or self.copy_line is None:
            return
        last = self.absolute(self.total_lines - 1)
        self.copy_line = max(self.absolute(0), min(last, self.copy_line + delta))
        if self.selection.whole_lines and self.selection.started:
            self.selection.extend(Point(self.copy_line, 0))
        index = self.index(self.copy_line)
        top = self.top_line()
        height = self._height()
        if index < top:
            self.scroll_history(self.history_offset + (top - index), stay_in_scroll_mode=True)
        elif index >= top + height:
            self.scroll_history(self.history_offset - (index - top - height + 1), stay_in_scroll_mode=True)

    # -- search and selection ---------------------------------------------------------------------------
    def search(self, query: str, backwards: bool = True) -> bool:
        """Find `query` from the scroll-mode line (or the last match), scroll to it and mark it."""
        emulator = self.emulator
        if emulator is None or not query:
            return False
        self.search_query = query
        total = self.total_lines
        start = self.index(self.copy_line) if self.copy_line is not None else total
        if self.match is not None:
            start = self.index(self.match[0])
        step = -1 if backwards else 1
        index = start + step
        while 0 <= index < total:
            text = emulator.line_text(index)
            column = text.find(query)
            if column >= 0:
                start_col = cell_len(text[:column])
                self.match = (self.absolute(index), start_col, start_col + cell_len(query))
                self._reveal(index)
                return True
            index += step
        return False

    def _reveal(self, index: int) -> None:
        """Scroll so that line `index` is visible, and put the scroll-mode line there."""
        height = self._height()
        if not (self.top_line() <= index < self.top_line() + height):
            offset = self.scrollback_length - index + height // 2
            self.history_offset = max(0, min(offset, self.scrollback_length))
        self.copy_line = self.absolute(index)

    def selected_text(self) -> str:
        return self.selection.text(self.line_text)
