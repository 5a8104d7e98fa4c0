"""Turn untrusted values into safe, short display text; state glyphs; relative ages."""

from __future__ import annotations

import re

from rich.text import Text

from vmtui.core.models import VmState
from vmtui.core.text import one_line

STATE_GLYPHS: dict[VmState, tuple[str, str]] = {
    VmState.RUNNING: ("●", "*"),
    VmState.BOOTING: ("◌", "~"),
    VmState.PAUSED: ("⏸", "="),
    VmState.SLEEPING: ("☾", "z"),
    VmState.STOPPED: ("○", "o"),
    VmState.DEAD: ("✖", "x"),
    VmState.UNKNOWN: ("?", "?"),
}

STATE_COLOURS: dict[VmState, str] = {
    VmState.RUNNING: "text-success",
    VmState.BOOTING: "text-warning",
    VmState.PAUSED: "text-primary",
    VmState.SLEEPING: "text-secondary",
    VmState.STOPPED: "dim",
    VmState.DEAD: "text-error",
    VmState.UNKNOWN: "dim",
}
"""Theme variable names (never hard-coded colours), so light and dark themes both read well."""

_HEX = re.compile(r"#[0-9A-Fa-f]{6}")


def theme_style(variables: dict[str, str], name: str) -> str:
    """A Rich style for a theme variable name ('dim' passes through; unknown names give no colour)."""
    if name == "dim":
        return "dim"
    value = variables.get(name, "")
    return value if _HEX.fullmatch(value) else ""


def clean(value: object, limit: int = 120) -> str:
    """Printable, single-line text: control characters and escape sequences become '�', long
    values are cut with an ellipsis."""
    return one_line("" if value is None else str(value), limit, placeholder="\N{REPLACEMENT CHARACTER}")


def safe(value: object, style: str = "", limit: int = 120) -> Text:
    return Text(clean(value, limit), style=style, no_wrap=True, overflow="ellipsis")


def state_glyph(state: VmState, ascii_only: bool) -> str:
    unicode_glyph, ascii_glyph = STATE_GLYPHS[state]
    return ascii_glyph if ascii_only else unicode_glyph


def format_age(seconds: float | None) -> str:
    """Compact age: 42s, 5m, 3h, 2d; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_size(size: int | None) -> str:
    """Bytes in binary units: 512 B, 3.2 MiB; 'size unknown' when the API gave none."""
    if size is None:
        return "size unknown"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def short_id(value: str, keep: int = 8) -> str:
    """Long ids (UUIDs) shortened for narrow columns; the full id stays in details and `y`."""
    return value if len(value) <= keep + 4 else value[:keep] + "…"


def clean_lines(text: str, limit: int = 2000) -> list[str]:
    """Command output as safe display lines (each cleaned like `clean`; tabs become spaces)."""
    return [clean(line.expandtabs(), limit) for line in text.splitlines()]
