"""VM lineage kept on disk per profile, so a second start needs no metadata request at all.

A Vers VM's lineage (the commit it was started from, the VM that commit was taken of) and its address
are fixed when the VM is made, and the list does not carry them: each costs one `GET /vm/{id}/metadata`.
They are stored under the user cache directory, one JSON file per profile and API URL, written
atomically with mode 0600. A missing, unreadable or malformed file is an empty cache, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmtui.core.models import Vm
from vmtui.paths import cache_dir, write_private

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Lineage:
    """What the metadata adds to a listed VM."""

    parent_commit_id: str | None
    grandparent_vm_id: str | None
    ip: str | None

    @classmethod
    def of(cls, vm: Vm) -> Lineage:
        return cls(vm.parent_commit_id, vm.grandparent_vm_id, vm.ip)

    def apply(self, vm: Vm) -> Vm:
        return vm.model_copy(
            update={"parent_commit_id": self.parent_commit_id, "grandparent_vm_id": self.grandparent_vm_id}
            | ({"ip": self.ip} if self.ip else {})
        )


class LineageCache:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_profile(cls, profile: str, api_url: str, directory: Path | None = None) -> LineageCache:
        """The cache file of one profile talking to one API (a renamed or re-pointed profile starts afresh)."""
        key = hashlib.sha256(f"{profile}\0{api_url}".encode()).hexdigest()[:32]
        return cls((directory or cache_dir() / "lineage") / f"{key}.json")

    def load(self) -> dict[str, Lineage]:
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the lineage cache %s: %s", self.path, exc)
            return {}
        return _entries(document)

    def save(self, entries: Mapping[str, Lineage]) -> None:
        document = {
            "version": FORMAT_VERSION,
            "vms": {
                vm_id: [item.parent_commit_id, item.grandparent_vm_id, item.ip]
                for vm_id, item in entries.items()
            },
        }
        try:
            write_private(self.path, json.dumps(document, separators=(",", ":")))
        except OSError as exc:
            log.warning("cannot write the lineage cache %s: %s", self.path, exc)


def _entries(document: Any) -> dict[str, Lineage]:
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        return {}
    vms = document.get("vms")
    if not isinstance(vms, dict):
        return {}
    entries: dict[str, Lineage] = {}
    for vm_id, item in vms.items():
        if (
            isinstance(item, list)
            and len(item) == 3
            and all(part is None or isinstance(part, str) for part in item)
        ):
            entries[vm_id] = Lineage(item[0], item[1], item[2])
    return entries
