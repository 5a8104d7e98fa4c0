"""Rows and lines from avt's SGR dumps (`repr(Line)`), without avt: a parser process ships the dumps.

pyavt's `repr(Line)` is Rust's Debug format of the line dumped as text with SGR sequences: the whole line
in one native call. Escape sequences appear as `\\u{1b}[<params>m`; any other backslash means an escaped
character, and such (rare) lines are read cell by cell instead (`avt_backend.dump_is_exact`).
"""

from __future__ import annotations

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
    LineEntry,
    Run,
)

SGR_ESCAPE = "\\u{1b}["
REPR_PREFIX, REPR_SUFFIX = 'Line("', '")'
WRAP_MARK = "\u23ce"
_sgr_styles: dict[str, CellStyle] = {}  # parsed SGR dumps; bounded (truecolor gradients are unbounded)
_MAX_CACHED_STYLES = 4096


def _sgr_color(fields: list[str]) -> Color:
    if fields[1] == "5":
        return int(fields[2])
    return (int(fields[2]), int(fields[3]), int(fields[4]))


def sgr_style(params: str) -> CellStyle:
    """The style an avt SGR dump (e.g. ``0;1;38:5:208;44``) stands for."""
    style = _sgr_styles.get(params)
    if style is not None:
        return style
    fg: Color = None
    bg: Color = None
    flags = 0
    for param in params.split(";"):
        if ":" in param:
            fields = param.split(":")
            if fields[0] == "38":
                fg = _sgr_color(fields)
            elif fields[0] == "48":
                bg = _sgr_color(fields)
        elif param:
            number = int(param)
            if 30 <= number <= 37:
                fg = number - 30
            elif 40 <= number <= 47:
                bg = number - 40
            elif 90 <= number <= 97:
                fg = number - 90 + 8
            elif 100 <= number <= 107:
                bg = number - 100 + 8
            else:
                flags |= _SGR_FLAGS.get(number, 0)
    style = CellStyle(fg, bg, flags) if (fg, bg, flags) != (None, None, 0) else DEFAULT_STYLE
    if len(_sgr_styles) >= _MAX_CACHED_STYLES:
        _sgr_styles.clear()
    _sgr_styles[params] = style
    return style


_SGR_FLAGS = {1: BOLD, 2: FAINT, 3: ITALIC, 4: UNDERLINE, 5: BLINK, 7: INVERSE, 9: STRIKE}


def parse_dump(text: str) -> list[Run]:
    """Runs from a line's `repr` for which `dump_is_exact` holds (no `Line` needed: a parser process
    ships the dumps)."""
    body = text[len(REPR_PREFIX) : -len(REPR_SUFFIX)]
    if body.endswith(WRAP_MARK):  # the dump marks a soft-wrapped line
        body = body[:-1]
    first, *styled = body.split(SGR_ESCAPE)
    runs: list[Run] = [(first, DEFAULT_STYLE)] if first else []
    for part in styled:
        params, _, chars = part.partition("m")
        if not chars:
            continue
        style = _sgr_styles.get(params) or sgr_style(params)
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + chars, style)
        else:
            runs.append((chars, style))
    return runs


def entry_runs(entry: LineEntry) -> list[Run]:
    """The runs of a shipped line."""
    dump, runs, _text = entry
    return parse_dump(dump) if runs is None else runs
