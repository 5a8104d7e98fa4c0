"""The VM list's rows as an index: which VMs pass the filter, in sort order. Pure: no I/O, no Textual.

The table (`vmtui.ui.widgets.vm_table`) draws only the lines on screen, each looked up here by
position. Each VM gets a slot number; sort values, search text and filter results are lists by
slot (list indexing, not hashing a (profile, id) tuple per row, is what keeps 100,000 rows fast).
`order` holds the shown slots ascending by (sort value, key); a reversed sort reads it from the
end, so reversing costs nothing. A snapshot that changes 1 % of the rows recomputes 1 % and moves
only those (bisect). `warm_up` builds the search text and sort values ahead of use, a slice at a
time, so the first filter or sort costs what a later one does; a filter set before it is done
completes the rest at once.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vmtui.core.collector import collector_paused
from vmtui.core.models import Vm
from vmtui.services.filter import VmFilter, search_text

RowId = tuple[str, str]
"""(profile, VM id)."""

SortValue = Callable[[Vm], Any]
"""A comparable value (all of one column's values compare with each other)."""

SEARCH = "\0search"
"""The name under which `warm_up` builds the search text (a column key never starts with NUL)."""

RESORT_SHARE = 0.05
"""When more than this share of the rows changed, one full sort beats moving each changed row."""


class VmIndex:
    def __init__(self, sort_values: Mapping[str, SortValue], sort_column: str) -> None:
        self.sort_values = dict(sort_values)
        self.sort_column = sort_column
        self.sort_reverse = False
        self.filter = VmFilter()
        self.vms: dict[RowId, Vm] = {}
        self.order: list[int] = []
        """Shown slots, ascending by (sort value, key) whatever the direction (`key_at` reverses)."""
        self._slots: dict[RowId, int] = {}
        self._keys: list[RowId] = []
        """The key in each slot (a freed slot keeps its old key until reused)."""
        self._vm_at: list[Vm | None] = []
        """The VM in each slot; None in a free slot."""
        self._free: list[int] = []
        self._by_key: list[int] = []
        """Every used slot, by key: a stable sort by value over it gives the (value, key) order."""
        self._passes: list[bool] | None = None
        """Whether each slot's VM passes the filter; None while no filter is set (every VM does)."""
        self._search: list[str] | None = None
        """Each slot's `search_text`, from the first filter or the end of `warm_up` on (kept up to date)."""
        self._values_by_column: dict[str, list[Any]] = {sort_column: []}
        """Each slot's sort value, for each column sorted by so far: sorting by it again is cheap."""
        self._drafts: dict[str, list[Any]] = {}
        """Search text (`SEARCH`) or a column's sort values being built by `warm_up`: the first
        slots' values, kept up to date like the finished lists."""

    def __len__(self) -> int:
        return len(self.order)

    def key_at(self, position: int) -> RowId:
        """The key shown at `position` (0 is the top row)."""
        return self._keys[self.order[-1 - position] if self.sort_reverse else self.order[position]]

    def position(self, key: RowId) -> int | None:
        """Where `key` is shown, or None when it is filtered out or gone (a bisect: O(log n))."""
        slot = self._slots.get(key)
        if slot is None or not self._shows(slot):
            return None
        index = bisect_left(self.order, self._rank(slot), key=self._rank)
        if index >= len(self.order) or self.order[index] != slot:
            return None
        return len(self.order) - 1 - index if self.sort_reverse else index

    def keys(self, start: int = 0, stop: int | None = None) -> list[RowId]:
        """The shown keys from `start` to `stop`, top to bottom."""
        count = len(self.order)
        start, stop = max(start, 0), count if stop is None else min(stop, count)
        if start >= stop:
            return []
        if self.sort_reverse:
            slots = self.order[count - stop : count - start][::-1]
        else:
            slots = self.order[start:stop]
        keys = self._keys
        return [keys[slot] for slot in slots]

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
        gone = [self._slots[key] for key in old if key not in new]
        if not changed and not gone:
            self.vms = new
            return changed
        many = len(changed) + len(gone) > RESORT_SHARE * max(len(new), 1)
        if not many:  # out of the order while the ranks are still the old ones, then back in
            shown = (*gone, *(self._slots[key] for key in changed if key in self._slots))
            moved = {slot for slot in shown if self._shows(slot)}
            if moved:
                self.order = [slot for slot in self.order if slot not in moved]
            if gone:
                dropped = set(gone)
                self._by_key = [slot for slot in self._by_key if slot not in dropped]
        self.vms = new
        for slot in gone:
            del self._slots[self._keys[slot]]
            self._vm_at[slot] = None
            self._free.append(slot)
        added = [key for key in changed if key not in self._slots]
        for key in added:
            self._slots[key] = self._new_slot(key)
        measured = [(self._slots[key], new[key]) for key in changed]
        for slot, vm in measured:
            self._vm_at[slot] = vm
        self._measure(measured)
        if many:
            keys = self._keys
            self._by_key = sorted(self._slots.values(), key=keys.__getitem__)
            self._rebuild()
            return changed
        keys = self._keys
        for key in added:
            insort(self._by_key, self._slots[key], key=keys.__getitem__)
        for slot, _vm in measured:
            if self._shows(slot):
                insort(self.order, slot, key=self._rank)
        return changed

    def set_filter(self, vm_filter: VmFilter) -> None:
        with collector_paused():
            self._set_filter(vm_filter)

    def _set_filter(self, vm_filter: VmFilter) -> None:
        self.filter = vm_filter
        if vm_filter.active:
            if self._search is None:
                self._search = self._completed(SEARCH)
            matches = vm_filter.matches
            self._passes = [
                vm is not None and matches(vm, text)
                for vm, text in zip(self._vm_at, self._search, strict=True)
            ]
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
                self._values_by_column[column] = self._completed(column)
            self._rebuild()
        self.sort_reverse = reverse

    def warm_up(self, columns: Iterable[str], count: int) -> bool:
        """Build up to `count` slots' search text, then sort values of `columns`, ahead of the first
        filter or sort by them. False while there is more to build (call again later)."""
        with collector_paused():
            for name in (SEARCH, *columns):
                if (self._search if name == SEARCH else self._values_by_column.get(name)) is not None:
                    continue
                draft = self._drafts.setdefault(name, [])
                start = len(draft)
                draft += self._measured(name, start, start + count)
                if len(draft) < len(self._vm_at):
                    return False
                del self._drafts[name]
                self._finish(name, draft)
        return True

    def _completed(self, name: str) -> list[Any]:
        """The whole list for `name`: what `warm_up` built so far and the rest."""
        draft = self._drafts.pop(name, [])
        return draft + self._measured(name, len(draft), len(self._vm_at))

    def _finish(self, name: str, values: list[Any]) -> None:
        if name == SEARCH:
            self._search = values
        else:
            self._values_by_column[name] = values

    def _measured(self, name: str, start: int, stop: int) -> list[Any]:
        """The search text or sort values of the VMs in slots `start` to `stop` (a free slot's is unused)."""
        measure, unused = self._measurer(name)
        return [unused if vm is None else measure(vm) for vm in self._vm_at[start:stop]]

    def _measurer(self, name: str) -> tuple[Callable[[Vm], Any], object]:
        return (search_text, "") if name == SEARCH else (self.sort_values[name], None)

    def _new_slot(self, key: RowId) -> int:
        if self._free:
            slot = self._free.pop()
            self._keys[slot] = key
            return slot
        self._keys.append(key)
        self._vm_at.append(None)
        for values in self._values_by_column.values():
            values.append(None)
        if self._search is not None:
            self._search.append("")
        if self._passes is not None:
            self._passes.append(False)
        return len(self._keys) - 1

    def _shows(self, slot: int) -> bool:
        return self._passes is None or self._passes[slot]

    def _rank(self, slot: int) -> tuple[Any, RowId]:
        return (self._values_by_column[self.sort_column][slot], self._keys[slot])

    def _measure(self, measured: list[tuple[int, Vm]]) -> None:
        """Sort values, search text and filter result of new and changed VMs (slot, VM)."""
        for name, draft in self._drafts.items():  # slots past a draft's end are built when it gets there
            measure, built = self._measurer(name)[0], len(draft)
            for slot, vm in measured:
                if slot < built:
                    draft[slot] = measure(vm)
        for column, values in self._values_by_column.items():
            value = self.sort_values[column]
            for slot, vm in measured:
                values[slot] = value(vm)
        if self._search is not None:
            search = self._search
            for slot, vm in measured:
                search[slot] = search_text(vm)
            if self._passes is not None:
                matches, passes = self.filter.matches, self._passes
                for slot, vm in measured:
                    passes[slot] = matches(vm, search[slot])

    def _rebuild(self) -> None:
        values = self._values_by_column[self.sort_column]
        passes = self._passes
        shown = self._by_key if passes is None else [slot for slot in self._by_key if passes[slot]]
        self.order = sorted(shown, key=values.__getitem__)
