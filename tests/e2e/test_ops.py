"""Exec streams, broadcast exec and tunnels end to end: the real `vmtui serve` daemon, the Vers provider
pointed at it, over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.test_ssh import cli, daemon, provider  # noqa: F401  (module-scoped fixtures)
from vmtui.core.models import ExecEvent, VmConfig
from vmtui.services.action_log import ActionLog
from vmtui.services.broadcast import Broadcast, group_results
from vmtui.services.exec_runs import ExecRuns
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.tunnels import PortSpec, Tunnels, TunnelState

pytestmark = [pytest.mark.root, pytest.mark.asyncio(loop_scope="module")]

HTTP_PORT = 8080
SERVE = f"cd /srv && python3 -m http.server {HTTP_PORT} --bind 127.0.0.1 >/dev/null 2>&1 &"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vms(provider) -> list:  # noqa: F811
    ids = []
    for name in ("ops-a", "ops-b", "ops-c"):
        vm_id = await provider.create_vm(VmConfig(labels={"name": name}), wait_boot=True)
        provider.created.append(vm_id)
        ids.append(vm_id)
    return [vm for vm in await provider.list_vms() if vm.id in ids]


async def wait_until(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_exec_stream_attach_and_logs_on_the_real_engine(provider, vms):  # noqa: F811
    vm = vms[0]
    command = ["sh", "-c", "echo one; echo two >&2; read line < /tmp/go-fifo; echo three; exit 7"]
    await provider.exec(vm.id, ["mkfifo", "/tmp/go-fifo"])
    events: list[ExecEvent] = []
    stream = provider.exec_stream(vm.id, command, exec_id="e2e-run")
    async for event in stream:
        events.append(event)
        if b"two" in b"".join(e.data for e in events):
            break  # leave the stream while the command waits: it runs on
    await stream.aclose()
    last_cursor = events[-1].cursor
    await provider.exec(vm.id, ["sh", "-c", "echo go > /tmp/go-fifo"])
    rest = [event async for event in provider.exec_attach(vm.id, "e2e-run", cursor=last_cursor)]
    assert b"".join(e.data for e in rest) == b"three\n"
    assert rest[-1].kind == "exit" and rest[-1].exit_code == 7
    assert all(e.exec_id == "e2e-run" for e in events + rest)
    page = await provider.exec_logs(vm.id)
    mine = [(e.stream, e.data) for e in page.entries if e.exec_id == "e2e-run"]
    assert mine == [("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]


async def test_exec_runs_keep_output_and_exit_and_re_attach_after_detach(provider, vms):  # noqa: F811
    log = ActionLog()
    runs = ExecRuns({"local": provider}, log)
    vm = vms[1]
    await provider.exec(vm.id, ["mkfifo", "/tmp/runs-fifo"])
    run = runs.start(vm, ["sh", "-c", "echo before; cat /tmp/runs-fifo; echo after; exit 3"])
    await wait_until(lambda: b"before" in run.output, "the first line")
    runs.detach(run)
    await wait_until(lambda: not run.following, "the run to detach")
    assert run.status == "detached"
    await provider.exec(vm.id, ["sh", "-c", "echo middle > /tmp/runs-fifo"])
    runs.attach(run)
    await wait_until(lambda: run.finished, "the run to end")
    assert run.output == b"before\nmiddle\nafter\n" and run.exit_code == 3 and run.failed
    assert await runs.logs(run) == "before\nmiddle\nafter\n"
    [entry] = log.entries  # logged when it was detached: left running, with its streamed request
    assert (entry.action, entry.target, entry.result) == ("exec", vm.id, "detached")
    [request] = entry.requests
    assert (request.method, request.status) == ("POST", 200)
    assert request.url.endswith(f"/api/v1/vm/{vm.id}/exec/stream") and "echo before" in request.body
    await runs.close()


async def test_broadcast_over_three_vms_groups_identical_output(provider, vms):  # noqa: F811
    await provider.exec(vms[2].id, ["sh", "-c", "echo odd > /etc/role"])
    for vm in vms[:2]:
        await provider.exec(vm.id, ["sh", "-c", "echo web > /etc/role"])
    results = await Broadcast({"local": provider}, concurrency=2).run(
        vms, ["sh", "-c", 'cat /etc/role; [ "$(cat /etc/role)" = web ] || exit 4']
    )
    assert [(r.vm.id, r.exit_code) for r in results] == [(vms[0].id, 0), (vms[1].id, 0), (vms[2].id, 4)]
    groups = group_results(results)
    assert [(g.output, sorted(r.vm.id for r in g.results)) for g in groups] == [
        ("odd\n", [vms[2].id]),
        ("web\n", sorted(vm.id for vm in vms[:2])),
    ]


def listening_addresses(port: int) -> set[str]:
    """The addresses something listens on at TCP `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else f"v6:{address}"
                )
    return found


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=30) as response:
        return response.read()


async def test_a_tunnel_fetches_from_the_vm_and_comes_back_after_a_drop(provider, vms, tmp_path: Path):  # noqa: F811
    vm = vms[0]
    started = await provider.exec(
        vm.id, ["sh", "-c", f"mkdir -p /srv && echo hi-from-vm > /srv/hello.txt; {SERVE}"]
    )
    assert started.exit_code == 0, started.stderr
    changes: list[TunnelState] = []
    tunnels = Tunnels(TofuKnownHosts(tmp_path / "known_hosts"), lambda t: changes.append(t.state))
    tunnel = await tunnels.open(provider, vm.id, "ops-a", PortSpec(0, HTTP_PORT))
    tunnel.retry_delay = 0.2
    assert tunnel.state is TunnelState.UP and tunnel.local_port
    body = b""
    deadline = time.monotonic() + 60
    while body != b"hi-from-vm\n":  # the server in the VM may still be starting
        assert time.monotonic() < deadline, "the VM's web server never answered through the tunnel"
        try:
            body = await asyncio.to_thread(fetch, tunnel.local_port)
        except OSError:
            await asyncio.sleep(0.2)
    port = tunnel.local_port
    assert listening_addresses(port) == {"127.0.0.1"}, "a tunnel listens on loopback only"

    assert tunnel.session is not None
    tunnel.session.connection.abort()  # the connection drops under the tunnel
    await wait_until(lambda: TunnelState.RECONNECTING in changes, "the tunnel to notice the drop")
    await wait_until(lambda: tunnel.state is TunnelState.UP, "the tunnel to reconnect")
    assert tunnel.local_port == port and tunnel.reconnects == 1
    assert listening_addresses(port) == {"127.0.0.1"}
    assert await asyncio.to_thread(fetch, port) == b"hi-from-vm\n"

    await tunnels.close_all()
    assert tunnel.state is TunnelState.CLOSED and tunnels.open_tunnels == []
    with pytest.raises(OSError):
        await asyncio.to_thread(fetch, port)


async def test_cli_exec_streams_output_and_exits_with_the_commands_code(tmp_path, daemon, vms):  # noqa: F811
    state, _endpoint = daemon
    run = await asyncio.to_thread(
        cli, state, tmp_path, "exec", "ops-b", "--", "echo out;", "echo err >&2;", "exit 6"
    )
    assert (run.returncode, run.stdout, run.stderr) == (6, b"out\n", b"err\n")

    run = await asyncio.to_thread(cli, state, tmp_path, "exec", "--json", vms[1].id[:8], "--", "printf", "hi")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"vm_id": vms[1].id, "exit_code": 0, "stdout": "hi", "stderr": ""}

    run = await asyncio.to_thread(cli, state, tmp_path, "exec", "-t", "1", "ops-b", "--", "sleep", "30")
    assert run.returncode != 0

    run = await asyncio.to_thread(cli, state, tmp_path, "exec", "no-such-vm", "--", "true")
    assert run.returncode == 255 and b"no VM named 'no-such-vm'" in run.stderr


async def test_cli_tunnel_forwards_until_ctrl_c(tmp_path, daemon, provider, vms):  # noqa: F811
    state, _endpoint = daemon
    serve = f"mkdir -p /srv && echo hi-from-cli > /srv/hello.txt; {SERVE}"
    assert (await provider.exec(vms[2].id, ["sh", "-c", serve])).exit_code == 0
    config = tmp_path / "config.toml"
    config.write_text(f'active = "local"\n[profiles.local]\nkind = "local"\nstate_dir = "{state}"\n')
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VMTUI_CONFIG_FILE": str(config),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vmtui",
        "tunnel",
        "ops-c",
        f"0:{HTTP_PORT}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.startswith(b"Forwarding 127.0.0.1:"), line
        port = int(line.split(b"127.0.0.1:")[1].split()[0])
        body = b""
        deadline = time.monotonic() + 60
        while body != b"hi-from-cli\n":
            assert time.monotonic() < deadline, "nothing answered through the CLI tunnel"
            try:
                body = await asyncio.to_thread(fetch, port)
            except OSError:
                await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        with pytest.raises(OSError):
            await asyncio.to_thread(fetch, port)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
