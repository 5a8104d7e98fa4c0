"""Benchmark: parse a 10,000-VM `GET /vms` answer through VersProvider (MockTransport, no network).

Baseline, measured in the same run on the same bytes: plain `json.loads`. The ratio says how much the
provider's work (transport, decode guard, wire validation, conversion to core `Vm`) costs on top.
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


def make_body(count: int = VM_COUNT) -> bytes:
    vms = [
        {
            "vm_id": str(uuid.UUID(int=i + 1)),
            "owner_id": "5a0c2a3e-1111-4222-8333-944455556666",
            "created_at": f"2026-04-{1 + i % 28:02d}T12:{i % 60:02d}:00Z",
            "state": STATES[i % len(STATES)],
            "labels": {"team": f"t{i % 7}", "name": f"vm-{i}"} if i % 3 else None,
        }
        for i in range(count)
    ]
    return json.dumps(vms).encode()


def _best_ms(samples: list[float]) -> float:
    return min(samples) * 1000.0


async def _provider_samples(body: bytes, rounds: int) -> tuple[list[float], int]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    provider = VersProvider("bench", "https://api.vers.sh", None, transport=httpx.MockTransport(handler))
    samples: list[float] = []
    parsed = 0
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            vms = await provider.list_vms()
            samples.append(time.perf_counter() - started)
            parsed = len(vms)
    finally:
        await provider.aclose()
    return samples, parsed


def run() -> list[dict]:
    body = make_body()
    baseline = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        json.loads(body)
        baseline.append(time.perf_counter() - started)
    samples, parsed = asyncio.run(_provider_samples(body, ROUNDS))
    if parsed != VM_COUNT:
        raise RuntimeError(f"provider parsed {parsed} VMs, expected {VM_COUNT}")
    ms, base_ms = _best_ms(samples), _best_ms(baseline)
    rate, base_rate = VM_COUNT / (ms / 1000.0), VM_COUNT / (base_ms / 1000.0)
    return [
        {"name": "vers list_vms parse 10k VMs", "value": round(ms, 2), "unit": "ms",
         "baseline": round(base_ms, 2), "ratio": round(ms / base_ms, 2)},
        {"name": "vers list_vms throughput", "value": round(rate), "unit": "VMs/s",
         "baseline": round(base_rate), "ratio": round(rate / base_rate, 3)},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
