"""The frozen-heap policy: what survives a settle is frozen (later collections skip it), young garbage and
small changes are not, and garbage a frozen cycle leaves is reclaimed once the frozen set has grown enough."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from vmtui.core.collector import Collector


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
    heap = Collector(limit=0)
    with heap.paused():  # no automatic pass may promote them before the settle
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


def test_a_small_change_is_not_frozen_so_its_cycles_are_collected_as_usual():
    heap = Collector(limit=1_000)
    held = [Node() for _ in range(2_000)]  # more long-lived objects than the limit: frozen
    heap.settle()
    frozen = gc.get_freeze_count()
    assert frozen > len(held)
    kept = Node()
    heap.settle()
    assert gc.get_freeze_count() == frozen
    kept_ref = weakref.ref(kept)
    del kept
    gc.collect()
    assert kept_ref() is None and heap.compactions == 0


def test_garbage_of_frozen_cycles_is_reclaimed_when_the_frozen_set_has_grown():
    heap = Collector(limit=0, growth=1.0, big_step=10**9)  # any growth of small steps compacts
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


def test_a_big_step_moves_the_mark_instead_of_compacting():
    heap = Collector(limit=0, growth=1.0, big_step=0)  # every step is big
    heap.settle()
    mark = heap.compacted_at
    loaded = [Node() for _ in range(100)]
    heap.settle()
    assert heap.compactions == 0 and heap.compacted_at is not None and mark is not None
    assert heap.compacted_at > mark and loaded


def test_release_unfreezes_so_the_next_collection_frees_a_dead_cycle():
    heap = Collector(limit=0)
    kept = Node()
    heap.settle()
    kept_ref = weakref.ref(kept)
    del kept
    heap.release()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert kept_ref() is None


async def test_settle_soon_settles_once_after_the_delay():
    heap = Collector(limit=0)
    heap.settle_soon(0.01)
    heap.settle_soon(0.01)  # joins the first
    assert gc.get_freeze_count() == 0
    deadline = asyncio.get_running_loop().time() + 30
    while gc.get_freeze_count() == 0 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert gc.get_freeze_count() > 0 and heap.compacted_at is not None


def test_overlapping_pauses_keep_the_collector_off_until_the_last_one_ends():
    """Pauses span awaits (a big list is decoded a slice at a time), so two may overlap in any order."""
    policy = Collector()
    first, second = policy.paused(), policy.paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to begin ends first: the second still runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_the_start_hold_outlasts_pauses_and_release_ends_it():
    policy = Collector()
    policy.hold_until_started()
    with policy.paused():
        pass
    assert not gc.isenabled() and gc.get_freeze_count() > 0  # still starting: a pause does not end it
    policy.started()
    assert gc.isenabled()
    policy.hold_until_started()
    policy.release()  # the app closed before its first screen was whole
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_pause_leaves_the_collector_off_when_it_was_off_before():
    policy = Collector()
    gc.disable()
    try:
        with policy.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_settle_does_not_count_the_frozen_set_unless_a_compaction_may_be_due(monkeypatch):
    """Counting the frozen set walks all of it (0.1-0.2 s at 100,000 VMs): a settle that freezes a small
    step must not, until the count it keeps says a compaction may be due."""
    policy = Collector(limit=0, growth=1_000.0, big_step=10**9)
    counts: list[int] = []
    real_count = gc.get_freeze_count
    monkeypatch.setattr(gc, "get_freeze_count", lambda: counts.append(1) or real_count())
    policy.settle()  # the first freeze: the start's frozen set is counted once
    held = []
    for _ in range(5):
        held.append([Node() for _ in range(50)])
        policy.settle()
    assert gc.get_freeze_count() > 250 and len(counts) == 2  # the first settle's, and this assertion's
    assert policy.compactions == 0


def test_release_switches_the_collector_on_even_when_a_pause_never_ended():
    """A task paused mid-list when the app closed may never resume: closing still restores the collector."""
    policy = Collector()
    abandoned = policy.paused()
    abandoned.__enter__()
    policy.release()
    assert gc.isenabled()
    abandoned.__exit__(None, None, None)  # if it ends later after all, it changes nothing
    assert gc.isenabled()
