"""`python -m tools.screenshots DIR` draws the README screenshots over a REAL local engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import screenshots

CHECKOUT = Path(__file__).resolve().parents[2]  # `tools` is importable from the checkout's root

EXPECTED = {
    "main": ("web", "db", "Lineage", "web configured", "paused"),
    "help": ("Branch",),
    "create": ("vCPU",),
    "delete-confirm": ("Delete", "web"),
    "filter": ("state:running",),
    "narrow-80x24": ("web",),
    "ascii": ("web",),
    "images": ("default",),
    "action-log": ("commit", "resume", "pause", "vers"),
    "resources": ("CPU", "memory", "MiB"),
    "terminal": ("uname", "Linux", "bin", "usr"),
    "terminal-zoomed": ("Linux",),
    "file-diff": ("/srv/app/config.toml", "workers", "debug", "cache.db"),
    "exec": ("app-version", "exit 0", "usr"),
    "broadcast": ("2 VMs", "exit 1", "no /etc/app-version", "1 VM: web", "v2", "2 failed"),
    "tunnels": ("127.0.0.1:", "web", "up", "Forwarding"),
    "graph": ("you are here", "web"),
    "tags": ("stable",),
    "commits": ("↶", "web configured", "release 2", "public"),
    "scratch": ("workers = 4", "web"),
}


def svg_text(path) -> str:
    """The SVG with Textual's non-breaking spaces turned back into plain ones."""
    return path.read_text().replace("&#160;", " ")


@pytest.mark.root
def test_screenshots_come_from_a_real_engine_and_leave_nothing_running(tmp_path):
    out, work = tmp_path / "shots", tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tools.screenshots", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=CHECKOUT,
        env={**os.environ, "TMPDIR": str(work)},
    )
    assert result.returncode == 0, result.stderr  # 1 also when a VM process outlived the engine
    assert sorted(p.stem for p in out.glob("*.svg")) == sorted(EXPECTED)
    for name, words in EXPECTED.items():
        text = svg_text(out / f"{name}.svg")
        assert text.startswith("<svg") and len(text) > 10_000
        missing = [word for word in words if word not in text]
        assert not missing, f"{name}.svg lacks {missing}"
    assert list(work.iterdir()) == []  # the engine's state dir is gone with its VMs


def test_without_root_it_says_why_and_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert screenshots.main([str(tmp_path / "shots")]) == 1
    assert "needs root" in capsys.readouterr().err
    assert not (tmp_path / "shots").exists()
