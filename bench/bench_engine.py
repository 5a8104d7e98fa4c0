"""Local engine latencies as an API client sees them (in-process ASGI, real sandboxes): create,
exec, commit, branch (count 1 and 8), from_commit, delete, attaching a VM disk (the quota part of
create), and commit time against the size of the VM's writable layer (1, 10, 100 MB written since boot).

Baselines, measured in the same run, are the floors the engine cannot beat: starting a bare set of
namespaces with util-linux `unshare` (VM lifecycle steps), starting `true` on the host (exec), and
copying + fsyncing the same amount of data (commit).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.local.sandbox import Sandbox
from vmtui.local.vmdisk import VmDisk

TOKEN = "bench-" + "t" * 40
V1 = "/api/v1"
REPEATS = 5


async def _median_ms(action: Callable[[], Awaitable[object]], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv)
    if await proc.wait() != 0:
        raise RuntimeError(f"{argv[0]} failed")


async def _bare_namespaces() -> None:
    await _run("unshare", "--mount", "--pid", "--uts", "--ipc", "--net", "--fork", "--mount-proc", "true")


async def _disk_attach_ms(state_dir: Path) -> float:
    """Median time to attach one VM disk of the default size (template copy, loop, mount), as create
    does; each disk is removed again outside the timing."""
    templates = state_dir / "disk-templates"
    times = []
    for i in range(REPEATS):
        vm_dir = state_dir / "tmp" / f"bench-disk-{i}"
        vm_dir.mkdir(parents=True)
        started = time.perf_counter()
        await asyncio.to_thread(VmDisk(vm_dir, 1024, templates).attach)
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.to_thread(Sandbox.cleanup_stale, vm_dir)
        await asyncio.to_thread(shutil.rmtree, vm_dir)
    return statistics.median(times)


def _copy_and_sync(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    with open(dest, "rb") as handle:
        os.fsync(handle.fileno())
    dest.unlink()


async def _measure(state_dir: Path) -> list[dict]:
    engine = Engine(state_dir)
    await engine.start()
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN, rate=10_000, burst=10_000))
    rows: list[dict] = []
    made: list[str] = []
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://engine",
        timeout=120,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as api:

        async def call(method: str, path: str, **kwargs: object) -> dict:
            response = await api.request(method, path, **kwargs)
            if response.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json() if response.content else {}

        async def create() -> None:
            made.append(
                (await call("POST", f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": {}}))["vm_id"]
            )

        bare = await _median_ms(_bare_namespaces)
        host_true = await _median_ms(lambda: _run("true"))

        def row(name: str, value: float, baseline: float = bare) -> None:
            rows.append(
                {
                    "name": name,
                    "value": round(value, 1),
                    "unit": "ms",
                    "baseline": round(baseline, 1),
                    "ratio": round(value / baseline, 2) if baseline else None,
                }
            )

        try:
            row("create VM (wait_boot)", await _median_ms(create))
            if os.geteuid() == 0:
                row("VM disk attach (part of create)", await _disk_attach_ms(state_dir))
            source = made[0]
            row(
                "exec `true` (vs host spawn)",
                await _median_ms(lambda: call("POST", f"{V1}/vm/{source}/exec", json={"command": ["true"]})),
                host_true,
            )
            commits: list[str] = []

            async def commit() -> None:
                commits.append((await call("POST", f"{V1}/vm/{source}/commit"))["commit_id"])

            row("commit (empty writable layer)", await _median_ms(commit))

            async def branch(count: int) -> None:
                answer = await call("POST", f"{V1}/vm/{commits[0]}/branch?count={count}")
                made.extend(vm["vm_id"] for vm in answer["vms"])

            row("branch count=1 (from commit)", await _median_ms(lambda: branch(1)))
            row(
                "branch count=8 (from commit; vs 8 bare)",
                await _median_ms(lambda: branch(8), repeats=2),
                8 * bare,
            )
            row(
                "branch by VM (commit + 1 VM)",
                await _median_ms(lambda: call("POST", f"{V1}/vm/branch/by_vm/{source}")),
            )

            async def from_commit() -> None:
                made.append(
                    (await call("POST", f"{V1}/vm/from_commit", json={"commit_id": commits[0]}))["vm_id"]
                )

            row("from_commit", await _median_ms(from_commit))
            scratch = state_dir.parent
            for megabytes in (1, 10, 100):
                script = f"rm -f /root/blob; head -c {megabytes}M /dev/urandom > /root/blob"
                await call("POST", f"{V1}/vm/{source}/exec", json={"command": ["sh", "-c", script]})
                blob = scratch / "blob"
                blob.write_bytes(os.urandom(megabytes << 20))
                copy = await _median_ms(partial(asyncio.to_thread, _copy_and_sync, blob, scratch / "copy"), 3)
                row(
                    f"commit with {megabytes} MB written (vs copy+fsync)",
                    await _median_ms(commit, repeats=3),
                    copy,
                )
            made.extend(vm.id for vm in engine.list_vms() if vm.id not in made)
            victims = made[1 : REPEATS + 1]

            async def delete() -> None:
                await call("DELETE", f"{V1}/vm/{victims.pop()}")

            row("delete VM", await _median_ms(delete))
        finally:
            for vm in engine.list_vms():
                await engine.delete_vm(vm.id)
            await engine.close()
    return rows


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_measure(Path(workdir) / "state"))


if __name__ == "__main__":
    for result in run():
        print(result)
