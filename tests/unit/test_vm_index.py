"""The VM list's row index: the shown keys always equal a plain filter-then-sort of the snapshot,
whatever the sequence of snapshots, filters and sorts (checked against that reference)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from vmtui.core.models import Vm, VmState
from vmtui.services import vm_index
from vmtui.services.filter import parse_filter
from vmtui.services.vm_index import VmIndex
from vmtui.ui.widgets.vm_table import COLUMNS

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SORT_VALUES = {column.key: column.sort_value for column in COLUMNS}


def vm(number: int, *, state: VmState = VmState.RUNNING, age: int = 0, team: str = "a") -> Vm:
    return Vm(
        provider="p" if number % 3 else "q",
        id=f"vm-{number:05d}",
        state=state,
        created_at=BASE + timedelta(seconds=age),
        labels={"team": team, "name": f"n{number % 17}"},
    )


def reference(vms: list[Vm], filter_text: str, column: str, reverse: bool) -> list[tuple[str, str]]:
    vm_filter = parse_filter(filter_text)
    shown = [v for v in vms if vm_filter.matches(v)]
    ranked = sorted(shown, key=lambda v: (SORT_VALUES[column](v), v.key))
    return [v.key for v in (reversed(ranked) if reverse else ranked)]


def random_fleet(rng: random.Random, size: int) -> list[Vm]:
    states = list(VmState)
    return [
        vm(n, state=rng.choice(states), age=rng.randrange(50), team=rng.choice("abc")) for n in range(size)
    ]


def test_empty_index_shows_nothing():
    index = VmIndex(SORT_VALUES, "age")
    assert len(index) == 0 and index.keys() == [] and index.position(("p", "x")) is None


@pytest.mark.parametrize("seed", range(8))
def test_random_snapshots_filters_and_sorts_match_the_reference(seed):
    rng = random.Random(seed)
    index = VmIndex(SORT_VALUES, "age")
    fleet = random_fleet(rng, 300)
    filter_text, column, reverse = "", "age", False
    index.apply(fleet)
    for _ in range(40):
        step = rng.randrange(4)
        if step == 0:  # a snapshot: a few VMs change, go or arrive (the small path)
            fleet = [v for v in fleet if rng.random() > 0.01]
            for i in rng.sample(range(len(fleet)), 3):
                fleet[i] = fleet[i].model_copy(update={"state": rng.choice(list(VmState))})
            fleet += [vm(1000 + rng.randrange(5000), age=rng.randrange(50)) for _ in range(2)]
            fleet = list({v.key: v for v in fleet}.values())
            index.apply(fleet)
        elif step == 1:  # many change at once (the full re-sort path)
            fleet = random_fleet(rng, rng.randrange(100, 300))
            index.apply(fleet)
        elif step == 2:
            filter_text = rng.choice(["", "state:running", "team=b", "n1", "!state:dead", "~v0"])
            index.set_filter(parse_filter(filter_text))
        else:
            column, reverse = rng.choice(list(SORT_VALUES)), rng.random() < 0.5
            index.sort_by(column, reverse)
        expected = reference(fleet, filter_text, column, reverse)
        assert index.keys() == expected
        for position, key in enumerate(expected):
            assert index.position(key) == position


def test_apply_reports_new_and_changed_keys_only():
    index = VmIndex(SORT_VALUES, "age")
    fleet = [vm(n, age=n) for n in range(10)]
    assert index.apply(fleet) == {v.key for v in fleet}
    same_values = [v.model_copy() for v in fleet]  # new objects, equal values: nothing to redraw
    assert index.apply(same_values) == set()
    changed = [*same_values[:9], same_values[9].model_copy(update={"state": VmState.PAUSED})]
    assert index.apply(changed) == {changed[9].key}
    assert index.apply(changed[1:]) == set() and index.position(changed[0].key) is None


def test_filtered_out_and_gone_keys_have_no_position():
    index = VmIndex(SORT_VALUES, "name")
    fleet = [vm(1, state=VmState.PAUSED), vm(2)]
    index.apply(fleet)
    index.set_filter(parse_filter("state:paused"))
    assert index.keys() == [fleet[0].key] and index.position(fleet[1].key) is None


def test_substring_terms_never_match_across_two_fields():
    index = VmIndex(SORT_VALUES, "age")
    index.apply([vm(1)])  # id vm-00001, provider p, labels team=a and name=n1
    index.set_filter(parse_filter("00001p"))  # the end of the id joined with the provider
    assert index.keys() == []
    index.set_filter(parse_filter("00001"))
    assert len(index) == 1


@pytest.mark.parametrize("seed", range(8))
def test_a_warm_up_interleaved_with_snapshots_filters_and_sorts_matches_the_reference(seed):
    """Search text and sort values built a slice at a time, with snapshots, filters and sorts arriving
    between slices (a filter typed before the warm-up is done), give the reference's rows."""
    rng = random.Random(seed)
    index = VmIndex(SORT_VALUES, "age")
    fleet = random_fleet(rng, 300)
    filter_text, column, reverse = "", "age", False
    index.apply(fleet)
    for _ in range(40):
        step = rng.randrange(5)
        if step == 0:
            index.warm_up(SORT_VALUES, rng.randrange(1, 40))
        elif step == 1:
            fleet = [v for v in fleet if rng.random() > 0.02]
            for i in rng.sample(range(len(fleet)), 3):
                fleet[i] = fleet[i].model_copy(update={"state": rng.choice(list(VmState)), "labels": {}})
            fleet += [vm(1000 + rng.randrange(5000), age=rng.randrange(50)) for _ in range(4)]
            fleet = list({v.key: v for v in fleet}.values())
            index.apply(fleet)
        elif step == 2:
            fleet = random_fleet(rng, rng.randrange(100, 300))
            index.apply(fleet)
        elif step == 3:
            filter_text = rng.choice(["", "state:running", "team=b", "n1", "!state:dead", "~v0"])
            index.set_filter(parse_filter(filter_text))
        else:
            column, reverse = rng.choice(list(SORT_VALUES)), rng.random() < 0.5
            index.sort_by(column, reverse)
        assert index.keys() == reference(fleet, filter_text, column, reverse)


def test_after_the_warm_up_the_first_filter_and_sort_measure_no_vm(monkeypatch):
    """The work a first filter or sort did on the spot is done by the warm-up beforehand."""
    from vmtui.services import vm_index

    fleet = [vm(n, team="ab"[n % 2]) for n in range(500)]
    index = VmIndex(SORT_VALUES, "age")
    index.apply(fleet)
    slices = 1
    while not index.warm_up(["state", "name"], 64):
        slices += 1
    assert slices > 1  # it did run in slices
    measured: list[str] = []
    real_search_text = vm_index.search_text
    monkeypatch.setattr(vm_index, "search_text", lambda v: measured.append(v.id) or real_search_text(v))
    index.sort_values = {
        key: (lambda v, measure=measure: measured.append(v.id) or measure(v))
        for key, measure in SORT_VALUES.items()
    }
    index.set_filter(parse_filter("team=b"))
    index.sort_by("state", reverse=False)
    index.sort_by("name", reverse=True)
    assert measured == []
    assert index.keys() == reference(fleet, "team=b", "name", True)


@pytest.mark.parametrize(
    ("column", "reverse"), [("age", False), ("age", True), ("provider", False), ("state", True)]
)
def test_a_big_first_snapshot_shows_its_top_rows_first_and_they_never_move(monkeypatch, column, reverse):
    """A snapshot adding more than LOAD_SLICE VMs indexes its FIRST_ROWS top rows at once (ties at the
    cut included: the profile column ties 2/3 of the fleet), the rest a slice at a time."""
    monkeypatch.setattr(vm_index, "LOAD_SLICE", 50)
    monkeypatch.setattr(vm_index, "FIRST_ROWS", 12)
    rng = random.Random(7)
    fleet = random_fleet(rng, 400)
    index = VmIndex(SORT_VALUES, column)
    index.sort_by(column, reverse)
    index.apply(fleet)
    expected = reference(fleet, "", column, reverse)
    assert index.keys() == expected[:12]
    assert index.loading == 400 - 12
    slices = 0
    while index.loading:
        left = index.loading
        assert len(index.load()) == min(50, left)
        slices += 1
        assert index.keys()[:12] == expected[:12]  # what is on screen stays put
    assert slices == 8
    assert index.keys() == expected
    assert [index.position(key) for key in expected] == list(range(400))


@pytest.mark.parametrize("seed", range(6))
def test_snapshots_filters_and_sorts_while_a_big_snapshot_loads_match_the_reference(monkeypatch, seed):
    """Whatever arrives between two load slices, the loaded rows are the reference's rows of the VMs
    indexed so far, and once loading ends, the reference itself."""
    monkeypatch.setattr(vm_index, "LOAD_SLICE", 40)
    monkeypatch.setattr(vm_index, "FIRST_ROWS", 10)
    rng = random.Random(seed)
    index = VmIndex(SORT_VALUES, "age")
    fleet = random_fleet(rng, 300)
    filter_text, column, reverse = "", "age", False
    index.apply(fleet)
    for _ in range(30):
        step = rng.randrange(5)
        if step <= 1:
            index.load()
        elif step == 2:  # a poll during loading: a few change, go or arrive
            fleet = [v for v in fleet if rng.random() > 0.02]
            for i in rng.sample(range(len(fleet)), 3):
                fleet[i] = fleet[i].model_copy(update={"state": rng.choice(list(VmState))})
            fleet += [vm(1000 + rng.randrange(5000), age=rng.randrange(50)) for _ in range(3)]
            fleet = list({v.key: v for v in fleet}.values())
            index.apply(fleet)
        elif step == 3:
            filter_text = rng.choice(["", "state:running", "team=b", "n1", "~v0"])
            index.set_filter(parse_filter(filter_text))
        else:
            column, reverse = rng.choice(list(SORT_VALUES)), rng.random() < 0.5
            index.sort_by(column, reverse)
        loaded = [v for v in fleet if v.key not in index._unloaded]
        assert index.keys() == reference(loaded, filter_text, column, reverse)
        assert set(index.vms) == {v.key for v in fleet}  # every listed VM is known, loaded or not
    while index.loading:
        index.load()
    assert index.keys() == reference(fleet, filter_text, column, reverse)


class CountingVm(Vm):
    """A Vm that counts how often any one's `id` is read."""

    def __getattribute__(self, name: str):
        if name == "id":
            READS.append(1)
        return super().__getattribute__(name)


READS: list[int] = []


def test_a_snapshot_reads_only_the_vms_that_are_not_the_same_objects_as_before():
    index = VmIndex(SORT_VALUES, "age")
    fleet = [CountingVm(provider="p", id=f"vm-{n:04d}", state=VmState.RUNNING) for n in range(1_000)]
    index.apply(fleet)
    fleet[7] = fleet[7].model_copy(update={"state": VmState.PAUSED})
    fleet[8] = fleet[8].model_copy()  # a new object, equal: not changed
    READS.clear()
    assert index.apply(fleet) == {fleet[7].key}
    assert len(READS) < 20  # the 998 VMs handed on as the same objects were not looked at
    assert index.vms[fleet[8].key] is fleet[8] and index.apply(fleet) == set()


def test_two_vms_with_one_key_the_last_one_counts():
    index = VmIndex(SORT_VALUES, "age")
    first, other = vm(1), vm(2)
    index.apply([first, other])
    again = first.model_copy(update={"state": VmState.PAUSED})
    assert index.apply([first, other, again]) == {first.key}
    assert index.vms[first.key] is again and index.keys() == reference([other, again], "", "age", False)
    assert index.apply([other, again]) == set()
    assert index.apply([other]) == set() and index.keys() == [other.key]
