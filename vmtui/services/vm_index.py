"""The VM list's rows as an index: which VMs pass the filter, in sort order. Pure: no I/O, no Textual.

The table (`vmtui.ui.widgets.vm_table`) draws only the lines on screen, each looked up here by
position. `order` holds the shown keys ascending by (sort value, key); a reversed sort reads it from
the end, so reversing costs nothing. Each row's sort values, search text and filter result are
cached, so a snapshot that changes 1 % of the rows recomputes 1 % and moves only those (bisect).
"""

from __future__ import annotations

import gc
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vmtui.core.models import Vm
from vmtui.services.filter import VmFilter, search_text

RowId = tuple[str, str]
"""(profile, VM id)."""

SortValue = Callable[[Vm], Any]
"""A comparable value (all of one column's values compare with each other)."""

RESORT_SHARE = 0.05
"""When more than this share of the rows changed, one full sort beats moving each changed row."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a bulk step builds ~n containers without cycles: a collection in
    the middle would walk every VM object held (about a third of the time at 100,000 VMs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class VmIndex:
    def __init__(self, sort_values: Mapping[str, SortValue], sort_column: str) -> None:
        self.sort_values = dict(sort_values)
        self.sort_column = sort_column
        self.sort_reverse = False
        self.filter = VmFilter()
        self.vms: dict[RowId, Vm] = {}
        self.order: list[RowId] = []
        """Shown keys, ascending by (sort value, key) whatever the direction (`key_at` reverses)."""
        self._by_key: list[RowId] = []
        """Every key, sorted: a stable sort by value over it gives the (value, key) order."""
        self._passes: dict[RowId, bool] | None = None
        """Whether each VM passes the filter; None while no filter is set (every VM does)."""
        self._search: dict[RowId, str] | None = None
        """Each VM's `search_text`, from the first filter on (kept up to date after)."""
        self._values_by_column: dict[str, dict[RowId, Any]] = {sort_column: {}}
        """The sort value of each VM, for each column sorted by so far: sorting by it again is cheap."""

    def __len__(self) -> int:
        return len(self.order)

    def key_at(self, position: int) -> RowId:
        """The key shown at `position` (0 is the top row)."""
        return self.order[-1 - position] if self.sort_reverse else self.order[position]

    def position(self, key: RowId) -> int | None:
        """Where `key` is shown, or None when it is filtered out or gone (a bisect: O(log n))."""
        if not self._shows(key):
            return None
        index = bisect_left(self.order, self._rank(key), key=self._rank)
        if index >= len(self.order) or self.order[index] != key:
            return None
        return len(self.order) - 1 - index if self.sort_reverse else index

    def keys(self, start: int = 0, stop: int | None = None) -> list[RowId]:
        """The shown keys from `start` to `stop`, top to bottom."""
        stop = len(self.order) if stop is None else min(stop, len(self.order))
        return [self.key_at(position) for position in range(max(start, 0), stop)]

    def apply(self, vms: Iterable[Vm]) -> set[RowId]:
        """Take a new snapshot of every VM. Returns the keys whose VM is new or changed (an unchanged
        VM is the same object or an equal one); gone VMs leave the index."""
        with collector_paused():
            return self._apply(vms)

    def _apply(self, vms: Iterable[Vm]) -> set[RowId]:
        new = {(vm.provider, vm.id): vm for vm in vms}  # vm.key, without a property call per VM
        old = self.vms
        changed = {
            key
            for key, vm in new.items()
            if (before := old.get(key)) is not vm and (before is None or before != vm)
        }
        gone = [key for key in old if key not in new]
        if not changed and not gone:
            self.vms = new
            return changed
        many = len(changed) + len(gone) > RESORT_SHARE * max(len(new), 1)
        if not many:  # out of the order while the ranks are still the old ones, then back in
            moved = {key for key in (*gone, *changed) if self._shows(key)}
            if moved:
                self.order = [key for key in self.order if key not in moved]
            if gone:
                dropped = set(gone)
                self._by_key = [key for key in self._by_key if key not in dropped]
        added = [key for key in changed if key not in old]
        self.vms = new
        for key in gone:
            self._forget(key)
        self._measure(changed)
        if many:
            self._by_key = sorted(new)
            self._rebuild()
            return changed
        for key in added:
            insort(self._by_key, key)
        for key in changed:
            if self._shows(key):
                insort(self.order, key, key=self._rank)
        return changed

    def set_filter(self, vm_filter: VmFilter) -> None:
        with collector_paused():
            self._set_filter(vm_filter)

    def _set_filter(self, vm_filter: VmFilter) -> None:
        self.filter = vm_filter
        if vm_filter.active:
            if self._search is None:
                self._search = {key: search_text(vm) for key, vm in self.vms.items()}
            matches, search = vm_filter.matches, self._search
            self._passes = {key: matches(vm, search[key]) for key, vm in self.vms.items()}
        else:
            self._passes = None
        self._rebuild()

    def sort_by(self, column: str, reverse: bool) -> None:
        with collector_paused():
            self._sort_by(column, reverse)

    def _sort_by(self, column: str, reverse: bool) -> None:
        if column != self.sort_column:
            self.sort_column = column
            if column not in self._values_by_column:
                value = self.sort_values[column]
                self._values_by_column[column] = {key: value(vm) for key, vm in self.vms.items()}
            self._rebuild()
        self.sort_reverse = reverse

    def _shows(self, key: RowId) -> bool:
        if self._passes is None:
            return key in self.vms
        return self._passes.get(key, False)

    def _rank(self, key: RowId) -> tuple[Any, RowId]:
        return (self._values_by_column[self.sort_column][key], key)

    def _measure(self, keys: set[RowId]) -> None:
        """Sort values, search text and filter result of new and changed VMs."""
        vms = self.vms
        for column, values in self._values_by_column.items():
            value = self.sort_values[column]
            values.update({key: value(vms[key]) for key in keys})
        if self._search is not None:
            self._search.update({key: search_text(vms[key]) for key in keys})
        if self._passes is not None and self._search is not None:
            matches, search = self.filter.matches, self._search
            self._passes.update({key: matches(vms[key], search[key]) for key in keys})

    def _forget(self, key: RowId) -> None:
        for values in self._values_by_column.values():
            values.pop(key, None)
        if self._search is not None:
            self._search.pop(key, None)
        if self._passes is not None:
            self._passes.pop(key, None)

    def _rebuild(self) -> None:
        values = self._values_by_column[self.sort_column]
        passes = self._passes
        shown = self._by_key if passes is None else [key for key in self._by_key if passes[key]]
        self.order = sorted(shown, key=values.__getitem__)
