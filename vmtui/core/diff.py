"""Keyed fleet diff: what the UI must add, change and drop to match a new snapshot."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Keyed(Protocol):
    @property
    def key(self) -> Hashable: ...


T = TypeVar("T", bound=Keyed)


@dataclass
class Diff(Generic[T]):
    added: list[T] = field(default_factory=list)
    changed: list[T] = field(default_factory=list)
    removed: list[Hashable] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def diff_by_key(old: Mapping[Hashable, T], new: Iterable[T]) -> Diff[T]:
    """Compare a keyed mapping of current items against a fresh list. Order of `new` is kept."""
    result: Diff[T] = Diff()
    seen: set[Hashable] = set()
    for item in new:
        key = item.key
        if key in seen:
            continue
        seen.add(key)
        before = old.get(key)
        if before is None:
            result.added.append(item)
        elif before != item:
            result.changed.append(item)
    result.removed = [key for key in old if key not in seen]
    return result
