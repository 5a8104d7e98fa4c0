"""The lineage as a branch graph on a time axis, like `git log --graph`: one row per VM or commit,
newest first, each in a lane that runs down to its parent.

Pure layout (no UI): `graph_rows` places every node in a lane and draws the lane columns of its row.
A node takes the lane its newest child opened for it; the other children's lanes join it on that row
(`┘`, `┴`, crossing lanes as `┼`). Folded nodes hide their descendants (the row says how many). At most
`max_lanes` columns are drawn; lanes beyond share the last column, drawn `⋮`, so a wide fleet stays
readable at 80 columns.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from vmtui.core.lineage import Lineage, LineageNode, NodeKind

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NodeKey = tuple[NodeKind, str]


@dataclass(frozen=True)
class Glyphs:
    lane: str
    join_last: str
    join: str
    cross: str
    across: str
    overflow: str


UNICODE = Glyphs(lane="│", join_last="┘", join="┴", cross="┼", across="─", overflow="⋮")
ASCII = Glyphs(lane="|", join_last="'", join="+", cross="+", across="-", overflow=":")


@dataclass(frozen=True)
class GraphRow:
    node: LineageNode
    lanes: list[str]
    """One cell per drawn lane column: the node's own column holds "" (the caller draws its glyph)."""
    lane: int
    """The node's column."""
    hidden: int = 0
    """Descendants folded away under this node."""


def _created(node: LineageNode) -> datetime:
    created = node.item.created_at or _EPOCH
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def graph_rows(
    lineage: Lineage,
    folded: Collection[NodeKey] = (),
    *,
    max_lanes: int = 16,
    glyphs: Glyphs = UNICODE,
) -> list[GraphRow]:
    """Every node not folded away, newest first, with its lane and the lane columns of its row."""
    hidden: dict[NodeKey, int] = {}
    gone: set[NodeKey] = set()
    for key in folded:
        node = lineage.nodes.get(key)
        if node is None or node.key in gone:
            continue
        below = [n.key for n in node.walk() if n is not node]
        hidden[key] = len(below)
        gone.update(below)
    nodes = sorted(
        (n for n in lineage.nodes.values() if n.key not in gone),
        key=lambda n: (_created(n), n.kind.value, n.id),
        reverse=True,
    )
    order = {node.key: index for index, node in enumerate(nodes)}
    lanes: list[NodeKey | None] = []
    """What each lane runs down to: the parent it waits for, or None when free."""
    rows: list[GraphRow] = []
    for index, node in enumerate(nodes):
        joining = [i for i, waiting in enumerate(lanes) if waiting == node.key]
        if joining:
            lane = joining[0]
        else:
            lane = lanes.index(None) if None in lanes else len(lanes)
            if lane == len(lanes):
                lanes.append(None)
        cells = _row_cells(lanes, lane, joining[1:], max_lanes, glyphs)
        rows.append(GraphRow(node, cells, min(lane, max_lanes - 1), hidden.get(node.key, 0)))
        for other in joining[1:]:
            lanes[other] = None
        parent = node.parent
        lanes[lane] = parent.key if parent is not None and order.get(parent.key, -1) > index else None
        while lanes and lanes[-1] is None:
            lanes.pop()
    return rows


def _row_cells(
    lanes: list[NodeKey | None], lane: int, joins: list[int], max_lanes: int, glyphs: Glyphs
) -> list[str]:
    """The lane columns of one row: running lanes, the node's own column (""), the lanes joining it."""
    last_join = max(joins, default=-1)
    cells: list[str] = []
    for column, waiting in enumerate(lanes):
        if column == lane:
            cell = ""
        elif column in joins:
            cell = glyphs.join_last if column == last_join else glyphs.join
        elif lane < column < last_join:
            cell = glyphs.cross if waiting is not None else glyphs.across
        else:
            cell = glyphs.lane if waiting is not None else " "
        cells.append(cell)
    if len(cells) > max_lanes:
        kept = cells[: max_lanes - 1]
        rest = cells[max_lanes - 1 :]
        cells = [*kept, "" if "" in rest else (glyphs.overflow if any(c.strip() for c in rest) else " ")]
    return cells
