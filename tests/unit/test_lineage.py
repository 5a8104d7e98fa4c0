from datetime import UTC, datetime, timedelta

from vmtui.core.lineage import NodeKind, build_lineage
from vmtui.core.models import Commit, Vm

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def vm(i, parent=None, grand=None, t=0):
    return Vm(
        provider="p", id=i, parent_commit_id=parent, grandparent_vm_id=grand, created_at=T0 + timedelta(t)
    )


def commit(i, parent=None, grand=None, t=0):
    return Commit(
        provider="p", id=i, parent_vm_id=parent, grandparent_commit_id=grand, created_at=T0 + timedelta(t)
    )


def shape(node):
    return (node.kind.value, node.id, [shape(c) for c in node.children])


def test_linear_history_and_branches():
    vms = [vm("root", t=0), vm("b1", parent="c1", t=2), vm("b2", parent="c1", t=3)]
    commits = [commit("c1", parent="root", t=1)]
    lineage = build_lineage(vms, commits)
    assert [shape(r) for r in lineage.roots] == [
        ("vm", "root", [("commit", "c1", [("vm", "b1", []), ("vm", "b2", [])])])
    ]
    assert [n.id for n in lineage.ancestors(NodeKind.VM, "b2")] == ["c1", "root"]
    assert {n.id for n in lineage.descendants(NodeKind.VM, "root")} == {"c1", "b1", "b2"}


def test_dangling_parent_becomes_root_and_remembers_it():
    lineage = build_lineage([vm("orphan", parent="gone")], [])
    (root,) = lineage.roots
    assert root.id == "orphan"
    assert root.missing_parent == "gone"


def test_grandparent_bridges_a_deleted_vm():
    # c1 came from VM x (deleted); c2 came from a VM also deleted, whose parent commit was c1.
    commits = [commit("c1", parent="x"), commit("c2", parent="y", grand="c1", t=1)]
    lineage = build_lineage([], commits)
    assert [shape(r) for r in lineage.roots] == [("commit", "c1", [("commit", "c2", [])])]


def test_cycle_is_broken_deterministically_and_nothing_is_lost():
    vms = [vm("a", parent="c"), vm("b", parent="d")]
    commits = [commit("c", parent="b"), commit("d", parent="a")]
    first = build_lineage(vms, commits)
    second = build_lineage(list(reversed(vms)), list(reversed(commits)))
    assert len(first.nodes) == 4
    assert sum(1 for r in first.roots for _ in r.walk()) == 4
    assert [shape(r) for r in first.roots] == [shape(r) for r in second.roots]
    assert sum(n.cycle_broken for n in first.nodes.values()) == 1


def test_self_parent_is_not_a_cycle_trap():
    lineage = build_lineage([vm("a", grand="a")], [])
    assert [r.id for r in lineage.roots] == ["a"]


def test_deep_chain_does_not_recurse():
    vms, commits = [vm("v0")], []
    for i in range(1, 3000):
        commits.append(commit(f"c{i}", parent=f"v{i - 1}", t=2 * i))
        vms.append(vm(f"v{i}", parent=f"c{i}", t=2 * i + 1))
    lineage = build_lineage(vms, commits)
    assert len(lineage.roots) == 1
    assert len(lineage.ancestors(NodeKind.VM, "v2999")) == 5998
