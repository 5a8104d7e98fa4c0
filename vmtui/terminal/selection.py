"""A text selection over scrollback + screen, in absolute line numbers (stable while output scrolls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len


@dataclass(frozen=True, slots=True)
class Point:
    """A cell in absolute line numbering (stable while scrollback grows and is trimmed)."""

    line: int
    col: int


def column_slice(text: str, start: int, end: int | None) -> str:
    """The characters of `text` covering cells [start, end)."""
    out: list[str] = []
    position = 0
    for char in text:
        width = cell_len(char)
        if position >= start and (end is None or position + width <= end):
            out.append(char)
        position += width
    return "".join(out)


class Selection:
    """From an anchor to a head point, by character or by whole lines (scroll mode's ``v``)."""

    def __init__(self) -> None:
        self.anchor: Point | None = None
        self.head: Point | None = None
        self.whole_lines = False

    def start(self, point: Point, *, whole_lines: bool = False) -> None:
        self.anchor = self.head = point
        self.whole_lines = whole_lines

    def extend(self, point: Point) -> bool:
        """Move the head; True if it moved."""
        if self.anchor is None or point == self.head:
            return False
        self.head = point
        return True

    def clear(self) -> None:
        self.anchor = self.head = None
        self.whole_lines = False

    @property
    def started(self) -> bool:
        return self.anchor is not None

    def ordered(self) -> tuple[Point, Point] | None:
        """First and last point, or None if nothing is selected (a click without a drag)."""
        if self.anchor is None or self.head is None:
            return None
        first, last = sorted((self.anchor, self.head), key=lambda p: (p.line, p.col))
        if first == last and not self.whole_lines:
            return None
        return first, last

    def span(self, line: int, width: int) -> tuple[int, int] | None:
        """The selected cells [start, end) of absolute `line`, None if the line is not selected."""
        ordered = self.ordered()
        if ordered is None:
            return None
        first, last = ordered
        if not first.line <= line <= last.line:
            return None
        if self.whole_lines:
            return 0, width
        start = first.col if line == first.line else 0
        end = last.col + 1 if line == last.line else width
        return start, end

    def text(self, line_text: Callable[[int], str | None]) -> str:
        """The selected text, lines joined with newlines, trailing blanks removed.

        `line_text(absolute)` is the text of a line, None once it left the scrollback."""
        ordered = self.ordered()
        if ordered is None:
            return ""
        first, last = ordered
        lines = []
        for line in range(first.line, last.line + 1):
            text = line_text(line)
            if text is None:
                continue
            if not self.whole_lines:
                start = first.col if line == first.line else 0
                end = last.col + 1 if line == last.line else None
                text = column_slice(text, start, end)
            lines.append(text.rstrip())
        return "\n".join(lines)
