"""Load: 200 concurrent API clients against a real daemon with a configured rate limit.

Each client (its own httpx connection) loops create -> commit -> branch -> delete both VMs until the
deadline, honouring 429 Retry-After. Afterwards: no error but 429s, the listing equals what the
successful requests imply (VMs = created - deleted, commits = commits + branches), and deleting
everything leaves no VM directory, layer, process or mount behind.
"""

from __future__ import annotations

import asyncio
import collections
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import API, live_processes_of, mounts_mentioning, processes_rooted_under

pytestmark = pytest.mark.root

CLIENTS = 200
DURATION = 10.0
"""New cycles start until then; with 200 clients x 5 requests at RATE, one cycle each already takes ~20 s."""
RATE, BURST = 50, 100
"""The daemon's limit (requests per second and burst, per client address: all clients share it)."""


@dataclass
class Tally:
    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    commits: set[str] = field(default_factory=set)
    branches: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


async def _call(
    client: httpx.AsyncClient, tally: Tally, method: str, path: str, **kwargs
) -> httpx.Response | None:
    """One request, repeated after 429s (Retry-After). None when it failed otherwise (recorded)."""
    while True:
        started = time.monotonic()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            tally.errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            return None
        tally.statuses[response.status_code] += 1
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers["retry-after"]) * (0.5 + random.random()))
            continue
        if not response.is_success:
            tally.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        tally.latencies.append(time.monotonic() - started)
        return response


async def _client_loop(api: str, headers: dict[str, str], deadline: float, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=120) as client:
        while time.monotonic() < deadline:
            created = await _call(
                client, tally, "POST", f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}
            )
            if created is None:
                return
            vm_id = created.json()["vm_id"]
            tally.created.add(vm_id)
            committed = await _call(client, tally, "POST", f"{API}/vm/{vm_id}/commit")
            if committed is not None:
                tally.commits.add(committed.json()["commit_id"])
            branched = await _call(client, tally, "POST", f"{API}/vm/{vm_id}/branch")
            mine = [vm_id]
            if branched is not None:
                tally.branches += 1
                mine += [vm["vm_id"] for vm in branched.json()["vms"]]
                tally.created.update(mine[1:])
            for victim in mine:
                if await _call(client, tally, "DELETE", f"{API}/vm/{victim}") is not None:
                    tally.deleted.add(victim)


def _patiently(client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    """A request of the checking phase, waiting out the rate limiter like a polite client."""
    while (response := client.request(method, path, **kwargs)).status_code == 429:
        time.sleep(float(response.headers["retry-after"]))
    return response


def test_200_clients_under_a_rate_limit_lose_nothing_and_leak_nothing(serve, tmp_path: Path) -> None:
    state = tmp_path / "state"
    daemon = serve(state, "--rate-limit", str(RATE), "--burst", str(BURST))
    tally = Tally()

    async def run() -> None:
        deadline = time.monotonic() + DURATION
        await asyncio.gather(
            *(_client_loop(daemon.api, daemon.headers(), deadline, tally) for _ in range(CLIENTS))
        )

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started

    assert not tally.errors, f"{len(tally.errors)} errors beyond 429, first: {tally.errors[:5]}"
    assert set(tally.statuses) <= {200, 201, 204, 429}
    served = sum(n for status, n in tally.statuses.items() if status != 429)
    assert tally.created and tally.commits and tally.branches, "the load did nothing"
    with daemon.client() as client:
        listed_vms = {vm["vm_id"] for vm in _patiently(client, "GET", f"{API}/vms").json()}
        assert listed_vms == tally.created - tally.deleted
        commits = _patiently(client, "GET", f"{API}/commits", params={"limit": 100}).json()
        commit_ids = {c["commit_id"] for c in commits["commits"]}
        offset = len(commit_ids)
        while offset < commits["total"]:
            page = _patiently(client, "GET", f"{API}/commits", params={"limit": 100, "offset": offset})
            page = page.json()["commits"]
            commit_ids |= {c["commit_id"] for c in page}
            offset += len(page)
        assert tally.commits <= commit_ids and len(commit_ids) == len(tally.commits) + tally.branches

        for vm_id in listed_vms:
            assert _patiently(client, "DELETE", f"{API}/vm/{vm_id}").status_code == 200
        for commit_id in commit_ids:
            assert _patiently(client, "DELETE", f"{API}/commits/{commit_id}").status_code == 204
    assert daemon.stop() == 0
    for sub in ("vms", "layers", "tmp"):
        assert list((state / sub).iterdir()) == [], f"{sub}/ is not empty after deleting everything"
    assert live_processes_of(tally.created) == {}
    assert mounts_mentioning(state) == set()
    assert processes_rooted_under(state) == set()
    latencies = sorted(tally.latencies)
    print(
        f"load: {CLIENTS} clients, {elapsed:.1f} s, {served} requests served, {tally.statuses[429]} x 429, "
        f"{len(tally.created)} VMs created, {len(tally.deleted)} deleted, {len(tally.commits)} commits, "
        f"{tally.branches} branches, latency p50 {statistics.median(latencies) * 1000:.0f} ms "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms, errors {len(tally.errors)}"
    )
