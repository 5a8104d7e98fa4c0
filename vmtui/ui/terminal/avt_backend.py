"""`EmulatorBackend` over asciinema's native `avt` emulator (PyPI `pyavt`)."""

from __future__ import annotations

import avt

from vmtui.ui.terminal.screen_model import (
    BLINK, BOLD, FAINT, INVERSE, ITALIC, STRIKE, UNDERLINE, DEFAULT_STYLE, CellStyle, Color, Cursor, Run,
)


def _color(color: avt.Color | None) -> Color:
    if color is None:
        return None
    if isinstance(color, avt.Color.Indexed):
        return color[0]
    return (color[0], color[1], color[2])


def _style(pen: avt.Pen) -> CellStyle:
    if pen.is_default():
        return DEFAULT_STYLE
    flags = (
        (BOLD if pen.bold else 0) | (FAINT if pen.faint else 0) | (ITALIC if pen.italic else 0)
        | (UNDERLINE if pen.underline else 0) | (BLINK if pen.blink else 0) | (INVERSE if pen.inverse else 0)
        | (STRIKE if pen.strikethrough else 0)
    )
    return CellStyle(_color(pen.foreground), _color(pen.background), flags)


def line_runs(line: avt.Line) -> list[Run]:
    """Group a line's cells into runs of equal pen; the placeholder cell after a wide char is skipped."""
    runs: list[Run] = []
    chars: list[str] = []
    current_pen: avt.Pen | None = None
    for cell in line.cells:
        if cell.width == 0:
            continue
        pen = cell.pen
        if current_pen is None or pen != current_pen:
            if chars:
                runs.append(("".join(chars), _style(current_pen)))  # type: ignore[arg-type]
                chars = []
            current_pen = pen
        chars.append(cell.char)
    if chars:
        runs.append(("".join(chars), _style(current_pen)))  # type: ignore[arg-type]
    return runs


class AvtBackend:
    """Screen state in `avt.Vt`; scrollback is kept by the caller (avt keeps none, limit 0)."""

    name = "avt"

    def __init__(self, cols: int, rows: int) -> None:
        self._vt = avt.Vt(cols, rows, 0)

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

    def row_runs(self, row: int) -> list[Run]:
        return line_runs(self._vt[row])

    def line_runs(self, line: object) -> list[Run]:
        return line_runs(line)  # type: ignore[arg-type]

    def row_text(self, row: int) -> str:
        return self._vt[row].text.rstrip()

    def line_text(self, line: object) -> str:
        return line.text.rstrip()  # type: ignore[attr-defined]
