"""A poll where a few VMs changed leaves only those few behind: the provider's records, the lineage
stream's merged records and the row index's keys of unchanged VMs are reused, not rebuilt. What a poll
leaves alive is what every later garbage collection walks (at 100,000 VMs, 400,000 objects a poll)."""

from __future__ import annotations

import gc
from typing import Self

import httpx

from vmtui.core.models import Vm, VmState
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_cache import Lineage
from vmtui.services.lineage_fetch import LineageEnrichment
from vmtui.services.vm_index import VmIndex
from vmtui.ui.widgets.vm_table import COLUMNS

COUNT = 2_000
CHANGED = 7
LEFT_BEHIND_LIMIT = 100
"""Objects a poll changing one VM may leave alive (its record, its VM, the new lists): far below one per VM."""


class NewObjects:
    """Counts the objects the garbage collector tracks that were created in the block and are alive after it."""

    def __enter__(self) -> Self:
        self._before = gc.get_objects()  # held, so no object of before is freed and its address reused
        return self

    def __exit__(self, *exc: object) -> None:
        known = set(map(id, self._before))
        self.count = sum(id(obj) not in known for obj in gc.get_objects())


def items() -> list[dict]:
    return [
        {"vm_id": f"vm-{index:05d}", "state": "running", "labels": {"team": f"t{index % 3}"}}
        for index in range(COUNT)
    ]


def vms(state_of_changed: VmState = VmState.RUNNING) -> list[Vm]:
    return [
        Vm(
            provider="p",
            id=f"vm-{index:05d}",
            state=state_of_changed if index == CHANGED else VmState.RUNNING,
        )
        for index in range(COUNT)
    ]


async def test_a_poll_reuses_the_unchanged_items_and_leaves_only_the_changed_one_behind():
    listed = items()
    vers = VersProvider(
        "p",
        "https://api.vers.sh",
        "key",
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=listed)),
    )
    first = await vers.list_vms()
    listed[CHANGED]["state"] = "paused"

    with NewObjects() as new:
        second = await vers.list_vms()

    assert second is not first and second[CHANGED].state is VmState.PAUSED
    assert all(a is b for index, (a, b) in enumerate(zip(first, second, strict=True)) if index != CHANGED)
    assert new.count < LEFT_BEHIND_LIMIT, new.count  # not a (raw item, VM) record and raw item per VM
    await vers.aclose()


def test_lineage_merged_into_a_poll_with_one_vm_replaced_reuses_the_others_merged_vms():
    enrichment = LineageEnrichment(lambda vm_id: None)  # type: ignore[arg-type,return-value]
    enrichment.known = {vm.id: Lineage(f"c-{vm.id}", None, None) for vm in vms()}
    polled = vms()
    merged = enrichment.apply(polled)
    again = list(polled)
    again[CHANGED] = vms(VmState.PAUSED)[CHANGED]

    with NewObjects() as new:
        after = enrichment.apply(again)

    assert after[CHANGED].state is VmState.PAUSED and after[CHANGED].parent_commit_id == f"c-vm-{CHANGED:05d}"
    assert all(a is b for index, (a, b) in enumerate(zip(merged, after, strict=True)) if index != CHANGED)
    assert enrichment.progress == (COUNT, COUNT)
    assert new.count < LEFT_BEHIND_LIMIT, new.count  # not a (vm, lineage, merged) record per VM


def test_lineage_of_a_new_vm_in_a_replaced_place_is_queued_and_counted():
    enrichment = LineageEnrichment(lambda vm_id: None)  # type: ignore[arg-type,return-value]
    enrichment.known = {vm.id: Lineage("c", None, None) for vm in vms()}
    listed = vms()
    enrichment.apply(listed)
    other = [*listed[:CHANGED], Vm(provider="p", id="vm-new", state=VmState.RUNNING), *listed[CHANGED + 1 :]]

    out = enrichment.apply(other)

    assert out[CHANGED].id == "vm-new" and out[CHANGED].parent_commit_id is None
    assert enrichment.progress == (COUNT - 1, COUNT)  # the gone VM no longer counts, the new one waits
    assert not enrichment.complete


def test_the_row_index_takes_a_poll_with_one_vm_replaced_without_new_keys():
    index = VmIndex({column.key: column.sort_value for column in COLUMNS}, "state")
    listed = vms()
    index.apply(listed)
    polled = list(listed)
    polled[CHANGED] = vms(VmState.PAUSED)[CHANGED]

    with NewObjects() as new:
        changed = index.apply(polled)

    assert changed == {("p", f"vm-{CHANGED:05d}")}
    assert index.keys(0, 1) == [("p", f"vm-{CHANGED:05d}")]  # "paused" sorts before "running"
    fresh = VmIndex({column.key: column.sort_value for column in COLUMNS}, "state")
    fresh.apply(polled)
    assert index.keys() == fresh.keys() and index.vms == fresh.vms
    assert new.count < LEFT_BEHIND_LIMIT, new.count  # not a (profile, id) key per VM
