"""The frozen-heap policy: what survives a settle is frozen (later collections skip it), young garbage is
not frozen, and garbage a frozen cycle leaves is reclaimed once the frozen set has grown enough."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from vmtui.core.collector import FrozenHeap, collector_paused


class Node:
    """A cycle of one: reference counting alone never frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_young_garbage_is_collected_not_frozen_and_what_survives_is_frozen():
    heap = FrozenHeap()
    with collector_paused():  # no automatic pass may promote them before the settle
        dropped, kept = Node(), Node()
        dropped_ref = weakref.ref(dropped)
        del dropped
        heap.settle()
    assert dropped_ref() is None
    assert gc.get_freeze_count() > 0
    kept_ref = weakref.ref(kept)
    del kept
    gc.collect()  # walks every generation but the frozen one
    assert kept_ref() is not None, "the frozen cycle was walked by a full collection"


def test_a_frozen_cycle_stays_while_the_frozen_set_grows_little():
    heap = FrozenHeap()
    heap.settle()
    kept = Node()
    heap.settle()
    kept_ref = weakref.ref(kept)
    del kept
    heap.settle()
    gc.collect()
    assert kept_ref() is not None and heap.compactions == 0


def test_garbage_of_frozen_cycles_is_reclaimed_when_the_frozen_set_has_grown():
    heap = FrozenHeap(growth=1.0)  # any growth compacts
    heap.settle()
    kept = Node()
    heap.settle()  # compacts (kept is alive) and freezes it again
    kept_ref = weakref.ref(kept)
    del kept
    gc.collect()
    assert kept_ref() is not None  # frozen: no collection sees it
    more = [Node() for _ in range(10)]
    heap.settle()
    assert kept_ref() is None and heap.compactions == 2
    assert more and gc.get_freeze_count() > 0


def test_release_unfreezes_so_the_next_collection_frees_a_dead_cycle():
    heap = FrozenHeap()
    kept = Node()
    heap.settle()
    kept_ref = weakref.ref(kept)
    del kept
    heap.release()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert kept_ref() is None
