"""Security of the local engine (root): what a process inside a VM can reach, file modes, and where
planted secret values (API token, Swiftor secret and password, SSH and TLS private keys) may appear."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import API, destroy_leftovers, wait_for
from tests.reliability.vmfiles import exec_in

pytestmark = pytest.mark.root

PRIVATE_FILES = [
    "token",
    "jwt-secret",
    "endpoint.json",
    "engine.db",
    "ssh_host_ed25519_key",
    "tls/ca.key",
    "tls/server.key",
    "lock",
]


@pytest.fixture
def host_secrets() -> Iterator[dict[str, str]]:
    """Secret files planted in the host's /root and /tmp (removed afterwards): path -> value."""
    planted = {}
    for folder in ("/root", "/tmp"):
        path = Path(folder) / f"vmtui-reliability-{secrets.token_hex(6)}"
        value = f"host-secret-{secrets.token_hex(16)}"
        path.write_text(value)
        planted[str(path)] = value
    yield planted
    for path in planted:
        Path(path).unlink(missing_ok=True)


def _host_address() -> str | None:
    """A non-loopback address of this host, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_vm_sees_no_host_secret_other_vm_engine_state_or_host_process(
    serve, tmp_path, host_secrets
) -> None:
    state = tmp_path / "state"
    daemon = serve(state)
    api_port = int(daemon.api.rsplit(":", 1)[1])
    other_secret = f"other-vm-secret-{secrets.token_hex(16)}"
    needles = [*host_secrets.values(), daemon.token, (state / "jwt-secret").read_text().strip(), other_secret]
    with daemon.client() as client:
        probe = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        other = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        exec_in(client, other, "cat > /root/other-secret", stdin=other_secret)
        other_key = client.get(f"{API}/vm/{other}/ssh_key").json()["ssh_private_key"]
        needles.append(other_key.splitlines()[2])  # a line of the other VM's private key
        exec_in(client, probe, "cat > /needles", stdin="\n".join(needles) + "\n")
        exec_in(
            client, probe, "cat > /root/control", stdin=needles[0]
        )  # proves the search below finds things

        # Files: the planted paths, the state dir, and a search of everything the VM can see.
        reads = " ".join(f"{p} {state}/token {state}/engine.db" for p in host_secrets)
        files = exec_in(
            client,
            probe,
            f"for f in {reads}; do cat $f >/dev/null 2>&1 && echo READ $f; done; "
            f"ls -d {state} /vms 2>/dev/null; "
            "grep -rlsF -f /needles / --exclude-dir=proc --exclude-dir=sys "
            "--exclude-dir=usr --exclude-dir=dev | grep -vx /needles; "
            "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -F -f /needles",
        )
        seen = files["stdout"]
        assert seen == "/root/control\n", f"the VM can see secrets or engine state: {seen[:300]!r}"

        # Processes: only the VM's own few, none of the host's (daemon, pytest).
        procs = exec_in(client, probe, "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done")
        lines = [line for line in procs["stdout"].splitlines() if line.strip()]
        assert 1 <= len(lines) <= 6, f"the VM sees {len(lines)} processes: {lines}"
        assert not any("serve" in line or "pytest" in line for line in lines), lines
        assert str(daemon.pid) not in exec_in(client, probe, "ls /proc")["stdout"].split() or daemon.pid < 10

        # Network: only loopback, and the engine's API and SSH ports are not reachable from inside.
        interfaces = exec_in(client, probe, "ls /sys/class/net")["stdout"].split()
        assert interfaces == ["lo"]
        targets = [("127.0.0.1", api_port), ("127.0.0.1", daemon.ssh_port)]
        if (address := _host_address()) is not None:
            targets.append((address, api_port))
        for host, port in targets:
            dial = exec_in(
                client,
                probe,
                f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null "
                "&& echo REACHED || echo blocked",
            )
            assert dial["stdout"].strip() == "blocked", f"the VM reaches {host}:{port}"

        # Root inside cannot undo the isolation: no mounts, no device nodes (e.g. the host's disk).
        device = os.stat("/").st_dev
        escape = exec_in(
            client,
            probe,
            f"mount -t tmpfs x /mnt 2>/dev/null && echo MOUNTED; "
            f"mknod /tmp/disk b {os.major(device)} {os.minor(device)} 2>/dev/null "
            "&& echo MKNOD; true",
        )
        assert escape["stdout"] == "", escape
        # The files API resolves paths inside the VM, never on the host.
        for path in host_secrets:
            for spelled in (path, f"../../../../..{path}"):
                answer = client.get(f"{API}/vm/{probe}/files", params={"path": spelled})
                assert answer.status_code in (400, 404), answer.text[:200]
                assert host_secrets[path] not in answer.text


def test_private_files_are_0600_and_the_state_dir_0700(serve, tmp_path) -> None:
    state = tmp_path / "state"
    daemon = serve(state)
    with daemon.client() as client:
        client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}})
    for name in PRIVATE_FILES:
        mode = stat.S_IMODE((state / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    for name in (".", "tls"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o700, name
    for extra in ("engine.db-wal", "engine.db-shm"):
        if (state / extra).exists():
            assert stat.S_IMODE((state / extra).stat().st_mode) == 0o600, extra


def _background_daemon(state: Path) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "vmtui", "serve", "--background", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    api = result.stdout.split("api=", 1)[1].split()[0]
    return api, json.loads((state / "endpoint.json").read_text())["pid"]


def test_planted_secrets_never_reach_the_log_or_error_texts(tmp_path) -> None:
    state = tmp_path / "state"
    api, pid = _background_daemon(state)  # the real detached daemon, logging to serve.log
    try:
        token = (state / "token").read_text().strip()
        swiftor_token = subprocess.run(
            [
                sys.executable,
                "-m",
                "vmtui",
                "serve",
                "--state-dir",
                str(state),
                "--print-token",
                "sec@example.com",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        swiftor_secret = f"swiftor-secret-{secrets.token_hex(16)}"
        password = f"pw-{secrets.token_hex(16)}"
        texts: list[str] = []
        vers = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        swiftor = httpx.Client(
            base_url=f"{api}/swiftor", headers={"Authorization": f"Bearer {swiftor_token}"}, timeout=60
        )
        with vers, swiftor:
            vm_id = vers.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
            private_key = vers.get(f"{API}/vm/{vm_id}/ssh_key").json()["ssh_private_key"]
            body = {
                "config": {"vmlabel": "sec", "region": {"code": "us"}, "password": password},
                "os": {"distribution": {"code": "ubuntu"}, "desktop": "xfce", "cpu": 1, "ram": 1},
            }
            created = swiftor.post("/vms/create", json=body)
            assert created.status_code == 200, created.text
            swiftor_vm = (
                created.json()["vm"]["vmid"] if "vmid" in created.json()["vm"] else created.json()["vm"]["id"]
            )
            saved = swiftor.post(
                "/vms/secrets", json={"vmid": swiftor_vm, "key": "API_KEY", "value": swiftor_secret}
            )
            assert saved.status_code == 200, saved.text
            assert swiftor.get(f"/vms/start/{swiftor_vm}").status_code == 200
            echoed = swiftor.post("/vms/exec", json={"vmid": swiftor_vm, "command": "echo $API_KEY"})
            assert echoed.json()["stdout"].strip() == swiftor_secret  # the secret really is in use
            # Failures that carry the secrets in the request: none may echo them back.
            texts += [
                httpx.get(f"{api}{API}/vms", headers={"Authorization": f"Bearer {token}x"}, timeout=60).text,
                httpx.get(f"{api}{API}/vms", headers={"Authorization": f"Basic {token}"}, timeout=60).text,
                swiftor.post("/vms/create", json={**body, "os": {"cpu": "many"}}).text,
                swiftor.post(
                    "/vms/create",
                    json={"config": {**body["config"], "password": password + "\x00"}, "os": body["os"]},
                ).text,
                swiftor.post("/vms/secrets", json={"vmid": "nope", "key": "K", "value": swiftor_secret}).text,
                swiftor.post(
                    "/vms/secrets", json={"vmid": swiftor_vm, "key": "bad key", "value": swiftor_secret}
                ).text,
                vers.post(
                    f"{API}/vm/{vm_id}/exec", json={"command": ["false"], "env": {"X": swiftor_secret}}
                ).text,
                vers.post(f"{API}/vm/{vm_id}/exec", json={"command": [], "env": {"X": swiftor_secret}}).text,
            ]
            assert vers.delete(f"{API}/vm/{vm_id}").status_code == 200
            assert swiftor.get(f"/vms/delete/{swiftor_vm}").status_code == 200
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=30)
        destroy_leftovers(state)
    planted = {
        "API token": token,
        "Swiftor secret": swiftor_secret,
        "Swiftor password": password,
        "JWT signing secret": (state / "jwt-secret").read_text().strip(),
        "SSH private key": private_key.splitlines()[2],
        "TLS CA key": (state / "tls" / "ca.key").read_text().splitlines()[1],
    }
    log = (state / "serve.log").read_text(errors="replace")
    assert "serving state dir" in log, "the daemon did not log at all: nothing was checked"
    for what, value in planted.items():
        assert value not in log, f"the {what} appears in serve.log"
        for text in texts:
            assert value not in text, f"the {what} appears in an error text: {text[:200]!r}"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
