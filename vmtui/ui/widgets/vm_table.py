"""The VM list: a DataTable patched in place from each snapshot (keyed diff, never clear-and-refill)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey

from vmtui.core.models import Vm
from vmtui.services.filter import VmFilter
from vmtui.ui.format import STATE_COLOURS, format_age, safe, short_id, state_glyph, theme_style
from vmtui.ui.widgets.column_fit import ColumnSpec, fit_columns

RowId = tuple[str, str]

MANY_REMOVALS = 16
REBUILD_COST = 500_000
"""Above (removed rows x current rows) this, re-adding the kept rows beats removing one by one."""


def row_key(key: RowId) -> str:
    """DataTable row key for (profile, VM id); NUL cannot appear in either part after cleaning."""
    return f"{key[0]}\0{key[1]}"


def parse_row_key(value: str) -> RowId:
    profile, _, vm_id = value.partition("\0")
    return (profile, vm_id)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    fit: ColumnSpec
    sort_value: Callable[[Vm], object]


COLUMNS: tuple[Column, ...] = (
    Column("provider", "Profile", ColumnSpec("provider", 3, 7, 12), lambda vm: vm.provider),
    Column(
        "name", "Name / id", ColumnSpec("name", 0, 12, 32, essential=True), lambda vm: vm.display_name.lower()
    ),
    Column("state", "State", ColumnSpec("state", 1, 11, 13, essential=True), lambda vm: vm.state.value),
    Column(
        "age",
        "Age",
        ColumnSpec("age", 2, 4, 4, essential=True),
        lambda vm: -(vm.created_at.timestamp() if vm.created_at else 0.0),
    ),
    Column("parent", "Parent", ColumnSpec("parent", 4, 8, 10), lambda vm: vm.parent_commit_id or ""),
    Column("labels", "Labels", ColumnSpec("labels", 5, 10, None), lambda vm: sorted(vm.labels.items())),
)
"""Hidden as the width shrinks: labels, then parent, then profile, then age (`column_fit`)."""


class VmTable(DataTable):
    """Rows keyed by (profile, VM id). `apply()` adds, updates only changed cells, drops gone rows,
    and keeps the cursor on the same VM."""

    BINDINGS: ClassVar[list[BindingType]] = [
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
    ]

    class VmHighlighted(Message):
        def __init__(self, key: RowId | None) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, ascii_only: bool = False, now: Callable[[], float], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.ascii_only = ascii_only
        self.now = now
        self.vms: dict[RowId, Vm] = {}
        self.pending: dict[RowId, str] = {}
        self.filter = VmFilter()
        self.sort_column = "age"
        self.sort_reverse = False
        self._cells: dict[RowId, tuple[Text, ...]] = {}
        self._drawn: dict[RowId, tuple[Vm, str | None, str]] = {}
        """What each row's cells were drawn from (VM object, badge, age text): unchanged rows are skipped."""
        self._colours: dict[str, str] = {}
        self._announced: RowId | None = None

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=column.fit.min_width)
        self.fit_columns()
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._colours = self.app.get_css_variables()

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Size the columns to the width (hiding the least important ones): nothing scrolls sideways."""
        widths = fit_columns([column.fit for column in COLUMNS], self.scrollable_content_region.width)
        for column in COLUMNS:
            shown = self.columns[ColumnKey(column.key)]
            shown.auto_width = False
            shown.width = widths[column.key]
            shown.label = Text(column.label if widths[column.key] else "", no_wrap=True, overflow="crop")
        self._require_update_dimensions = True
        self.refresh()

    def _on_theme_changed(self, _theme: object) -> None:
        self._colours = self.app.get_css_variables()
        self._drawn.clear()
        self.refresh_rows()

    @property
    def selected_key(self) -> RowId | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:  # cursor outside the table while rows change
            return None
        return parse_row_key(key.value) if key.value is not None else None

    @property
    def selected_vm(self) -> Vm | None:
        key = self.selected_key
        return self.vms.get(key) if key else None

    def visible_keys(self) -> list[RowId]:
        """The rows on screen now, top to bottom (the lineage stream fetches these early)."""
        first = int(self.scroll_y)
        rows = self.ordered_rows[first : first + self.scrollable_content_region.height]
        return [parse_row_key(str(row.key.value)) for row in rows]

    def select(self, key: RowId) -> bool:
        """Move the cursor to a VM's row; False when it is not shown (filtered out or gone)."""
        if key not in self._cells:
            return False
        self._restore_cursor(key)
        return True

    def set_fleet(self, vms: Iterable[Vm]) -> None:
        self.vms = {vm.key: vm for vm in vms}
        self.refresh_rows()

    def set_filter(self, vm_filter: VmFilter) -> None:
        self.filter = vm_filter
        self.refresh_rows()

    def set_pending(self, pending: dict[RowId, str]) -> None:
        self.pending = dict(pending)
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """Bring the table to `self.vms` (filtered) by patching only what differs.

        Rows are added, updated cell by cell, or removed. DataTable.remove_row costs O(rows), so
        when very many rows go at once (a narrowing filter) the table is emptied and the remaining
        rows re-added from their cached cells instead."""
        keep = self.selected_key
        wanted = {key: vm for key, vm in self.vms.items() if self.filter.matches(vm)}
        gone = [key for key in self._cells if key not in wanted]
        added = False
        with self.app.batch_update():
            if len(gone) > MANY_REMOVALS and len(gone) * len(self._cells) > REBUILD_COST:
                self.clear()
                in_table: dict[RowId, tuple[Text, ...]] = {}
            else:
                for key in gone:
                    self.remove_row(row_key(key))
                in_table = self._cells
            for key in gone:
                del self._cells[key]
                self._drawn.pop(key, None)
            for key, vm in wanted.items():
                source = (vm, self.pending.get(key), self._age_text(vm))
                drawn = self._drawn.get(key)
                unchanged = drawn is not None and drawn[0] is vm and drawn[1:] == source[1:]
                cells = self._cells[key] if unchanged else self._render_cells(vm)
                shown = in_table.get(key)
                if shown is None:
                    self.add_row(*cells, key=row_key(key))
                    added = True
                elif not unchanged:
                    for column, old, new in zip(COLUMNS, shown, cells, strict=True):
                        if old != new:
                            self.update_cell(row_key(key), column.key, new)
                self._cells[key] = cells
                self._drawn[key] = source
            if added:
                self._sort_rows()
            self._restore_cursor(keep)
        self._announce()

    def _announce(self) -> None:
        """Tell the screen when the VM under the cursor changed without a cursor move (rows sorted,
        added or removed around it)."""
        key = self.selected_key
        if key != self._announced:
            self._announced = key
            self.post_message(self.VmHighlighted(key))

    def _restore_cursor(self, key: RowId | None) -> None:
        if key is not None and key in self._cells:
            index = self.get_row_index(row_key(key))
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def _render_cells(self, vm: Vm) -> tuple[Text, ...]:
        colour = theme_style(self._colours, STATE_COLOURS[vm.state])
        state = Text(f"{state_glyph(vm.state, self.ascii_only)} {vm.state.value}", style=colour, no_wrap=True)
        badge = self.pending.get(vm.key)
        if badge:
            state = Text(
                f"{'..' if self.ascii_only else '⟳'} {badge}",
                style=f"bold {theme_style(self._colours, 'text-warning')}",
            )
        labels = ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items()))
        cells = (
            safe(vm.provider, limit=20),
            safe(vm.id if vm.display_name == vm.id else f"{vm.display_name} ({short_id(vm.id)})", limit=60),
            state,
            Text(self._age_text(vm)),
            safe(short_id(vm.parent_commit_id) if vm.parent_commit_id else "-"),
            safe(labels, limit=200),
        )
        for cell in cells:  # one line per row; a long value ends in an ellipsis ("~" with --ascii)
            cell.no_wrap = True
            cell.overflow = "crop" if self.ascii_only else "ellipsis"
        return cells

    def _age_text(self, vm: Vm) -> str:
        return format_age(None if vm.created_at is None else self.now() - vm.created_at.timestamp())

    def _sort_rows(self) -> None:
        """Order rows by the sort column's VM value. DataTable.sort only hands the key function the
        cell values, so the row keys are paired up in the same order (sorted() calls the key once per
        row, in input order)."""
        column = next(c for c in COLUMNS if c.key == self.sort_column)
        row_keys = iter(list(self.rows))

        def vm_order(_cells: object) -> tuple[object, RowId]:
            key = parse_row_key(str(next(row_keys).value))
            return (column.sort_value(self.vms[key]), key)

        self.sort(key=vm_order, reverse=self.sort_reverse)

    def sort_by(self, column_key: str, reverse: bool | None = None) -> None:
        keep = self.selected_key
        if reverse is None:
            reverse = not self.sort_reverse if column_key == self.sort_column else False
        self.sort_column, self.sort_reverse = column_key, reverse
        self._sort_rows()
        self._restore_cursor(keep)
        self._announce()

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)], reverse=False)
        self.notify(f"Sorted by {self.sort_column}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()
