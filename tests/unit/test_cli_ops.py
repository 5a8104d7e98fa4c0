"""`vmtui exec` / `vmtui tunnel` argument handling, run as real processes (no engine needed)."""

import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmtui", *args], capture_output=True, check=False, text=True, timeout=60
    )


def test_exec_without_a_command_names_what_is_missing(isolated_home: Path):
    result = _run("exec", "some-vm")
    assert result.returncode == 2
    assert result.stderr == "vmtui exec: name a command: vmtui exec <vm> -- command...\n"


def test_exec_refuses_a_negative_timeout(isolated_home: Path):
    result = _run("exec", "-t", "-1", "some-vm", "--", "true")
    assert result.returncode == 2 and "--timeout must be 0 or more seconds" in result.stderr


def test_tunnel_refuses_ports_that_are_not_numbers_or_out_of_range(isolated_home: Path):
    for spec, message in (
        ("80:http", "ports must be LOCAL:REMOTE numbers"),
        ("8080:0", "ports out of range"),
    ):
        result = _run("tunnel", "some-vm", spec)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_help_lists_every_command(isolated_home: Path):
    result = _run("--help")
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert result.returncode == 0
    assert {
        *("tui", "serve", "config", "ssh", "cp", "web", "exec", "tunnel", "commit", "tag", "status"),
        *("info", "run", "run-commit", "branch", "delete", "pause", "resume", "start", "stop", "label"),
        *("resize", "env", "image", "alias", "whoami"),
    } <= listed
