"""`--ascii`: every drawn line passes through `AsciiFilter`, so nothing but ASCII reaches the terminal.

Our widgets pick ASCII glyphs themselves where meaning matters (state marks, tree guides, badges).
Textual's own widgets (inputs, buttons, checkboxes, selects, scrollbars, toasts, the palette) draw
Unicode borders and arrows that no style switches off; this filter translates whatever is left, cell
for cell, so the layout is unchanged: box lines become `-`, `|` and `+`, `…` (a cut value) becomes `~`,
bars and half blocks become blanks (their colour still draws them), arrows become `^ v < >`, anything
else unknown becomes `?`.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from rich.cells import cell_len
from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

_NAMED = {
    "…": "~",
    "⋯": "~",
    "—": "-",
    "–": "-",
    "‐": "-",
    "·": ".",
    "•": "*",
    "●": "*",
    "◆": "o",
    "○": "o",
    "◌": "~",
    "✖": "x",
    "✕": "x",
    "✓": "v",
    "✔": "v",
    "⚠": "!",
    "⟳": "~",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "\N{NO-BREAK SPACE}": " ",
    "\N{REPLACEMENT CHARACTER}": "?",
}
_ARROWS = {"UP": "^", "DOWN": "v", "LEFT": "<", "RIGHT": ">"}


@lru_cache(maxsize=4096)
def ascii_glyph(char: str) -> str:
    """The ASCII text that takes `char`'s place: as many characters as `char` has cells."""
    if char.isascii():
        return char
    width = cell_len(char)
    if width == 0:
        return ""
    name = unicodedata.name(char, "")
    if char in _NAMED:
        glyph = _NAMED[char]
    elif name.startswith("BOX DRAWINGS"):
        glyph = _box_glyph(name)
    elif name.startswith(("UPPER", "LOWER", "LEFT", "RIGHT", "QUADRANT")) and "BLOCK" in name:
        glyph = " "
    elif name in ("FULL BLOCK", "LIGHT SHADE", "MEDIUM SHADE", "DARK SHADE"):
        glyph = "#"
    elif "ARROW" in name or "TRIANGLE" in name or "POINTER" in name:
        glyph = next((mark for word, mark in _ARROWS.items() if word in name.replace("-", " ").split()), ">")
    else:
        glyph = "?"
    return (glyph * width)[:width] if len(glyph) == 1 else glyph


def _box_glyph(name: str) -> str:
    words = set(name.split())
    across = "HORIZONTAL" in words or bool(words & {"LEFT", "RIGHT"} and not words & {"UP", "DOWN"})
    down = "VERTICAL" in words or bool(words & {"UP", "DOWN"} and not words & {"LEFT", "RIGHT"})
    if across and not down:
        return "-"
    if down and not across:
        return "|"
    return "+"


def to_ascii(text: str) -> str:
    return text if text.isascii() else "".join(ascii_glyph(char) for char in text)


class AsciiFilter(LineFilter):
    """Replaces every non-ASCII character of a line (see the module docstring)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            segment
            if segment.text.isascii()
            else Segment(to_ascii(segment.text), segment.style, segment.control)
            for segment in segments
        ]
