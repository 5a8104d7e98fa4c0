"""`GET /vms` rows encoded once per VM record and state: the body is what the response model writes, and
a row is encoded again exactly when its record was replaced or the state reported for it changed."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import TypeAdapter

from vmtui.local.api import listed_rows
from vmtui.local.api.listed_rows import ListedRows
from vmtui.local.api.schemas import VmListItemOut
from vmtui.local.store import VmRecord


class Engine:
    """What the rows read of the engine: its owner id and the state it reports per VM."""

    owner_id = "owner-1"

    def __init__(self) -> None:
        self.dead: set[str] = set()

    def vm_state(self, vm: VmRecord) -> str:
        return "dead" if vm.id in self.dead else vm.state


def records(count: int) -> list[VmRecord]:
    return [
        VmRecord(
            id=f"vm-{n}", state="running", phase="ready", labels={"name": f"n{n}"}, parent_commit_id="c-1"
        )
        for n in range(count)
    ]


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids of the rows encoded, in order."""
    ids: list[str] = []
    encode = VmListItemOut.of

    def counting(engine, vm: VmRecord) -> VmListItemOut:
        ids.append(vm.id)
        return encode(engine, vm)

    monkeypatch.setattr(listed_rows.VmListItemOut, "of", counting)
    return ids


def expected(engine: Engine, vms: list[VmRecord]) -> bytes:
    return TypeAdapter(list[VmListItemOut]).dump_json([VmListItemOut.of(engine, vm) for vm in vms])


def test_the_body_is_the_list_the_response_model_writes_and_unchanged_rows_are_not_encoded_again(encoded):
    engine, rows, vms = Engine(), ListedRows(), records(50)
    first = rows.body(engine, vms)
    assert encoded == [vm.id for vm in vms]
    encoded.clear()
    again = rows.body(engine, list(vms))
    assert encoded == []
    assert again == first == expected(engine, vms)
    assert rows.body(engine, []) == b"[]"


def test_a_replaced_record_or_a_changed_state_is_encoded_again_and_gone_vms_are_dropped(encoded):
    engine, rows, vms = Engine(), ListedRows(), records(5)
    rows.body(engine, vms)
    encoded.clear()
    vms[1] = dataclasses.replace(vms[1], labels={"name": "renamed"})  # the engine reread it after a write
    engine.dead.add("vm-3")  # its init vanished: no write, another state reported
    body = rows.body(engine, vms[:4])
    assert encoded == ["vm-1", "vm-3"]
    listed = {row["vm_id"]: row for row in TypeAdapter(list[dict]).validate_json(body)}
    assert listed["vm-1"]["labels"] == {"name": "renamed"} and listed["vm-3"]["state"] == "dead"
    assert list(listed) == ["vm-0", "vm-1", "vm-2", "vm-3"]
    encoded.clear()
    rows.body(engine, vms)  # vm-4 was dropped with the list that left it out: encoded again
    assert encoded == ["vm-4"]
