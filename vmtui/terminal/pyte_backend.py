"""`EmulatorBackend` over pure-Python pyte, the fallback where the native `avt` wheel is missing.

pyte has no alternate screen and no scrollback hand-off, so this backend adds both: lines that scroll off
the top of the full-height primary screen are handed out, and a 47/1047/1049 switch saves and restores the
primary buffer. pyte's own replies are disabled: `TerminalEmulator` answers queries for every backend.
"""

from __future__ import annotations

import pyte
from pyte.screens import Char, StaticDefaultDict

from vmtui.terminal.screen_model import (
    BLINK,
    BOLD,
    DEFAULT_STYLE,
    INVERSE,
    ITALIC,
    STRIKE,
    UNDERLINE,
    CellStyle,
    Color,
    Cursor,
    RowSnapshot,
    Run,
)

_DECCKM = 1 << 5  # pyte stores private modes shifted by 5 bits
_BASE_COLORS = {
    "black": 0,
    "red": 1,
    "green": 2,
    "brown": 3,
    "yellow": 3,
    "blue": 4,
    "magenta": 5,
    "cyan": 6,
    "white": 7,
}


def _color(name: str) -> Color:
    if name == "default":
        return None
    if name in _BASE_COLORS:
        return _BASE_COLORS[name]
    if name.startswith(("bright", "bfight")):  # pyte 0.8.2 misspells bright magenta background
        base = _BASE_COLORS.get(name[6:])
        return None if base is None else base + 8
    try:
        value = int(name, 16)
    except ValueError:
        return None
    return ((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)


def _style(char: Char) -> CellStyle:
    flags = (
        (BOLD if char.bold else 0)
        | (ITALIC if char.italics else 0)
        | (UNDERLINE if char.underscore else 0)
        | (BLINK if char.blink else 0)
        | (INVERSE if char.reverse else 0)
        | (STRIKE if char.strikethrough else 0)
    )
    if not flags and char.fg == "default" and char.bg == "default":
        return DEFAULT_STYLE
    return CellStyle(_color(char.fg), _color(char.bg), flags)


class _Screen(pyte.Screen):
    """pyte screen that reports lines scrolled off the top and does not answer queries itself."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.scrolled_off: list[dict[int, Char]] = []
        self.alternate = False
        self._saved_primary: tuple[dict[int, dict[int, Char]], tuple[int, int]] | None = None

    def index(self) -> None:
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.alternate:
            self.scrolled_off.append(self.buffer[0])
        super().index()

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        """pyte 0.8.2 crashes on private SGR (``CSI ? 4 m``, sent by vim); such sequences set no attributes."""
        if not private:
            super().select_graphic_rendition(*attrs)

    def write_process_input(self, data: str) -> None:
        """Replies are produced by `TerminalEmulator`."""

    def switch_alternate(self, active: bool) -> None:
        if active == self.alternate:
            return
        if active:
            lines = {y: dict(line) for y, line in self.buffer.items()}
            self._saved_primary = (lines, (self.cursor.x, self.cursor.y))
            self.alternate = True
            self.erase_in_display(2)
        else:
            self.alternate = False
            self.buffer.clear()
            if self._saved_primary is not None:
                lines, (x, y) = self._saved_primary
                for row, cells in lines.items():
                    if row < self.lines:
                        line: StaticDefaultDict[int, Char] = StaticDefaultDict(self.default_char)
                        line.update({x: c for x, c in cells.items() if x < self.columns})
                        self.buffer[row] = line
                self.cursor.x, self.cursor.y = min(x, self.columns - 1), min(y, self.lines - 1)
                self._saved_primary = None
            self.dirty.update(range(self.lines))


def _runs(line: dict[int, Char], columns: int, default: Char) -> list[Run]:
    runs: list[Run] = []
    chars: list[str] = []
    current: CellStyle | None = None
    for x in range(columns):
        char = line.get(x, default)
        if char.data == "":  # second half of a wide character
            continue
        style = _style(char)
        if style != current:
            if chars:
                runs.append(("".join(chars), current))  # type: ignore[arg-type]
                chars = []
            current = style
        chars.append(char.data)
    if chars:
        runs.append(("".join(chars), current))  # type: ignore[arg-type]
    return runs


class PyteBackend:
    """Screen state in a pyte `Screen` fed through a `Stream`."""

    name = "pyte"

    def __init__(self, cols: int, rows: int) -> None:
        self._screen = _Screen(cols, rows)
        self._stream = pyte.Stream(self._screen)

    @property
    def size(self) -> tuple[int, int]:
        return self._screen.columns, self._screen.lines

    @property
    def cursor(self) -> Cursor:
        cursor = self._screen.cursor
        return Cursor(cursor.y, cursor.x, not cursor.hidden)

    @property
    def application_cursor(self) -> bool:
        return _DECCKM in self._screen.mode

    def feed(self, text: str) -> tuple[list[int], list[object]]:
        screen = self._screen
        self._stream.feed(text)
        changed = sorted(screen.dirty)
        screen.dirty.clear()
        scrolled, screen.scrolled_off = screen.scrolled_off, []
        return changed, scrolled  # type: ignore[return-value]

    def resize(self, cols: int, rows: int) -> list[object]:
        screen = self._screen
        pushed: list[object] = []
        if rows < screen.lines and not screen.alternate:
            # pyte drops rows from the top when shrinking; keep them as scrollback like avt does.
            pushed = [screen.buffer[y] for y in range(screen.lines - rows)]
        screen.resize(rows, cols)
        screen.dirty.clear()
        return pushed

    def set_alternate_screen(self, active: bool) -> None:
        self._screen.switch_alternate(active)

    def _row_runs(self, row: int) -> list[Run]:
        return _runs(self._screen.buffer[row], self._screen.columns, self._screen.default_char)

    def row_snapshot(self, row: int) -> RowSnapshot:
        runs = self._row_runs(row)
        return tuple(runs), lambda: runs

    def line(self, row: int) -> object:
        return dict(self._screen.buffer[row])

    def line_runs(self, line: object) -> list[Run]:
        cells: dict[int, Char] = line  # type: ignore[assignment]
        width = max(cells, default=-1) + 1
        return _runs(cells, width, self._screen.default_char)

    def row_text(self, row: int) -> str:
        return "".join(text for text, _style in self._row_runs(row)).rstrip()

    def line_text(self, line: object) -> str:
        return "".join(text for text, _style in self.line_runs(line)).rstrip()
