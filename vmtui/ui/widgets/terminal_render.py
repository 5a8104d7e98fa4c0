"""Rich strips for the terminal pane: emulator runs -> cached `Strip`s, plus the overlays drawn on top.

Colours: the 16 ANSI colours follow the app theme's terminal palette (Textual's ANSI-to-truecolor filter
maps them, once per style: `StripCache`), so the pane matches the rest of the UI in dark and light themes;
256-colour and truecolour values are drawn exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.filter import ANSIToTruecolor
from textual.strip import Strip

from vmtui.terminal.modes import CursorShape
from vmtui.terminal.screen_model import (
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

CURSOR_STYLES = {
    CursorShape.BLOCK: Style(reverse=True),
    CursorShape.UNDERLINE: Style(underline=True),
    CursorShape.BAR: Style(underline2=True, bold=True),  # a cell grid cannot draw a bar; keep it distinct
}


def _rich_color(color: Color) -> RichColor | None:
    if color is None:
        return None
    if isinstance(color, int):
        return RichColor.from_ansi(color)
    return RichColor.from_rgb(*color)


def rich_style(style: CellStyle) -> Style:
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


def overlay(strip: Strip, start: int, end: int, style: Style) -> Strip:
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


def with_marker(strip: Strip, marker: str, style: Style) -> Strip:
    """`strip` with `marker` at its right end (unless it does not fit)."""
    width = strip.cell_length
    if len(marker) >= width:
        return strip
    left = strip.crop(0, width - len(marker))
    return Strip.join([left, Strip([Segment(marker, style)], len(marker))])


class StripCache:
    """Strips of rows and scrollback lines, keyed by what they show; styles converted once each.

    Textual's ANSI-to-truecolor filter (the theme's terminal palette; on unless the theme uses the
    terminal's own colours) would rebuild every segment of every new line on every frame; the pane
    leaves it out of its filters (`TerminalDisplay.get_line_filters`) and its styles go through the
    same filter here instead, once per style."""

    def __init__(self) -> None:
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._styles: dict[CellStyle, Style] = {}
        self.base: Style | None = None  # the pane's own style, under every cell
        self._colours: tuple[object, ...] | None = None  # what styles were converted for
        self._convert: Callable[[Style], Style] = _unchanged

    def use_colours(self, base: Style, truecolor: ANSIToTruecolor | None, background: RichColor) -> None:
        """Draw on `base` and through `truecolor` (None: the theme draws ANSI colours natively): if
        either changed (CSS, theme), every cached style and strip is rebuilt."""
        colours = (base, truecolor, truecolor is not None and truecolor.enabled, background)
        if colours == self._colours:
            return
        self._colours = colours
        self._styles.clear()
        self._strips.clear()
        if truecolor is None:
            self._convert = _unchanged
            self.base = base
        else:
            self._convert = lambda style: truecolor.truecolor_style(style, background)
            self.base = self._convert(base)

    def forget_colours(self) -> None:
        """CSS or theme changed: the next frame converts styles again."""
        self._colours = None
        self.base = None

    def clear(self) -> None:
        self._strips.clear()

    def strip(self, key: tuple[object, ...], runs: Callable[[], list[Run]], width: int) -> Strip:
        """The cached strip for `key`, built from `runs()` if missing."""
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._build(runs(), width)
        return strip

    def _build(self, runs: list[Run], width: int) -> Strip:
        """The strip of `runs`, `width` cells long, measured as it is built: an ASCII run is one cell per
        character, so Rich's per-segment width lookup runs only for other text (it was a quarter of a
        flood frame's row cost). Padded here, not by `adjust_cell_length`: one `Strip` per row, not two."""
        base = self.base or Style()
        styles = self._styles
        segments = []
        cells = 0
        for text, cell_style in runs:
            style = styles.get(cell_style)
            if style is None:
                style = styles[cell_style] = self._convert(base + rich_style(cell_style))
            segments.append(Segment(text, style))
            cells += len(text) if text.isascii() else cell_len(text)
        if cells > width:
            return Strip(segments, cells).adjust_cell_length(width, base)
        if cells < width:
            segments.append(Segment(" " * (width - cells), base))
        return Strip(segments, width)


def _unchanged(style: Style) -> Style:
    return style
