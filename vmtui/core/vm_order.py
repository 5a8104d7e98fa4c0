"""The orders of the VM list: the value each column sorts a VM by, defined once.

The table (`vmtui.ui.widgets.vm_table`) sorts `Vm`s by them; the Vers provider orders a big list's raw
items by the same values to hand on the first rows before the rest is converted
(`vmtui.providers.vers`), reading each item through a view with the same attributes. Each value needs
only the attributes `SortFields` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Protocol

from vmtui.core.models import VmState


class SortFields(Protocol):
    """What the sort values read: a `Vm` has these, and so has a view of a raw list item."""

    @property
    def provider(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def state(self) -> VmState: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def parent_commit_id(self) -> str | None: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


SortValue = Callable[[SortFields], object]

SORT_VALUES: dict[str, SortValue] = {
    "provider": attrgetter("provider"),  # attrgetter where it can: a C call, not a Python one
    "name": lambda vm: vm.display_name.lower(),
    "state": attrgetter("state"),
    "age": lambda vm: (
        -(created.timestamp() if (created := vm.created_at) else 0.0)
    ),  # read once: raw items parse it
    "parent": lambda vm: vm.parent_commit_id or "",
    "labels": lambda vm: sorted(vm.labels.items()),
}
"""Column key → the value rows sort by (all of one column's values compare with each other)."""
