"""Benchmark: parse a 10,000-VM `GET /vms` answer through VersProvider (MockTransport, no network).

Two cases: the first poll (every VM validated and converted) and a repoll where 1% of the VMs changed
(the provider reuses the `Vm` of every item whose JSON is unchanged). Baseline, measured in the same run
on the same bytes: plain `json.loads`; the ratio says what the provider's work costs on top of it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx

from vmtui.providers.vers import VersProvider

VM_COUNT = 10_000
ROUNDS = 5
STATES = ("running", "paused", "booting", "sleeping", "dead")


def make_vms(count: int = VM_COUNT) -> list[dict]:
    return [
        {
            "vm_id": str(uuid.UUID(int=i + 1)),
            "owner_id": "5a0c2a3e-1111-4222-8333-944455556666",
            "created_at": f"2026-04-{1 + i % 28:02d}T12:{i % 60:02d}:00Z",
            "state": STATES[i % len(STATES)],
            "labels": {"team": f"t{i % 7}", "name": f"vm-{i}"} if i % 3 else None,
        }
        for i in range(count)
    ]


def changed_copy(vms: list[dict], round_no: int, share: float = 0.01) -> list[dict]:
    """A copy of `vms` with `share` of them in a different state (different ones each round)."""
    out = [dict(vm) for vm in vms]
    step = int(1 / share)
    for index in range(round_no % step, len(out), step):
        out[index]["state"] = "paused" if out[index]["state"] != "paused" else "running"
    return out


async def _measure(first: bytes, repolls: list[bytes]) -> tuple[list[float], list[float]]:
    """Seconds per first poll (fresh provider each round) and per repoll (after a first poll)."""
    answer = {"body": first}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer["body"], headers={"content-type": "application/json"})

    cold: list[float] = []
    warm: list[float] = []
    for repoll in repolls:
        provider = VersProvider("bench", "https://api.vers.sh", None, transport=httpx.MockTransport(handler))
        try:
            answer["body"] = first
            started = time.perf_counter()
            vms = await provider.list_vms()
            cold.append(time.perf_counter() - started)
            answer["body"] = repoll
            started = time.perf_counter()
            again = await provider.list_vms()
            warm.append(time.perf_counter() - started)
        finally:
            await provider.aclose()
        if len(vms) != VM_COUNT or len(again) != VM_COUNT:
            raise RuntimeError(f"provider parsed {len(vms)}/{len(again)} VMs, expected {VM_COUNT}")
    return cold, warm


def run() -> list[dict]:
    vms = make_vms()
    first = json.dumps(vms).encode()
    repolls = [json.dumps(changed_copy(vms, r)).encode() for r in range(ROUNDS)]
    baseline = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        json.loads(first)
        baseline.append(time.perf_counter() - started)
    cold, warm = asyncio.run(_measure(first, repolls))
    base_ms, cold_ms, warm_ms = (min(samples) * 1000.0 for samples in (baseline, cold, warm))
    return [
        {
            "name": "vers list_vms 10k VMs, first poll",
            "value": round(cold_ms, 2),
            "unit": "ms",
            "baseline": round(base_ms, 2),
            "ratio": round(cold_ms / base_ms, 2),
        },
        {
            "name": "vers list_vms 10k VMs, repoll 1% changed",
            "value": round(warm_ms, 2),
            "unit": "ms",
            "baseline": round(base_ms, 2),
            "ratio": round(warm_ms / base_ms, 2),
        },
        {
            "name": "vers list_vms first-poll throughput",
            "value": round(VM_COUNT / cold_ms * 1000),
            "unit": "VMs/s",
            "baseline": round(VM_COUNT / base_ms * 1000),
            "ratio": round(base_ms / cold_ms, 3),
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
