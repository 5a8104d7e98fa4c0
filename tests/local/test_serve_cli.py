"""`vmtui serve` as a real subprocess: ready line, files, auth, lock, listen rule, signals, restart."""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vmtui.local.daemon import ServeError, ServeOptions

READY = re.compile(r"^vmtui serve ready api=(http://\S+) ssh=(\S+) token-file=(\S+) ca=(\S+)$")


def _serve_argv(state_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vmtui", "serve", "--state-dir", str(state_dir), *extra]


def _run_serve(state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _serve_argv(state_dir, *extra), check=False, capture_output=True, text=True, timeout=120
    )


class Daemon:
    """A foreground `vmtui serve` child and the facts of its ready line."""

    def __init__(self, state_dir: Path, *extra: str):
        self.proc = subprocess.Popen(
            _serve_argv(state_dir, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = _read_line(self.proc, timeout=90)
        match = READY.match(line)
        assert match, (
            f"no ready line: {line!r}; stderr: {self.proc.stderr.read() if self.proc.poll() else ''}"
        )
        self.line = line
        self.api, self.ssh, token_file, self.ca = match.groups()
        self.token_file = Path(token_file)
        self.token = self.token_file.read_text().strip()

    def client(self, authed: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if authed else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


@pytest.fixture
def daemon(tmp_path):
    started = Daemon(tmp_path / "state")
    yield started
    started.stop()


def test_ready_line_files_auth_and_clean_sigterm(tmp_path, daemon):
    state = tmp_path / "state"
    endpoint = json.loads((state / "endpoint.json").read_text())
    assert endpoint["api_url"] == daemon.api and endpoint["pid"] == daemon.proc.pid
    assert daemon.api.startswith("http://127.0.0.1:")
    for private in (state / "endpoint.json", daemon.token_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert len(daemon.token) >= 32 and daemon.token not in (state / "endpoint.json").read_text()

    with daemon.client(authed=False) as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        refused = anonymous.get("/api/v1/vms")
        assert refused.status_code == 401
        assert refused.json() == {"success": False, "error": "Missing or invalid Authorization header"}
    with daemon.client() as client:
        assert client.get("/api/v1/vms").json() == []
        assert "/api/v1/vm/new_root" in client.get("/openapi.json").json()["paths"]

    assert daemon.stop() == 0
    assert not (state / "endpoint.json").exists()


def test_second_daemon_on_the_same_state_is_refused(tmp_path, daemon):
    second = _run_serve(tmp_path / "state")
    assert second.returncode == 1
    assert f"pid {daemon.proc.pid}" in second.stderr and daemon.api in second.stderr
    assert "already uses state dir" in second.stderr
    background = _run_serve(tmp_path / "state", "--background")
    assert background.returncode == 1 and "already uses state dir" in background.stderr
    with daemon.client() as client:
        assert client.get("/api/v1/vms").status_code == 200


def test_non_loopback_needs_explicit_listen(tmp_path):
    with pytest.raises(ServeError, match="--listen 0.0.0.0"):
        ServeOptions(state_dir=tmp_path, host="0.0.0.0").check()
    ServeOptions(state_dir=tmp_path, host="0.0.0.0", listen_explicit=True).check()
    bad = _run_serve(tmp_path / "s", "--listen", "example.com")
    assert bad.returncode == 1 and "needs an IP address" in bad.stderr

    exposed = Daemon(tmp_path / "state", "--listen", "0.0.0.0")
    try:
        with exposed.client() as client:
            assert client.get("/api/v1/vms").status_code == 200
    finally:
        assert exposed.stop(signal.SIGINT) == 0


def test_background_detaches_and_keeps_serving(tmp_path):
    state = tmp_path / "state"
    result = _run_serve(state, "--background")
    assert result.returncode == 0, result.stderr
    match = READY.match(result.stdout.strip())
    assert match
    pid = json.loads((state / "endpoint.json").read_text())["pid"]
    try:
        assert os.getsid(pid) == pid  # its own session: it outlives the terminal that started it
        token = Path(match.group(3)).read_text().strip()
        response = httpx.get(
            f"{match.group(1)}/api/v1/vms", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert response.status_code == 200
        assert (state / "serve.log").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
    assert not (state / "endpoint.json").exists()


def test_print_token_issues_a_swiftor_token(tmp_path):
    state = tmp_path / "state"
    result = _run_serve(state, "--print-token", "Dev@Example.com")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().count(".") == 2
    assert stat.S_IMODE((state / "jwt-secret").stat().st_mode) == 0o600
    bad = _run_serve(state, "--print-token", "not-an-email")
    assert bad.returncode == 1 and "not an email" in bad.stderr


@pytest.mark.root
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_restart_finds_vms_and_commits(tmp_path, how):
    state = tmp_path / "state"
    first = Daemon(state)
    with first.client() as client:
        vm_id = client.post("/api/v1/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        client.post(f"/api/v1/vm/{vm_id}/exec", json={"command": ["sh", "-c", "echo kept > /root/kept"]})
        commit_id = client.post(f"/api/v1/vm/{vm_id}/commit").json()["commit_id"]
    first.stop(how)

    second = Daemon(state)
    try:
        with second.client() as client:
            assert [vm["vm_id"] for vm in client.get("/api/v1/vms").json()] == [vm_id]
            assert client.get(f"/api/v1/vm/{vm_id}/status").json()["state"] == "running"
            assert [c["commit_id"] for c in client.get("/api/v1/commits").json()["commits"]] == [commit_id]
            out = client.post(f"/api/v1/vm/{vm_id}/exec", json={"command": ["cat", "/root/kept"]}).json()
            assert out["stdout"] == "kept\n"
            assert client.delete(f"/api/v1/vm/{vm_id}").status_code == 200
    finally:
        assert second.stop() == 0


def test_a_busy_port_is_a_clear_error_in_both_modes(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for extra in ([], ["--background"]):
            result = _run_serve(tmp_path / "state", "--port", port, *extra)
            assert result.returncode == 1
            assert f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
        ssh_busy = _run_serve(tmp_path / "state", "--ssh-port", port)
        assert ssh_busy.returncode == 1
        assert f"cannot start the SSH gateway on 127.0.0.1:{port}" in ssh_busy.stderr, ssh_busy.stderr
        assert not (tmp_path / "state" / "endpoint.json").exists()


def test_the_daemon_lifts_its_open_file_limit_for_a_pidfd_per_vm(tmp_path):
    """Started with a soft limit of 256 open files, the daemon runs with its hard limit: it holds a
    pidfd per running VM, and 1,000 VMs must not run it out of file descriptors."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("the hard limit on open files is too low to see it lifted")
    proc = subprocess.Popen(  # util-linux prlimit sets the limits, then execs the daemon (same pid)
        ["prlimit", f"--nofile=256:{hard}", *_serve_argv(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert READY.match(_read_line(proc, timeout=90))
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        soft_now = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(soft_now) == hard
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
