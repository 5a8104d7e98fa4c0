"""`GET /api/v1/vm/{id}/metrics`: CPU time and memory in use from the VM's own cgroup."""

from __future__ import annotations

import pytest

from tests.local.test_server import V1, _client, _new_vm, _sh, api  # noqa: F401 - fixtures
from vmtui.local.api.app import create_app

pytestmark = pytest.mark.root

BUSY = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done"
"""Work that takes CPU time inside the VM (a shell loop), whatever the machine's load."""


async def _metrics(api, vm_id: str) -> dict:  # noqa: F811
    answer = await api.get(f"{V1}/vm/{vm_id}/metrics")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_metrics_count_the_work_done_inside_the_vm(api):  # noqa: F811
    vm_id = await _new_vm(api, mem_size_mib=256)
    other = await _new_vm(api)

    before, other_before = await _metrics(api, vm_id), await _metrics(api, other)
    assert (await _sh(api, vm_id, BUSY))["stdout"] == "done\n"
    after, other_after = await _metrics(api, vm_id), await _metrics(api, other)

    assert before["vm_id"] == vm_id and before["memory_limit_bytes"] == 256 * 1024 * 1024
    assert after["cpu_usage_usec"] > before["cpu_usage_usec"]
    assert after["sampled_at"] > before["sampled_at"]
    assert 0 < after["memory_current_bytes"] <= after["memory_limit_bytes"]
    # the loop ran in one VM's cgroup only: the other one's CPU time grew far less
    assert other_after["cpu_usage_usec"] - other_before["cpu_usage_usec"] < (
        after["cpu_usage_usec"] - before["cpu_usage_usec"]
    )


async def test_metrics_of_a_missing_vm_or_without_the_token_are_refused(engine, api):  # noqa: F811
    missing = await api.get(f"{V1}/vm/00000000-0000-4000-8000-000000000000/metrics")
    assert missing.status_code == 404
    async with _client(create_app(engine, "test-token-" + "x" * 32)) as anonymous:
        refused = await anonymous.get(f"{V1}/vm/00000000-0000-4000-8000-000000000000/metrics")
    assert refused.status_code == 401


async def test_openapi_documents_the_metrics_route(api):  # noqa: F811
    spec = (await api.get("/openapi.json")).json()
    route = spec["paths"]["/api/v1/vm/{vm_id}/metrics"]["get"]
    schema = route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"cpu_usage_usec", "memory_current_bytes", "memory_limit_bytes"} <= set(
        spec["components"]["schemas"][schema]["properties"]
    )
