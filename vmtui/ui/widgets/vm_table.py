"""The VM list: a Line-API table drawing only the visible lines over a sorted index of rows.

`VmIndex` (services) keeps which VMs pass the filter in sort order; this widget renders the header
and the rows on screen from it (`render_line`), so 100,000 VMs cost what a screenful costs. The
cursor follows its VM through snapshots, sorts and filters; marked rows (Space) survive snapshots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vmtui.core.models import Vm
from vmtui.core.vm_order import SORT_VALUES, SortValue
from vmtui.services.filter import VmFilter
from vmtui.services.vm_index import RowId, VmIndex
from vmtui.ui.format import STATE_COLOURS, format_age, safe, short_id, state_glyph, theme_style
from vmtui.ui.widgets.column_fit import ColumnSpec, fit_columns


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    fit: ColumnSpec
    sort_value: SortValue
    """Computed once per VM change (`vmtui.core.vm_order`: the provider orders raw items by it too)."""
    sort_key: str
    """Shift+letter sorting by this column (again: reversed), as in k9s."""


COLUMNS: tuple[Column, ...] = (
    Column("provider", "Profile", ColumnSpec("provider", 3, 7, 12), SORT_VALUES["provider"], "R"),
    Column("name", "Name / id", ColumnSpec("name", 0, 12, 32, essential=True), SORT_VALUES["name"], "N"),
    Column("state", "State", ColumnSpec("state", 1, 11, 13, essential=True), SORT_VALUES["state"], "T"),
    Column("age", "Age", ColumnSpec("age", 2, 5, 5, essential=True), SORT_VALUES["age"], "A"),
    Column("parent", "Parent", ColumnSpec("parent", 4, 8, 10), SORT_VALUES["parent"], "C"),
    Column("labels", "Labels", ColumnSpec("labels", 5, 10, None), SORT_VALUES["labels"], "B"),
)
"""Hidden as the width shrinks: labels, then parent, then profile, then age (`column_fit`)."""

STRIP_CACHE = 1024
"""Rendered rows kept: a few screens' worth."""

WARM_UP_SLICE = 2_000
"""VMs whose search text (or one column's sort values) one turn of the warm-up builds: ~10 ms."""


class VmTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows keyed by (profile, VM id). `set_fleet()` takes a snapshot: only new and changed rows are
    re-measured and re-drawn, and the cursor stays on the same VM."""

    DEFAULT_CSS = """
    VmTable {
        width: 1fr;
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .vm-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .vm-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .vm-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .vm-table--marked { color: $text-accent; text-style: bold; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"vm-table--header", "vm-table--cursor", "vm-table--marked"}
    FIRST_ORDER: ClassVar[tuple[str, bool]] = ("age", False)
    """The order a new table starts in (column key, reversed): the newest VMs first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_top", "First", show=False, id="list.first", tooltip="Go to the first row"),
        Binding("end", "scroll_bottom", "Last", show=False, id="list.last", tooltip="Go to the last row"),
        Binding(
            "o",
            "cycle_sort",
            "Order by",
            show=False,
            id="list.sort",
            tooltip="Sort by the next column (click a header too)",
        ),
        Binding(
            "O",
            "reverse_sort",
            "Reverse order",
            show=False,
            id="list.sort_reverse",
            tooltip="Reverse the sort order",
        ),
        *(
            Binding(
                column.sort_key,
                f"sort_column({column.key!r})",
                f"Sort: {column.label}",
                show=False,
                id=f"list.sort_{column.key}",
                tooltip=f"Sort by {column.label} (again: reverse)",
            )
            for column in COLUMNS
        ),
    ]

    class VmHighlighted(Message):
        def __init__(self, key: RowId | None) -> None:
            super().__init__()
            self.key = key

    class RowSelected(Message):
        """A click on the row under the cursor (Enter is the screen's key): the screen describes it."""

        def __init__(self, key: RowId) -> None:
            super().__init__()
            self.key = key

    class MarksChanged(Message):
        """The set of marked VMs changed (the status bar counts them)."""

    class RowsLoaded(Message):
        """More of a big list is in the table (it is indexed a slice at a time; `loading` tells how
        many VMs are still to come)."""

    def __init__(self, *, ascii_only: bool = False, now: Callable[[], float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.ascii_only = ascii_only
        self.now = now
        self.index = VmIndex({column.key: column.sort_value for column in COLUMNS}, self.FIRST_ORDER[0])
        self.index.sort_by(*self.FIRST_ORDER)
        self.pending: dict[RowId, str] = {}
        self.marked: set[RowId] = set()
        self.cursor_row = 0
        self._cells: dict[RowId, tuple[tuple[Vm, str | None, str], tuple[Text, ...]]] = {}
        """Each drawn row's cells and what they were drawn from (VM, badge, age text)."""
        self._strips: LRUCache[tuple[RowId, bool], Strip] = LRUCache(STRIP_CACHE)
        """Rendered rows (with the cursor or not) of the current look: cleared by any change."""
        self._widths: dict[str, int] = {}
        self._fitted_for = -1
        self._colours: dict[str, str] = {}
        self._frame_look: tuple[int, Style] | None = None
        """The width and base style every line of the frame being drawn shares (`render_lines`)."""
        self._announced: RowId | None = None
        self._warming = False
        self._after_rows_drawn: list[Callable[[], object]] = []
        """Called once a frame drew rows (`after_rows_drawn`)."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._colours = self.app.get_css_variables()
        self._resized()

    # ------------------------------------------------------------------ state the screen reads

    @property
    def vms(self) -> dict[RowId, Vm]:
        return self.index.vms

    @property
    def filter(self) -> VmFilter:
        return self.index.filter

    @property
    def sort_column(self) -> str:
        return self.index.sort_column

    @property
    def sort_reverse(self) -> bool:
        return self.index.sort_reverse

    @property
    def row_count(self) -> int:
        return len(self.index)

    @property
    def selected_key(self) -> RowId | None:
        if not self.row_count:
            return None
        return self.index.key_at(min(self.cursor_row, self.row_count - 1))

    @property
    def selected_vm(self) -> Vm | None:
        key = self.selected_key
        return self.vms.get(key) if key else None

    @property
    def marked_vms(self) -> list[Vm]:
        """The marked VMs in the table's order (those the filter hides last)."""
        shown: list[tuple[int, Vm]] = []
        hidden: list[Vm] = []
        for key in self.marked:
            position = self.index.position(key)
            if position is None:
                hidden.append(self.vms[key])
            else:
                shown.append((position, self.vms[key]))
        return [vm for _, vm in sorted(shown, key=lambda item: item[0])] + sorted(
            hidden, key=lambda vm: vm.key
        )

    def row_keys(self) -> list[RowId]:
        """Every shown key, top to bottom."""
        return self.index.keys()

    def cells(self, key: RowId) -> tuple[Text, ...]:
        """The cells drawn for a listed VM's row, one per column."""
        return self._cells_for(key)

    def visible_keys(self) -> list[RowId]:
        """The rows on screen now, top to bottom (the lineage stream fetches these early)."""
        first = round(self.scroll_y)
        return self.index.keys(first, first + self._page_height())

    # ------------------------------------------------------------------ changes

    def set_fleet(self, vms: Iterable[Vm]) -> None:
        keep = self.selected_key
        changed = self.index.apply(vms)
        gone = [key for key in self._cells if key not in self.index.vms]
        for key in gone:
            del self._cells[key]
        if self.marked - self.index.vms.keys():
            self.marked &= self.index.vms.keys()
            self.post_message(self.MarksChanged())
        if changed or gone:
            self._rows_changed(keep)
            self._warm_up_soon()
        else:
            self._redraw()  # ages move on

    def refresh_ages(self) -> None:
        """Redraw the rows on screen whose age text moved on since they were drawn (the screen calls this
        every second; while no shown age changes it draws nothing)."""
        top = round(self.scroll_y)
        for offset, key in enumerate(self.visible_keys()):
            drawn = self._cells.get(key)
            if drawn is not None and drawn[0][2] != self._age_text(self.vms[key]):
                self._strips.discard((key, False))
                self._strips.discard((key, True))
                self.refresh_line(top + offset + 1)  # line 0 is the header

    @property
    def loading(self) -> int:
        """Listed VMs not in the table yet (a big first list is indexed a slice at a time)."""
        return self.index.loading

    def _warm_up_soon(self) -> None:
        """After the next frame (which shows the first rows), a slice per turn of the event loop: index
        the VMs of a big list still loading, then build the search text and the shown columns' sort
        values, so the first filter or sort at 100,000 VMs costs what a later one does."""
        if not self._warming:
            self._warming = True
            self.call_after_refresh(self._warm_up)

    @work(group="vm-table-warm-up", exit_on_error=False)
    async def _warm_up(self) -> None:
        """Slices with the event loop turning in between (a chain of `call_later` would not let it:
        a widget runs the callbacks queued to it back to back)."""
        try:
            while not self._warm_up_slice():
                await asyncio.sleep(0)
        finally:
            self._warming = False

    def _warm_up_slice(self) -> bool:
        """One slice of loading or warm-up; True when nothing is left."""
        if self.index.loading:
            keep = self.selected_key
            if self.index.load():
                self._rows_changed(keep)
            self.post_message(self.RowsLoaded())
            return False
        shown = [column.key for column in COLUMNS if self._widths.get(column.key)]
        return self.index.warm_up(shown, WARM_UP_SLICE)

    def set_filter(self, vm_filter: VmFilter) -> None:
        keep = self.selected_key
        self.index.set_filter(vm_filter)
        self._rows_changed(keep)

    def set_pending(self, pending: dict[RowId, str]) -> None:
        self.pending = dict(pending)
        self._redraw()

    def sort_by(self, column_key: str, reverse: bool | None = None) -> None:
        keep = self.selected_key
        if reverse is None:
            reverse = not self.sort_reverse if column_key == self.sort_column else False
        self.index.sort_by(column_key, reverse)
        self._rows_changed(keep)

    def select(self, key: RowId) -> bool:
        """Move the cursor to a VM's row; False when it is not shown (filtered out or gone)."""
        position = self.index.position(key)
        if position is None:
            return False
        self.move_cursor(position)
        return True

    def move_cursor(self, row: int) -> None:
        self.cursor_row = max(0, min(row, self.row_count - 1))
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _rows_changed(self, keep: RowId | None) -> None:
        self.virtual_size = Size(0, self.row_count + 1)
        position = self.index.position(keep) if keep is not None else None
        if position is not None:
            self.cursor_row = position
        self.cursor_row = max(0, min(self.cursor_row, self.row_count - 1))
        self._scroll_to_cursor()
        self._redraw()
        self._announce()

    def _redraw(self) -> None:
        self._strips.clear()
        self.refresh()

    def _announce(self) -> None:
        """Tell the screen when the VM under the cursor changed (a move, or rows sorted, added or
        removed around it)."""
        key = self.selected_key
        if key != self._announced:
            self._announced = key
            self.post_message(self.VmHighlighted(key))

    # ------------------------------------------------------------------ marks

    def toggle_mark(self) -> None:
        key = self.selected_key
        if key is not None:
            self.marked ^= {key}
            self._marks_changed()
            self.move_cursor(self.cursor_row + 1)

    def mark_all(self) -> None:
        """Mark every shown row (the filter's result)."""
        self.marked |= set(self.index.keys())
        self._marks_changed()

    def mark_none(self) -> None:
        self.marked.clear()
        self._marks_changed()

    def invert_marks(self) -> None:
        """Marked shown rows lose their mark, the other shown rows get one."""
        self.marked ^= set(self.index.keys())
        self._marks_changed()

    def _marks_changed(self) -> None:
        self._redraw()
        self.post_message(self.MarksChanged())

    # ------------------------------------------------------------------ keys and mouse

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page_height())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page_height())

    def action_scroll_top(self) -> None:
        self.move_cursor(0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_cycle_sort(self) -> None:
        keys = [column.key for column in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)], reverse=False)
        self.notify(f"Sorted by {self.sort_column}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def action_sort_column(self, column_key: str) -> None:
        self.sort_by(column_key)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None:
                self.sort_by(column)
            return
        row = round(self.scroll_y) + offset.y - 1
        if row >= self.row_count:
            return
        if row == self.cursor_row:
            self.post_message(self.RowSelected(self.index.key_at(row)))
        else:
            self.move_cursor(row)

    def _column_at(self, x: int) -> str | None:
        right = 0
        for column in COLUMNS:
            width = self._widths.get(column.key, 0)
            if width:
                right += width + 2
                if x < right:
                    return column.key
        return None

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top, height = round(self.scroll_y), self._page_height()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True)

    # ------------------------------------------------------------------ drawing

    def on_resize(self) -> None:
        self._resized()

    def on_focus(self) -> None:
        self._redraw()  # the cursor's colour follows the focus

    def on_blur(self) -> None:
        self._redraw()

    def _resized(self) -> None:
        self.virtual_size = Size(0, self.row_count + 1)
        self._fit()

    def _fit(self) -> None:
        """Size the columns to the width (hiding the least important ones): nothing scrolls sideways."""
        width = self.scrollable_content_region.width
        if width != self._fitted_for:
            self._fitted_for = width
            self._widths = fit_columns([column.fit for column in COLUMNS], width)
            self._redraw()

    def _on_theme_changed(self, _theme: object) -> None:
        self._colours = self.app.get_css_variables()
        self._cells.clear()
        self._redraw()

    def after_rows_drawn(self, callback: Callable[[], object]) -> None:
        """Call `callback` once a frame drew the rows the table holds now (at once after the next
        refresh when it holds none). The screen's own `call_after_refresh` can come before that frame:
        the table's repaint is asked for on its own turn of the loop, after the screen went idle."""
        if self.row_count:
            self._after_rows_drawn.append(callback)
        else:
            self.call_after_refresh(callback)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines of a frame share the width and the base style: worked out once per frame (the base
        style walks every ancestor's styles), not once per line."""
        self._frame_look = self._look()
        try:
            return super().render_lines(crop)
        finally:
            self._frame_look = None
            if self._after_rows_drawn and self.row_count:
                drawn, self._after_rows_drawn = self._after_rows_drawn, []
                for callback in drawn:
                    self.call_next(callback)

    def _look(self) -> tuple[int, Style]:
        self._fit()
        return self.scrollable_content_region.width, self.rich_style

    def render_line(self, y: int) -> Strip:
        width, base = self._frame_look or self._look()
        if y == 0:
            header = self.get_component_rich_style("vm-table--header")
            return self._strip(self._header_text(), width, base + header)
        row = round(self.scroll_y) + y - 1
        if row >= self.row_count:
            return Strip([Segment(" " * width, base)], width)
        key = self.index.key_at(row)
        cursor = row == self.cursor_row
        strip = self._strips.get((key, cursor))
        if strip is None:
            style = base
            if key in self.marked:
                style += self.get_component_rich_style("vm-table--marked")
            if cursor:
                style += self.get_component_rich_style("vm-table--cursor")
            strip = self._strip(self._row_text(key), width, style)
            self._strips[(key, cursor)] = strip
        return strip

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments = list(text.render(self.app.console))
        return Strip(segments).extend_cell_length(width).crop(0, width).apply_style(style)

    def _header_text(self) -> Text:
        arrows = ("^", "v") if self.ascii_only else ("▲", "▼")
        text = Text(no_wrap=True, end="")
        for column in COLUMNS:
            width = self._widths.get(column.key, 0)
            label = Text(column.label)
            if column.key == self.sort_column:  # the arrow stays visible however narrow the column
                label.truncate(max(width - 2, 0), overflow="crop" if self.ascii_only else "ellipsis")
                label.append(f" {arrows[self.sort_reverse]}")
            self._append_cell(text, label, width)
        return text

    def _row_text(self, key: RowId) -> Text:
        """The row's cells; a marked row shows its mark in the first cell's left padding."""
        text = Text(no_wrap=True, end="")
        for column, cell in zip(COLUMNS, self._cells_for(key), strict=True):
            self._append_cell(text, cell, self._widths.get(column.key, 0))
        if key in self.marked and text:
            mark = Text("*" if self.ascii_only else "●", style="bold")
            text = Text.assemble(mark, text[1:], no_wrap=True, end="")
        return text

    def _append_cell(self, line: Text, cell: Text, width: int) -> None:
        """One cell padded by a space each side; a long value ends in an ellipsis (is cut with --ascii)."""
        if not width:
            return
        shown = cell.copy()
        shown.truncate(width, overflow="crop" if self.ascii_only else "ellipsis", pad=True)
        line.append(" ")
        line.append_text(shown)
        line.append(" ")

    def _cells_for(self, key: RowId) -> tuple[Text, ...]:
        vm = self.vms[key]
        source = (vm, self.pending.get(key), self._age_text(vm))
        drawn = self._cells.get(key)
        if drawn is not None and drawn[0] == source:  # the same VM object, or an equal one
            return drawn[1]
        cells = self._render_cells(vm, source[1])
        self._cells[key] = (source, cells)
        return cells

    def _render_cells(self, vm: Vm, badge: str | None) -> tuple[Text, ...]:
        colour = theme_style(self._colours, STATE_COLOURS[vm.state])
        state = Text(f"{state_glyph(vm.state, self.ascii_only)} {vm.state.value}", style=colour)
        if badge:
            state = Text(
                f"{'..' if self.ascii_only else '⟳'} {badge}",
                style=f"bold {theme_style(self._colours, 'text-warning')}",
            )
        labels = ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items()))
        return (
            safe(vm.provider, limit=20),
            safe(vm.id if vm.display_name == vm.id else f"{vm.display_name} ({short_id(vm.id)})", limit=60),
            state,
            Text(self._age_text(vm)),
            safe(short_id(vm.parent_commit_id) if vm.parent_commit_id else "-"),
            safe(labels, limit=200),
        )

    def _age_text(self, vm: Vm) -> str:
        return format_age(None if vm.created_at is None else self.now() - vm.created_at.timestamp())
