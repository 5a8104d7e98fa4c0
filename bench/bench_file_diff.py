"""The engine's file diff (vmtui/local/layer_diff.py) of two commits with 10,000 files each, against
`diff -rq` of the same two trees, in the same run.

Layers are built on disk in the engine's layer format (`root/` and `usr/` overlayfs upper trees over
an image rootfs), as `cp -a` of a VM's writable layer leaves them; 1 % of the files are changed, 1 %
added and 1 % removed (whiteouts, as root). Rows (median of `REPEATS`):
- sibling commits: two commits made from the same image, each a full 10,000-file layer (every path
  is looked up in both chains; unchanged files are equal by size and modification time);
- parent and child: the child's layer holds only the 3 % that differ (what a commit of a VM branched
  from the parent captures), so only those paths are looked at.
The baseline is `diff -rq` of the two merged trees as plain directories (it reads every file).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from vmtui.local.layer_diff import Chain, LayerDiff

FILES = 10_000
PER_DIR = 100
REPEATS = 3


def _write_tree(top: Path, names: list[str], content: dict[str, str]) -> None:
    for name in names:
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.get(name, f"line of {name}\n" * 3))


def _build(base: Path) -> dict[str, Any]:
    names = [f"srv/d{n // PER_DIR:03d}/f{n:05d}.txt" for n in range(FILES)]
    step = 100
    changed = {name: f"changed {name}\n" for name in names[::step]}
    removed = set(names[1::step])
    added = [f"srv/new/f{n:05d}.txt" for n in range(0, FILES, step)]
    image = base / "image"
    image.mkdir()
    parent = base / "layers" / "parent"
    _write_tree(parent / "root", names, {})
    (parent / "usr").mkdir()
    sibling = base / "layers" / "sibling"
    shutil.copytree(parent, sibling, symlinks=True)  # same mtimes: copy2, like cp -a
    child = base / "layers" / "child"
    (child / "usr").mkdir(parents=True)
    _write_tree(child / "root", [*changed, *added], changed)
    _write_tree(sibling / "root", [*changed, *added], changed)
    for name in removed:
        (sibling / "root" / name).unlink()
        if os.geteuid() == 0:
            os.mknod(child / "root" / name, 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout
    plain_before = base / "plain-before"
    shutil.copytree(parent / "root", plain_before, symlinks=True)
    plain_after = base / "plain-after"
    shutil.copytree(sibling / "root", plain_after, symlinks=True)
    return {
        "image": image,
        "parent": parent,
        "sibling": sibling,
        "child": child,
        "plain": (plain_before, plain_after),
        "expected": len(changed) + len(removed) + len(added),
    }


def _median(work) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        trees = _build(Path(tmp))
        image = trees["image"]

        def diff(before: list[Path], after: list[Path]) -> int:
            changes = LayerDiff(Chain.of(before, image, False), Chain.of(after, image, False)).changes()
            return sum(1 for c in changes if c.kind == "file")

        siblings = ([trees["parent"]], [trees["sibling"]])
        descent = ([trees["parent"]], [trees["child"], trees["parent"]])
        expected = trees["expected"] if os.geteuid() == 0 else None
        for before, after in (siblings, descent):
            found = diff(before, after)
            if expected is not None and found != expected:
                raise AssertionError(f"the diff found {found} changed files, not {expected}")
        before_dir, after_dir = trees["plain"]
        baseline = _median(
            lambda: subprocess.run(
                ["diff", "-rq", str(before_dir), str(after_dir)],
                check=False,
                stdout=subprocess.DEVNULL,  # 1: they differ
            )
        )
        rows = []
        for label, (before, after) in (
            ("sibling commits, 10,000 files each, 3% differ", siblings),
            ("parent and child commit, 10,000 files, 3% differ", descent),
        ):
            value = _median(lambda before=before, after=after: diff(before, after))
            rows.append(
                {
                    "name": f"file diff {label} (vs diff -rq)",
                    "value": round(value, 1),
                    "unit": "ms",
                    "baseline": round(baseline, 1),
                    "ratio": round(value / baseline, 2),
                }
            )
        return rows
