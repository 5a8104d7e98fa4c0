"""`ListedRows`: the body of `GET /vms`, each VM's row encoded once while its record and state stay."""

from __future__ import annotations

from pydantic import TypeAdapter

from vmtui.local.api.schemas import VmListItemOut
from vmtui.local.engine import Engine
from vmtui.local.store import VmRecord

_ROW = TypeAdapter(VmListItemOut)


class ListedRows:
    """Encoding 1,000 rows through their response model took ~6 ms per list; a client polling an
    unchanged or slightly changed fleet pays it for the changed rows only. The engine hands out the same
    record objects while its VM table is unchanged (`Engine.list_vms`) and new ones after any write, so a
    kept row is current while its record is the same object and the state reported for it (which may
    turn `dead` without a write) is the same."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[VmRecord, str, bytes]] = {}

    def body(self, engine: Engine, vms: list[VmRecord]) -> bytes:
        """The JSON list of `vms`, as `TypeAdapter(list[VmListItemOut]).dump_json` writes it."""
        rows: dict[str, tuple[VmRecord, str, bytes]] = {}
        for vm in vms:
            state = engine.vm_state(vm)
            kept = self._rows.get(vm.id)
            if kept is None or kept[0] is not vm or kept[1] != state:
                kept = (vm, state, _ROW.dump_json(VmListItemOut.of(engine, vm)))
            rows[vm.id] = kept
        self._rows = rows  # rows of VMs no longer listed are dropped
        return b"[" + b",".join(row for _vm, _state, row in rows.values()) + b"]"
