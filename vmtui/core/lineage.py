"""Build the commit/branch tree from VMs (parent commit) and commits (parent VM).

The APIs expose lineage only as parent pointers, and real data is messy: parents may be
deleted (dangling) or, in corrupt data, form cycles. The builder never loops and never
drops a node: a node whose parent is unknown, or whose parent chain cycles back to it,
becomes a root and records why.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vmtui.core.models import Commit, Vm


class NodeKind(enum.StrEnum):
    VM = "vm"
    COMMIT = "commit"


@dataclass
class LineageNode:
    kind: NodeKind
    id: str
    item: Vm | Commit
    children: list[LineageNode] = field(default_factory=list)
    parent: LineageNode | None = field(default=None, repr=False)
    missing_parent: str | None = None
    """Id of a parent that the data names but that is not present (deleted, or another owner's)."""
    cycle_broken: bool = False

    @property
    def key(self) -> tuple[NodeKind, str]:
        return (self.kind, self.id)

    def walk(self) -> Iterable[LineageNode]:
        """This node and every descendant, depth first, iteratively (deep chains are fine)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass
class Lineage:
    roots: list[LineageNode]
    nodes: dict[tuple[NodeKind, str], LineageNode]

    def find(self, kind: NodeKind, node_id: str) -> LineageNode | None:
        return self.nodes.get((kind, node_id))

    def ancestors(self, kind: NodeKind, node_id: str) -> list[LineageNode]:
        """Parents from the nearest up to the root."""
        node = self.find(kind, node_id)
        out: list[LineageNode] = []
        while node is not None and node.parent is not None:
            node = node.parent
            out.append(node)
        return out

    def descendants(self, kind: NodeKind, node_id: str) -> list[LineageNode]:
        node = self.find(kind, node_id)
        if node is None:
            return []
        return [n for n in node.walk() if n is not node]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sort_key(node: LineageNode) -> tuple[datetime, str]:
    created = node.item.created_at or _EPOCH
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (created, node.id)


def build_lineage(vms: Iterable[Vm], commits: Iterable[Commit]) -> Lineage:
    nodes: dict[tuple[NodeKind, str], LineageNode] = {}
    for vm in vms:
        nodes[(NodeKind.VM, vm.id)] = LineageNode(NodeKind.VM, vm.id, vm)
    for commit in commits:
        nodes[(NodeKind.COMMIT, commit.id)] = LineageNode(NodeKind.COMMIT, commit.id, commit)

    parent_of: dict[tuple[NodeKind, str], tuple[NodeKind, str]] = {}
    for key, node in nodes.items():
        wanted = _parent_candidates(node)
        found = next((cand for cand in wanted if cand in nodes and cand != key), None)
        if found is not None:
            parent_of[key] = found
        elif wanted:
            node.missing_parent = wanted[0][1]

    _break_cycles(parent_of, nodes)

    roots: list[LineageNode] = []
    for key, node in nodes.items():
        parent_key = parent_of.get(key)
        if parent_key is None:
            roots.append(node)
        else:
            parent = nodes[parent_key]
            node.parent = parent
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=_sort_key)
    roots.sort(key=_sort_key)
    return Lineage(roots=roots, nodes=nodes)


def _parent_candidates(node: LineageNode) -> list[tuple[NodeKind, str]]:
    """Preferred parent first; the grandparent link bridges a deleted middle generation."""
    out: list[tuple[NodeKind, str]] = []
    item = node.item
    if isinstance(item, Vm):
        if item.parent_commit_id:
            out.append((NodeKind.COMMIT, item.parent_commit_id))
        if item.grandparent_vm_id:
            out.append((NodeKind.VM, item.grandparent_vm_id))
    else:
        if item.parent_vm_id:
            out.append((NodeKind.VM, item.parent_vm_id))
        if item.grandparent_commit_id:
            out.append((NodeKind.COMMIT, item.grandparent_commit_id))
    return out


def _break_cycles(
    parent_of: dict[tuple[NodeKind, str], tuple[NodeKind, str]],
    nodes: dict[tuple[NodeKind, str], LineageNode],
) -> None:
    """Cut every cycle at its smallest key, so the result is the same whatever the input order."""
    done: set[tuple[NodeKind, str]] = set()
    for start in sorted(parent_of):
        path: list[tuple[NodeKind, str]] = []
        on_path: set[tuple[NodeKind, str]] = set()
        key: tuple[NodeKind, str] | None = start
        while key is not None and key not in done:
            if key in on_path:
                cycle = path[path.index(key) :]
                cut = min(cycle)
                del parent_of[cut]
                nodes[cut].cycle_broken = True
                break
            on_path.add(key)
            path.append(key)
            key = parent_of.get(key)
        done.update(path)
