"""Backend-neutral screen data shared by the emulator backends and the widget."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

# A colour: None (terminal default), 0-255 (palette index) or (r, g, b).
Color = int | tuple[int, int, int] | None

BOLD, FAINT, ITALIC, UNDERLINE, BLINK, INVERSE, STRIKE = 1, 2, 4, 8, 16, 32, 64


class CellStyle(NamedTuple):
    """Hashable cell attributes, the key of the widget's Rich style cache (a tuple: hashed and compared in
    C, once per run of every row drawn)."""

    fg: Color = None
    bg: Color = None
    flags: int = 0


DEFAULT_STYLE = CellStyle()

# A run of cells with one style. Each character occupies one cell, except wide characters (two cells).
Run = tuple[str, CellStyle]

# What a screen row showed when taken: a key equal for equal content (so a line that moved up as the
# screen scrolled finds the strip drawn for it before), and its runs as they were then, computed only
# when asked.
RowSnapshot = tuple[Hashable, Callable[[], list[Run]]]

# A line as a parser process ships it: a key equal for equal content (avt's SGR dump), its runs if they
# cannot be read off the key, and its text (trailing blanks removed).
LineEntry = tuple[str, list[Run] | None, str]


@dataclass(frozen=True, slots=True)
class Cursor:
    row: int
    col: int
    visible: bool


class EmulatorBackend(Protocol):
    """What `TerminalEmulator` needs from a VT engine (avt or pyte)."""

    name: str

    @property
    def size(self) -> tuple[int, int]:
        """(cols, rows)."""

    @property
    def cursor(self) -> Cursor: ...

    @property
    def application_cursor(self) -> bool:
        """DECCKM: cursor keys send SS3 sequences."""

    def feed(self, text: str) -> tuple[list[int], list[object]]:
        """Parse text; return (changed screen rows, lines scrolled off the top of the primary screen)."""

    def resize(self, cols: int, rows: int) -> list[object]:
        """Resize; return the lines pushed off the top."""

    def set_alternate_screen(self, active: bool) -> None:
        """Called at the exact stream position of a 47/1047/1049 switch (for engines without one)."""

    def row_snapshot(self, row: int) -> RowSnapshot: ...

    def line(self, row: int) -> object:
        """Screen row `row` as the engine holds it (what `line_runs` and `line_text` take)."""

    def line_runs(self, line: object) -> list[Run]:
        """Runs of a line previously returned as scrolled off."""

    def row_text(self, row: int) -> str: ...

    def line_text(self, line: object) -> str: ...
