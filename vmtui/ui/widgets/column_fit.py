"""Fitting the VM list's columns to the pane's width: no sideways scroll, ever.

Essential columns are taken most important first at their minimum widths; optional columns join only
when every essential one has its preferred width and they fit at their own minimum; the rest are hidden. The room is then handed out by importance (a column with no preferred width takes whatever remains). Cells longer than
their column end in an ellipsis (`VmTable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CELL_PADDING = 2
"""The VM table pads each cell by one on both sides; the fit also counts this for hidden columns."""


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    priority: int
    """0 is the most important; the highest number is hidden first."""
    min_width: int
    width: int | None
    """Preferred width; None takes the room left over."""
    essential: bool = False
    """Shown at its minimum width if need be; the others only once the essential ones have their
    preferred width."""


def fit_columns(specs: Sequence[ColumnSpec], available: int) -> dict[str, int]:
    """Width of each column (0: hidden) so that all of them, padding included, fit in `available`."""
    ordered = sorted(specs, key=lambda spec: spec.priority)
    shown: list[ColumnSpec] = []
    used = len(specs) * CELL_PADDING
    for spec in (s for s in ordered if s.essential):
        if shown and used + spec.min_width > available:
            break
        shown.append(spec)
        used += spec.min_width
    if len(shown) == sum(s.essential for s in specs):  # optional ones join once the essentials are roomy
        used = len(specs) * CELL_PADDING + sum(spec.width or spec.min_width for spec in shown)
        for spec in (s for s in ordered if not s.essential):
            if used + spec.min_width > available:
                break
            shown.append(spec)
            used += spec.min_width
    widths = {spec.key: 0 for spec in specs}
    spare = available - len(specs) * CELL_PADDING
    for spec in shown:
        widths[spec.key] = spec.min_width
        spare -= spec.min_width
    for spec in (s for s in shown if s.width is not None):
        extra = min(max(spare, 0), spec.width - spec.min_width)
        widths[spec.key] += extra
        spare -= extra
    for spec in (s for s in shown if s.width is None):
        widths[spec.key] += max(spare, 0)
        spare = 0
    return widths
