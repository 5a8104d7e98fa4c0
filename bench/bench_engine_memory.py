"""Host memory of idle local VMs: create 10, then 100, then 1,000 idle VMs on a real engine and
measure, per VM, the host's used memory (MemTotal - MemAvailable, before and after), the summed PSS
of the engine's process and every process of its VMs, the memory charged to each VM's cgroup (its
processes and the kernel memory they allocated: namespaces, mounts, page tables) and the processes
each VM keeps; also the time to create them (8 at a time) and `GET /vms` at that size.

Baselines, measured in the same run: 100 bare namespace sets started with util-linux `unshare`
(mount, pid, uts, ipc, net) running catatonit, the floor of a VM made of namespaces and an init
(memory and start time, per set), and `GET /health` on the engine before it has VMs (a request that
does almost no work; with VMs it counts them) for the list. A size is skipped when MemAvailable
could not hold it (estimated from the PSS and cgroup memory per VM measured so far), so the
benchmark never pushes a shared machine into swap or the OOM killer. Used memory is host-wide: other
work on the machine adds noise, the PSS and cgroup rows do not have it.

`python bench/bench_engine_memory.py [SIZES...]` runs it alone; with PYTHONPATH pointing at
another checkout it measures that checkout's engine (as the "before" figures in RESULTS.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine

TOKEN = "bench-" + "m" * 40
V1 = "/api/v1"
SIZES = (10, 100, 1000)
PARALLEL = 8
BARE_SETS = 100
SETTLE_SECONDS = 3.0
LIST_REPEATS = 20
RESERVE_MIB = 2048
"""MemAvailable kept free beyond the estimated need of the next size."""
FIRST_GUESS_MIB = 40
"""Estimated host memory per VM before any has been measured (the Python-helper engine used ~24)."""
INIT = shutil.which("catatonit") or "/usr/bin/catatonit"


def _meminfo_mib(field: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/meminfo")


def _used_mib() -> float:
    return _meminfo_mib("MemTotal") - _meminfo_mib("MemAvailable")


def _pss_mib(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1024


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found |= {int(child) for child in (task / "children").read_text().split()}
        except FileNotFoundError:
            pass
    return found


async def _settle() -> None:
    await asyncio.sleep(SETTLE_SECONDS)


async def _bare_sets(count: int) -> tuple[float, float, float]:
    """(host used MiB per set, PSS MiB per set, ms to start one) for `count` bare namespace sets."""
    await _settle()
    used_before = _used_mib()
    started = time.perf_counter()
    procs = []
    try:
        for _ in range(count):
            procs.append(
                await asyncio.create_subprocess_exec(
                    "unshare", "--mount", "--pid", "--uts", "--ipc", "--net", "--fork", INIT, "-P"
                )
            )
            while not _children(procs[-1].pid):
                await asyncio.sleep(0.001)
        start_ms = (time.perf_counter() - started) * 1000 / count
        await _settle()
        pids = {proc.pid for proc in procs} | {child for proc in procs for child in _children(proc.pid)}
        return (_used_mib() - used_before) / count, _pss_mib(pids) / count, start_ms
    finally:
        for proc in procs:
            for child in _children(proc.pid):
                os.kill(child, signal.SIGTERM)
        for proc in procs:
            await proc.wait()


async def _median_ms(api: httpx.AsyncClient, path: str) -> float:
    times = []
    for _ in range(LIST_REPEATS):
        started = time.perf_counter()
        response = await api.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(times)


def _row(name: str, value: float, unit: str, baseline: float | None) -> dict:
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(value / baseline, 2) if baseline else None,
    }


async def _measure(state_dir: Path, sizes: tuple[int, ...]) -> list[dict]:
    bare_used, bare_pss, bare_start_ms = await _bare_sets(BARE_SETS)
    engine = Engine(state_dir)
    await engine.start()
    # The engine caps running VMs by the host's pid budget at PIDS_PER_VM_SLOT pids each (768 with
    # pid_max 32768); idle VMs here hold a few pids each, far below what that cap protects.
    engine.max_running_vms = max(engine.max_running_vms, max(sizes))
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN, rate=100_000, burst=100_000))
    rows: list[dict] = []
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://engine",
        timeout=300,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as api:
        limit = asyncio.Semaphore(PARALLEL)

        async def create() -> None:
            async with limit:
                response = await api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": {}})
                if response.status_code >= 400:
                    raise RuntimeError(f"create: {response.status_code} {response.text}")

        try:
            empty_list_ms = await _median_ms(api, "/health")
            await _settle()
            used_before, pss_before = _used_mib(), _pss_mib({os.getpid()})
            per_vm_guess = FIRST_GUESS_MIB
            have = 0
            for size in sizes:
                need = (size - have) * per_vm_guess * 1.5 + RESERVE_MIB
                if _meminfo_mib("MemAvailable") < need:
                    print(
                        f"bench_engine_memory: skipping {size} VMs, about {need:.0f} MiB needed",
                        file=sys.stderr,
                    )
                    break
                started = time.perf_counter()
                await asyncio.gather(*(create() for _ in range(size - have)))
                create_ms = (time.perf_counter() - started) * 1000 / (size - have)
                have = size
                await _settle()
                sandboxes = list(engine._sandboxes.values())
                assert len(sandboxes) == size and all(s.running for s in sandboxes), "a VM is not running"
                vm_pids = set().union(*(s.processes() for s in sandboxes))
                used = (_used_mib() - used_before) / size
                pss = (_pss_mib({os.getpid()} | vm_pids) - pss_before) / size
                charged = [s.cgroup.usage()[1] for s in sandboxes]
                cgroup_mib = sum(c or 0 for c in charged) / size / 2**20 if all(charged) else None
                per_vm_guess = max(pss + (cgroup_mib or 0), 1.0)  # host-wide `used` is too noisy
                listed = await api.get(f"{V1}/vms")
                assert len(listed.json()) == size, "GET /vms does not list every VM"
                rows += [
                    _row(
                        f"host used memory per idle VM, {size} VMs (vs bare ns+init)", used, "MiB", bare_used
                    ),
                    _row(
                        f"PSS of engine + VM processes per idle VM, {size} VMs (vs bare)",
                        pss,
                        "MiB",
                        bare_pss,
                    ),
                    _row(f"processes per idle VM, {size} VMs", len(vm_pids) / size, "procs", None),
                    *(
                        [_row(f"memory charged to each VM's cgroup, {size} VMs", cgroup_mib, "MiB", None)]
                        if cgroup_mib is not None
                        else []
                    ),
                    _row(
                        f"create {size} idle VMs, per VM, {PARALLEL} at a time (vs bare)",
                        create_ms,
                        "ms",
                        bare_start_ms,
                    ),
                    _row(
                        f"GET /vms with {size} VMs, median (vs GET /health, no VMs)",
                        await _median_ms(api, f"{V1}/vms"),
                        "ms",
                        empty_list_ms,
                    ),
                ]
        finally:
            doomed = asyncio.Semaphore(PARALLEL)

            async def delete(vm_id: str) -> None:
                async with doomed:
                    await engine.delete_vm(vm_id)

            await asyncio.gather(*(delete(vm.id) for vm in engine.list_vms()))
            await engine.close()
    return rows


def run(sizes: tuple[int, ...] = SIZES) -> list[dict]:
    if os.geteuid() != 0:
        return []  # idle-VM memory is measured on root's engine (user namespaces, cgroups, disks)
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_measure(Path(workdir) / "state", sizes))


if __name__ == "__main__":
    for result in run(tuple(int(arg) for arg in sys.argv[1:]) or SIZES):
        print(result, flush=True)
