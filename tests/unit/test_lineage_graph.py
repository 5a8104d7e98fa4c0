"""The time-axis branch graph's layout: newest first, one lane per open branch, children's lanes joining
their parent's row, folding, the lane cap, and data whose child is older than its parent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vmtui.core.lineage import NodeKind, build_lineage
from vmtui.core.lineage_graph import ASCII, graph_rows
from vmtui.core.models import Commit, Vm

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def vm(vm_id: str, minute: int, parent: str | None = None) -> Vm:
    return Vm(provider="p", id=vm_id, created_at=T0 + timedelta(minutes=minute), parent_commit_id=parent)


def commit(commit_id: str, minute: int, parent: str) -> Commit:
    return Commit(provider="p", id=commit_id, created_at=T0 + timedelta(minutes=minute), parent_vm_id=parent)


def drawn(rows) -> list[str]:
    """Each row as `<lanes> id`, the node's own column drawn `*`."""
    return ["".join(cell or "*" for cell in row.lanes) + " " + row.node.id for row in rows]


def fork():
    """root VM → c1 → three VMs started from c1 at minutes 3, 4, 5; an unrelated VM at minute 2."""
    return build_lineage(
        [vm("root", 0), vm("lone", 2), vm("a", 3, "c1"), vm("b", 4, "c1"), vm("c", 5, "c1")],
        [commit("c1", 1, "root")],
    )


def test_children_run_in_lanes_that_join_their_parent_newest_first():
    assert drawn(graph_rows(fork(), glyphs=ASCII)) == [
        "* c",
        "|* b",
        "||* a",
        "|||* lone",
        "*+' c1",  # the three lanes join c1's row (the ended `lone` lane is gone)
        "* root",
    ]


def test_a_folded_node_hides_its_descendants_and_counts_them():
    rows = graph_rows(fork(), {(NodeKind.COMMIT, "c1")}, glyphs=ASCII)
    assert [row.node.id for row in rows] == ["lone", "c1", "root"]
    assert [row.hidden for row in rows] == [0, 3, 0]
    assert graph_rows(fork(), {(NodeKind.VM, "root")})[-1].hidden == 4


def test_lanes_beyond_the_cap_share_one_column():
    rows = graph_rows(fork(), max_lanes=2, glyphs=ASCII)
    assert all(len(row.lanes) <= 2 for row in rows)
    assert drawn(rows)[2] == "|* a" and rows[2].lane == 1  # lane 2 drawn in the last (shared) column
    assert drawn(rows)[3] == "|* lone"


def test_a_child_older_than_its_parent_leaves_no_dangling_lane():
    lineage = build_lineage([vm("parent", 10), vm("child", 5, "c1")], [commit("c1", 8, "parent")])
    rows = graph_rows(lineage, glyphs=ASCII)
    assert [row.node.id for row in rows] == ["parent", "c1", "child"]
    assert all(len(row.lanes) == 1 for row in rows)
