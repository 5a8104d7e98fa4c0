"""The VM list's rows as an index: which VMs pass the filter, in sort order. Pure: no I/O, no Textual.

The table (`vmtui.ui.widgets.vm_table`) draws only the lines on screen, each looked up here by
position. Each VM gets a slot number; sort values, search text and filter results are lists by
slot (list indexing, not hashing a (profile, id) tuple per row, is what keeps 100,000 rows fast).
`order` holds the shown slots ascending by (sort value, key); a reversed sort reads it from the
end, so reversing costs nothing. A snapshot that changes 1 % of the rows recomputes 1 % and moves
only those (bisect). A snapshot adding many VMs (the first list of a big fleet) indexes at once only
the rows that come first in the current order, and the rest a slice at a time (`load`). `warm_up`
builds the search text and sort values ahead of use, a slice at a time, so the first filter or sort
costs what a later one does; a filter set before it is done completes the rest at once.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

from vmtui.core.collector import collector
from vmtui.core.models import Vm, replaced_in_place
from vmtui.services.filter import VmFilter, search_text

RowId = tuple[str, str]
"""(profile, VM id)."""

SortValue = Callable[[Vm], Any]
"""A comparable value (all of one column's values compare with each other)."""

SEARCH = "\0search"
"""The name under which `warm_up` builds the search text (a column key never starts with NUL)."""

LOAD_SLICE = 10_000
"""VMs a snapshot adds at once; more wait for `load`, which indexes this many per call (~30 ms at
100,000 VMs: measuring them and merging them into the sorted lists)."""

FIRST_ROWS = 200
"""Rows of a big snapshot indexed at once: more than a screenful, so the first frame is whole."""

RESORT_SHARE = 0.05
"""When more than this share of the rows changed, one full sort beats moving each changed row."""


def _key_text(key: RowId) -> str:
    """A key as one string that sorts as the tuple does (profile names hold no NUL)."""
    return f"{key[0]}\0{key[1]}"


def _inserted(ordered: list[int], slots: list[int], key: Callable[[int], Any]) -> list[int]:
    """`ordered` (ascending by `key`) with `slots` put in their places: each found by bisect, and the
    list copied once (inserting one at a time shifted the tail each time: 1,000 changed rows of
    100,000 moved 400 MB)."""
    if not slots:
        return ordered
    out: list[int] = []
    done = 0
    for slot in sorted(slots, key=key):
        place = bisect_left(ordered, key(slot), lo=done, key=key)
        out += ordered[done:place]
        out.append(slot)
        done = place
    out += ordered[done:]
    return out


class VmIndex:
    def __init__(self, sort_values: Mapping[str, SortValue], sort_column: str) -> None:
        self.sort_values = dict(sort_values)
        self.sort_column = sort_column
        self.sort_reverse = False
        self.filter = VmFilter()
        self.vms: dict[RowId, Vm] = {}
        """Every VM of the last snapshot, the ones still `loading` too."""
        self._applied: list[Vm] = []
        """The last snapshot as given (its order: the next one is compared with it by identity)."""
        self._indexed: dict[RowId, Vm] = {}
        """The VMs in the index: all of `vms` but those still loading."""
        self._unloaded: dict[RowId, Vm] = {}
        self.order: list[int] = []
        """Shown slots, ascending by (sort value, key) whatever the direction (`key_at` reverses)."""
        self._slots: dict[RowId, int] = {}
        self._keys: list[RowId] = []
        """The key in each slot (a freed slot keeps its old key until reused)."""
        self._key_texts: list[str] = []
        """Each slot's key as one string (`_key_text`): sorting by it is ~5x faster than by the tuple."""
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

    @property
    def loading(self) -> int:
        """VMs of the snapshot not indexed yet (`load` indexes them); 0 once every one is."""
        return len(self._unloaded)

    def apply(self, vms: Iterable[Vm]) -> set[RowId]:
        """Take a new snapshot of every VM. Returns the keys whose VM is new or changed (an unchanged
        VM is the same object or an equal one); gone VMs leave the index.

        A snapshot that adds more than `LOAD_SLICE` VMs (the first list of a big fleet) indexes only
        the `FIRST_ROWS` of them that come first in the current order, so those rows show at once and
        stay where they are; `load` indexes the rest (`loading` until then).

        A snapshot of the same VMs in the same order as the last one, some of them replaced (a poll
        where a few changed), costs one identity comparison per VM and the replaced ones: it reuses
        the last snapshot's keys, so it leaves no new objects per VM behind."""
        vms = list(vms)
        with collector.paused():
            before, self._applied = self._applied, vms
            positions = None if self._unloaded else replaced_in_place(before, vms)
            if positions is not None:  # (only when every VM is indexed)
                return self._apply_replaced([vms[position] for position in positions])
            snapshot = {(vm.provider, vm.id): vm for vm in vms}  # vm.key, without a property call per VM
            self.vms = snapshot
            slots = self._slots
            fresh = {key: vm for key, vm in snapshot.items() if key not in slots}
            if len(fresh) <= LOAD_SLICE:
                self._unloaded = {}
                return self._index(snapshot, self._diff(snapshot))
            first = {(vm.provider, vm.id): vm for vm in self._first(list(fresh.values()), FIRST_ROWS)}
            for key in first:
                del fresh[key]
            self._unloaded = fresh
            indexed = {key: snapshot[key] for key in self._indexed if key in snapshot} | first
            return self._index(indexed, self._diff(indexed))

    def _apply_replaced(self, replaced: list[Vm]) -> set[RowId]:
        snapshot = dict(self.vms)
        changed: set[RowId] = set()
        for vm in replaced:
            key = (vm.provider, vm.id)
            if snapshot[key] != vm:
                changed.add(key)
            snapshot[key] = vm  # the dict keeps its own key object
        self.vms = snapshot
        return self._index(snapshot, (changed, []))

    def load(self, count: int | None = None) -> set[RowId]:
        """Index up to `count` (`LOAD_SLICE`) more VMs of the last snapshot; returns their keys."""
        with collector.paused():
            batch = dict(islice(self._unloaded.items(), LOAD_SLICE if count is None else count))
            for key in batch:
                del self._unloaded[key]
            self._indexed.update(batch)  # a dict of its own while loading (never `vms`)
            return self._index(self._indexed, (set(batch), []), many=True)

    def _diff(self, new: dict[RowId, Vm]) -> tuple[set[RowId], list[int]]:
        """The keys of `new` that are new or changed since the indexed VMs, and the slots of the gone ones."""
        old = self._indexed
        changed = {
            key
            for key, vm in new.items()
            if (before := old.get(key)) is not vm and (before is None or before != vm)
        }
        return changed, [self._slots[key] for key in old if key not in new]

    def _first(self, vms: list[Vm], count: int) -> list[Vm]:
        """The `count` VMs that come first in the current order (the rows on top of the table)."""
        value = self.sort_values[self.sort_column]
        values = [value(vm) for vm in vms]
        reverse = self.sort_reverse
        cut = (heapq.nlargest if reverse else heapq.nsmallest)(count, values)[-1]
        ahead = [vm for vm, v in zip(vms, values, strict=True) if (v > cut if reverse else v < cut)]
        tied = [vm for vm, v in zip(vms, values, strict=True) if v == cut]
        by_key = heapq.nlargest if reverse else heapq.nsmallest
        return ahead + by_key(count - len(ahead), tied, key=lambda vm: _key_text((vm.provider, vm.id)))

    def _index(
        self, new: dict[RowId, Vm], diff: tuple[set[RowId], list[int]], *, many: bool = False
    ) -> set[RowId]:
        """Make the indexed VMs `new`: measure and place the new and changed ones, drop the gone ones
        (`many`: merge them into the sorted lists, whatever their share)."""
        changed, gone = diff
        self._indexed = new
        if not changed and not gone:
            return changed
        many = many or len(changed) + len(gone) > RESORT_SHARE * max(len(new), 1)
        if not many:  # out of the order while the ranks are still the old ones, then back in
            shown = (*gone, *(self._slots[key] for key in changed if key in self._slots))
            moved = {slot for slot in shown if self._shows(slot)}
            if moved:
                self.order = [slot for slot in self.order if slot not in moved]
        if gone:
            dropped = set(gone)
            self._by_key = [slot for slot in self._by_key if slot not in dropped]
        for slot in gone:
            del self._slots[self._keys[slot]]
            self._vm_at[slot] = None
            self._free.append(slot)
        added = [key for key in changed if key not in self._slots]
        self._slots.update(zip(added, self._new_slots(added), strict=True))
        measured = [(self._slots[key], new[key]) for key in changed]
        for slot, vm in measured:
            self._vm_at[slot] = vm
        self._measure(measured)
        key_text = self._key_texts.__getitem__
        added_slots = sorted((self._slots[key] for key in added), key=key_text)
        if many:  # two runs sorted by key: `sorted` merges them in one pass
            self._by_key = sorted(self._by_key + added_slots, key=key_text)
            self._rebuild()
            return changed
        self._by_key = _inserted(self._by_key, added_slots, key_text)
        self.order = _inserted(self.order, [slot for slot, _vm in measured if self._shows(slot)], self._rank)
        return changed

    def set_filter(self, vm_filter: VmFilter) -> None:
        with collector.paused():
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
        with collector.paused():
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
        with collector.paused():
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

    def _new_slots(self, keys: list[RowId]) -> list[int]:
        """Slots for new keys: freed ones first, then new ones at the end of every per-slot list (one
        `extend` each, not one call per key: 100,000 VMs)."""
        reused = [self._free.pop() for _ in range(min(len(keys), len(self._free)))]
        for slot, key in zip(reused, keys, strict=False):
            self._keys[slot] = key
            self._key_texts[slot] = _key_text(key)
        appended = keys[len(reused) :]
        start, count = len(self._keys), len(appended)
        self._keys += appended
        self._key_texts += map(_key_text, appended)
        self._vm_at += [None] * count
        for values in self._values_by_column.values():
            values += [None] * count
        if self._search is not None:
            self._search += [""] * count
        if self._passes is not None:
            self._passes += [False] * count
        return reused + list(range(start, start + count))

    def _shows(self, slot: int) -> bool:
        return self._passes is None or self._passes[slot]

    def _rank(self, slot: int) -> tuple[Any, str]:
        return (self._values_by_column[self.sort_column][slot], self._key_texts[slot])

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
