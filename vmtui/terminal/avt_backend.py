"""`EmulatorBackend` over asciinema's native `avt` emulator (PyPI `pyavt`).

Names come from `avt._avt`, where the typed stubs declare them (the `avt` package re-exports them implicitly)."""

from __future__ import annotations

from typing import cast

from avt._avt import Color as AvtColor
from avt._avt import Line, Pen, Vt

from vmtui.terminal.avt_dump import REPR_PREFIX, REPR_SUFFIX, SGR_ESCAPE, WRAP_MARK, parse_dump
from vmtui.terminal.screen_model import (
    BLINK,
    BOLD,
    DEFAULT_STYLE,
    FAINT,
    INVERSE,
    ITALIC,
    STRIKE,
    UNDERLINE,
    CellStyle,
    Color,
    Cursor,
    LineEntry,
    RowSnapshot,
    Run,
)


def _color(color: AvtColor | None) -> Color:
    if color is None:
        return None
    if isinstance(color, AvtColor.Indexed):
        return color[0]
    if isinstance(color, AvtColor.RGB):
        return (color[0], color[1], color[2])
    return None


def _style(pen: Pen) -> CellStyle:
    if pen.is_default():
        return DEFAULT_STYLE
    flags = (
        (BOLD if pen.bold else 0)
        | (FAINT if pen.faint else 0)
        | (ITALIC if pen.italic else 0)
        | (UNDERLINE if pen.underline else 0)
        | (BLINK if pen.blink else 0)
        | (INVERSE if pen.inverse else 0)
        | (STRIKE if pen.strikethrough else 0)
    )
    return CellStyle(_color(pen.foreground), _color(pen.background), flags)


def cell_runs(line: Line) -> list[Run]:
    """Group a line's cells into runs of equal pen; the placeholder cell after a wide char is skipped.

    Authoritative but slow (three Python-level calls per cell); `line_runs` is the fast path."""
    runs: list[Run] = []
    chars: list[str] = []
    current_pen: Pen | None = None
    for cell in line.cells:
        if cell.width == 0:
            continue
        pen = cell.pen
        if current_pen is None or pen != current_pen:
            if chars and current_pen is not None:
                runs.append(("".join(chars), _style(current_pen)))
                chars = []
            current_pen = pen
        chars.append(cell.char)
    if chars and current_pen is not None:
        runs.append(("".join(chars), _style(current_pen)))
    return runs


class AvtBackend:
    """Screen state in `avt.Vt`; scrollback is kept by the caller (avt keeps none, limit 0)."""

    name = "avt"

    def __init__(self, cols: int, rows: int) -> None:
        self._vt = Vt(cols, rows, 0)

    @property
    def size(self) -> tuple[int, int]:
        return self._vt.size

    @property
    def cursor(self) -> Cursor:
        cursor = self._vt.cursor
        return Cursor(cursor.row, cursor.col, cursor.visible)

    @property
    def application_cursor(self) -> bool:
        return self._vt.cursor_key_app_mode

    def feed(self, text: str) -> tuple[list[int], list[object]]:
        changed, scrolled = self._vt.feed_str(text)
        return changed, scrolled  # type: ignore[return-value]

    def resize(self, cols: int, rows: int) -> list[object]:
        _changed, scrolled = self._vt.resize(cols, rows)
        return scrolled  # type: ignore[return-value]

    def set_alternate_screen(self, active: bool) -> None:
        """avt implements the alternate screen itself."""

    def row_snapshot(self, row: int) -> RowSnapshot:
        """Keyed by the line's SGR dump, which shows every cell's character and pen."""
        line = self._vt[row]
        dump = repr(line)
        return dump, lambda: dump_runs(line, dump)

    def line(self, row: int) -> object:
        return self._vt[row]

    def line_runs(self, line: object) -> list[Run]:
        return line_runs(cast(Line, line))

    def row_text(self, row: int) -> str:
        return self._vt[row].text.rstrip()

    def line_text(self, line: object) -> str:
        return cast(Line, line).text.rstrip()


def line_runs(line: Line) -> list[Run]:
    """Runs of a line, parsed from its native SGR dump (same result as `cell_runs`, ~5x faster)."""
    return dump_runs(line, repr(line))


def dump_runs(line: Line, text: str) -> list[Run]:
    """Runs of `line` from `text`, its `repr`."""
    return parse_dump(text) if dump_is_exact(line, text) else cell_runs(line)


def dump_is_exact(line: Line, text: str) -> bool:
    """Whether `text`, the `repr` of `line`, shows every cell (`parse_dump` applies), or the cells must be
    walked: a character the dump escapes, or a last cell that looks like the soft-wrap mark."""
    if not (text.startswith(REPR_PREFIX) and text.endswith(REPR_SUFFIX)):
        return False
    body = text[len(REPR_PREFIX) : -len(REPR_SUFFIX)]
    if body.count("\\") != body.count(SGR_ESCAPE):
        return False
    return not (body.endswith(WRAP_MARK) and line[len(line) - 1].char == WRAP_MARK)


def line_entry(line: Line) -> LineEntry:
    """What a parser process ships of a line: its dump, its runs when the dump is not exact, its text."""
    dump = repr(line)
    return dump, None if dump_is_exact(line, dump) else cell_runs(line), line.text.rstrip()
