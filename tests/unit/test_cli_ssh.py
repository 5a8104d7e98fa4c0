"""`vmtui ssh` / `vmtui cp` argument handling, run as real processes (no engine needed)."""

import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmtui", *args], capture_output=True, check=False, text=True, timeout=60
    )


def test_ssh_without_a_vm_names_what_is_missing(isolated_home: Path):
    result = _run("ssh")
    assert result.returncode == 2
    assert result.stderr == "vmtui ssh: name a VM: vmtui ssh <vm> [-- command...]\n"


def test_cp_needs_exactly_one_vm_side(isolated_home: Path, tmp_path: Path):
    local = tmp_path / "file"
    local.write_text("x")
    result = _run("cp", str(local), str(tmp_path / "other"))
    assert result.returncode == 2 and "exactly one side must be a VM path" in result.stderr
    assert not os.path.exists(tmp_path / "other")
