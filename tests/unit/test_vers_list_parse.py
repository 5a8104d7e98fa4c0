"""The VM list's checked fast path: the same VMs as pydantic's validation, bad items still a clear error,
and a long list converted a slice at a time with the event loop running in between."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from vmtui.core.errors import BadResponse
from vmtui.core.models import Vm, VmState
from vmtui.providers import vers
from vmtui.providers.vers import VersProvider, checked_list_item

ALIASES = {"vm-2": "my-box"}

USUAL = [
    {
        "vm_id": "vm-1",
        "owner_id": "o",
        "created_at": "2026-04-01T12:00:00Z",
        "state": "running",
        "labels": {},
    },
    {"vm_id": "vm-2", "state": "Paused", "created_at": "2026-04-01T12:00:00.918473+02:00", "labels": None},
    {"vm_id": "vm-3", "state": "sleeping", "labels": {"name": "web", "team": "a"}, "alias": "w"},
    {  # the local engine's list: lineage, image and size too
        "vm_id": "vm-4",
        "owner_id": "local",
        "created_at": "2026-12-03T10:00:00.123456Z",
        "state": "booting",
        "labels": {"team": "b"},
        "ip": "127.0.0.1",
        "parent_commit_id": "c-1",
        "grandparent_vm_id": None,
        "image_name": "default",
        "vcpu_count": 2,
        "mem_size_mib": 512,
        "fs_size_mib": 1024,
        "extra_field_a_client_ignores": [1, 2],
    },
    {"vm_id": "vm-5", "created_at": "2026-04-01 12:00:00", "ip": None},
]

DECLINED = [  # valid, but not the usual shape: pydantic validates them
    {"id": "vm-6", "state": "running"},  # cluster-era id
    {"vm_id": "vm-7", "ip_address": "10.0.0.7"},
    {"vm_id": "vm-8", "created_at": 1775044800},  # a Unix time
    {"vm_id": "vm-9", "vcpu_count": "2"},  # a number as a string
    {"vm_id": "vm-10", "created_at": "1775044800"},  # a Unix time as a string
]

BAD = [
    {"state": "running"},  # no id
    {"vm_id": ""},
    {"vm_id": "vm-11", "labels": {"team": 3}},
    {"vm_id": "vm-12", "state": 5},
    {"vm_id": "vm-13", "created_at": "yesterday"},
    "vm-14",
]


def validated(raw: dict) -> Vm:
    return vers._VM.validate_python(raw).to_vm("p", ALIASES)


@pytest.mark.parametrize("raw", USUAL, ids=lambda raw: raw["vm_id"])
def test_the_checked_path_gives_the_vm_validation_gives(raw):
    fast = checked_list_item(raw, "p", ALIASES)
    assert fast is not None
    assert fast == validated(raw)
    assert fast.model_dump() == validated(raw).model_dump()
    assert hash(fast.key) == hash(validated(raw).key)


def test_a_checked_vm_copies_like_a_validated_one():
    fast = checked_list_item(USUAL[0], "p", ALIASES)
    assert fast is not None
    copy = fast.model_copy(update={"state": VmState.PAUSED, "parent_commit_id": "c-9"})
    assert copy.state is VmState.PAUSED and copy.parent_commit_id == "c-9"
    assert fast.state is VmState.RUNNING and fast.parent_commit_id is None
    again = checked_list_item(USUAL[1], "p", ALIASES)
    assert again is not None and "parent_commit_id" in again.model_fields_set  # not widened by the copy
    assert again.alias == "my-box" and again.label is None
    with pytest.raises(Exception, match="frozen"):
        fast.state = VmState.DEAD  # type: ignore[misc]


@pytest.mark.parametrize("raw", DECLINED, ids=lambda raw: str(raw))
def test_other_valid_shapes_are_declined_and_validated(raw):
    assert checked_list_item(raw, "p", ALIASES) is None
    validated(raw)  # still a VM


@pytest.mark.parametrize("raw", BAD, ids=lambda raw: str(raw))
def test_a_bad_item_is_declined(raw):
    assert checked_list_item(raw, "p", ALIASES) is None


def provider(answer) -> VersProvider:
    def api(request: httpx.Request) -> httpx.Response:
        return answer()

    return VersProvider(
        "p", "https://api.vers.sh", "key", transport=httpx.MockTransport(api), aliases=ALIASES
    )


async def test_a_list_mixing_shapes_gives_every_vm_in_order():
    vms = await provider(lambda: httpx.Response(200, json=USUAL + DECLINED)).list_vms()
    assert [vm.id for vm in vms] == [f"vm-{n}" for n in range(1, 11)]
    assert vms == [validated(raw) for raw in USUAL + DECLINED]


@pytest.mark.parametrize("bad", BAD, ids=lambda raw: str(raw))
async def test_a_bad_item_is_a_clear_error_and_the_last_list_stays(bad):
    body = USUAL
    vers_api = provider(lambda: httpx.Response(200, json=body))
    first = await vers_api.list_vms()
    body = [*USUAL, bad]
    with pytest.raises(BadResponse, match=f"VM list item {len(USUAL)}"):
        await vers_api.list_vms()
    body = USUAL
    assert await vers_api.list_vms() == first


async def test_a_long_list_is_converted_a_slice_at_a_time(monkeypatch):
    """Between two slices the event loop runs other tasks (the UI's keys and frames)."""
    monkeypatch.setattr(vers, "PARSE_SLICE", 2)
    events: list[str] = []
    convert = vers.checked_list_item

    def recording(raw, provider_name, aliases):
        events.append(raw["vm_id"])
        return convert(raw, provider_name, aliases)

    monkeypatch.setattr(vers, "checked_list_item", recording)
    items = [{"vm_id": f"vm-{n}", "state": "running"} for n in range(5)]
    vers_api = provider(lambda: httpx.Response(200, json=items))
    listing = asyncio.ensure_future(vers_api.list_vms())
    while not listing.done():
        events.append("loop")
        await asyncio.sleep(0)
    assert [vm.id for vm in listing.result()] == [f"vm-{n}" for n in range(5)]
    converted = [event for event in events if event != "loop"]
    assert converted == [f"vm-{n}" for n in range(5)]
    first = events.index("vm-0")
    assert events[first : first + 7] == ["vm-0", "vm-1", "loop", "vm-2", "vm-3", "loop", "vm-4"]
