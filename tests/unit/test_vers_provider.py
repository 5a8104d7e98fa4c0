"""VersProvider against the Vers wire format (httpx.MockTransport): every endpoint, old and new shapes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from vmtui.core.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    Conflict,
    NotFound,
    ProviderError,
    QuotaExceeded,
    Unsupported,
)
from vmtui.core.models import Commit, ExecResult, Image, SshKey, VmConfig, VmState
from vmtui.providers.vers import VersProvider, derive_vm_domain

KEY = "5a0c2a3e-1111-4222-8333-944455556666" + "ab" * 32
VM1 = "11111111-1111-4111-8111-111111111111"
VM2 = "22222222-2222-4222-8222-222222222222"
C1 = "cccccccc-0000-4000-8000-000000000001"


class FakeVers:
    """Routes (method, path) to canned answers and records every request with its decoded body."""

    def __init__(self, key: str | None = KEY):
        self.key = key
        self.routes: dict[tuple[str, str], object] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, answer) -> None:
        self.routes[(method, path)] = answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        self.check_headers(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"success": False, "error": "not found"})
        if callable(answer):
            answer = answer(request)
            if asyncio.iscoroutine(answer):
                answer = await answer
        return answer

    def check_headers(self, request: httpx.Request) -> None:
        """Every request of every test: bearer auth, User-Agent, an idempotency key exactly on mutations."""
        if self.key is None:
            assert "authorization" not in request.headers
        else:
            assert request.headers["authorization"] == f"Bearer {self.key}"
        assert request.headers["user-agent"].startswith("vmtui/")
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            assert uuid.UUID(request.headers["x-idempotency-key"]).version == 4
        else:
            assert "x-idempotency-key" not in request.headers

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, request: httpx.Request | None = None):
        content = (request or self.last).content
        return json.loads(content) if content else None


@pytest.fixture
def server():
    return FakeVers()


@pytest.fixture
async def vers(server):
    provider = VersProvider(
        "prod", "https://api.vers.sh", KEY, transport=httpx.MockTransport(server), sleep=_no_sleep
    )
    yield provider
    await provider.aclose()


async def _no_sleep(_seconds: float) -> None:
    return None


def assert_common_headers(request: httpx.Request, *, mutating: bool) -> None:
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("vmtui/")
    if mutating:
        assert uuid.UUID(request.headers["x-idempotency-key"]).version == 4
    else:
        assert "x-idempotency-key" not in request.headers


def vm_json(vm_id: str, state: str = "running", **extra) -> dict:
    return {
        "vm_id": vm_id,
        "owner_id": "o1",
        "created_at": "2026-04-01T12:00:00Z",
        "state": state,
        "labels": {"team": "x"},
        **extra,
    }


# --- VMs ---------------------------------------------------------------------------------------------------


async def test_list_vms_maps_wire_to_core(vers, server):
    server.on(
        "GET", "/api/v1/vms", httpx.Response(200, json=[vm_json(VM1), vm_json(VM2, "booting", labels=None)])
    )
    vms = await vers.list_vms()
    assert [v.id for v in vms] == [VM1, VM2]
    first = vms[0]
    assert first.provider == "prod" and first.provider_kind == "vers"
    assert first.state is VmState.RUNNING
    assert first.labels == {"team": "x"}
    assert first.created_at == datetime(2026, 4, 1, 12, tzinfo=UTC)
    assert vms[1].state is VmState.BOOTING and vms[1].labels == {}
    assert_common_headers(server.last, mutating=False)
    assert server.last.url.host == "api.vers.sh"


async def test_list_vms_asks_get_vm_first_then_falls_back_to_the_seeds_vms_and_remembers(vers, server):
    server.on("GET", "/api/v1/vm", httpx.Response(405, text="Method Not Allowed"))
    server.on("GET", "/api/v1/vms", httpx.Response(200, json=[vm_json(VM1)]))
    assert [v.id for v in await vers.list_vms()] == [VM1]
    assert [v.id for v in await vers.list_vms()] == [VM1]
    assert [r.url.path for r in server.requests] == ["/api/v1/vm", "/api/v1/vms", "/api/v1/vms"]


async def test_list_vms_other_errors_do_not_fall_back(vers, server):
    server.on("GET", "/api/v1/vm", httpx.Response(403, content=b"403 Forbidden"))
    with pytest.raises(AuthError, match="403 Forbidden"):
        await vers.list_vms()
    assert len(server.requests) == 1


async def test_cluster_era_shapes_are_accepted(vers, server):
    legacy = {
        "id": VM1,
        "alias": "web",
        "state": "Not started",
        "ip_address": "10.0.0.2",
        "vcpu_count": 2,
        "mem_size_mib": 1024,
        "fs_size_mib": 2048,
        "cluster_id": "c",
        "children": [],
    }
    server.on(
        "GET",
        "/api/v1/vms",
        httpx.Response(
            200,
            json={"data": [legacy, {"id": VM2, "state": "Paused"}], "operation_id": "x", "duration_ns": 5},
        ),
    )
    first, second = await vers.list_vms()
    assert first.id == VM1 and first.label == "web" and first.display_name == "web"
    assert first.state is VmState.STOPPED and first.ip == "10.0.0.2"
    assert (first.specs.vcpu_count, first.specs.mem_size_mib, first.specs.fs_size_mib) == (2, 1024, 2048)
    assert second.state is VmState.PAUSED


async def test_base_url_may_already_end_in_api_v1(server):
    server.key = None
    provider = VersProvider("p", "http://127.0.0.1:8123/api/v1/", None, transport=httpx.MockTransport(server))
    server.on("GET", "/api/v1/vms", httpx.Response(200, json=[]))
    assert await provider.list_vms() == []
    assert str(server.last.url) == "http://127.0.0.1:8123/api/v1/vms"
    assert "authorization" not in server.last.headers


async def test_status_and_metadata(vers, server):
    server.on("GET", f"/api/v1/vm/{VM1}/status", httpx.Response(200, json=vm_json(VM1, "paused")))
    meta = {
        "vm_id": VM1,
        "owner_id": "o1",
        "created_at": "2026-04-01T12:00:00Z",
        "deleted_at": None,
        "state": "paused",
        "ip": "fd00:fe11:deed::2",
        "parent_commit_id": C1,
        "grandparent_vm_id": VM2,
    }
    server.on("GET", f"/api/v1/vm/{VM1}/metadata", httpx.Response(200, json=meta))
    status = await vers.status(VM1)
    assert status.state is VmState.PAUSED and status.labels == {"team": "x"}
    metadata = await vers.metadata(VM1)
    assert (metadata.ip, metadata.parent_commit_id, metadata.grandparent_vm_id) == (
        "fd00:fe11:deed::2",
        C1,
        VM2,
    )
    merged = await vers.get_vm(VM1)
    assert (
        merged.labels == {"team": "x"} and merged.parent_commit_id == C1 and merged.ip == "fd00:fe11:deed::2"
    )


async def test_engine_metadata_fills_image_and_specs(vers, server):
    """The local engine's metadata also reports image and specs (the current Vers API does not)."""
    server.on("GET", f"/api/v1/vm/{VM1}/status", httpx.Response(200, json=vm_json(VM1)))
    meta = {
        "vm_id": VM1,
        "state": "running",
        "image_name": "default",
        "vcpu_count": 2,
        "mem_size_mib": 1024,
        "fs_size_mib": 4096,
    }
    server.on("GET", f"/api/v1/vm/{VM1}/metadata", httpx.Response(200, json=meta))
    merged = await vers.get_vm(VM1)
    assert merged.image == "default"
    assert (merged.specs.vcpu_count, merged.specs.mem_size_mib, merged.specs.fs_size_mib) == (2, 1024, 4096)
    server.on(
        "GET", f"/api/v1/vm/{VM1}/metadata", httpx.Response(200, json={"vm_id": VM1, "state": "running"})
    )
    vers._metadata.clear()
    plain = await vers.get_vm(VM1)
    assert plain.image is None and plain.specs.vcpu_count is None


async def test_get_vm_of_a_sleeping_vm_uses_metadata(vers, server):
    server.on(
        "GET",
        f"/api/v1/vm/{VM1}/status",
        httpx.Response(409, json={"success": False, "error": "is it sleeping?"}),
    )
    server.on(
        "GET", f"/api/v1/vm/{VM1}/metadata", httpx.Response(200, json={"vm_id": VM1, "state": "sleeping"})
    )
    assert (await vers.get_vm(VM1)).state is VmState.SLEEPING
    with pytest.raises(Conflict, match="sleeping"):
        await vers.status(VM1)


async def test_list_vms_with_lineage_fetches_metadata_once_per_vm_with_bounded_concurrency(vers, server):
    ids = [str(uuid.UUID(int=i + 1)) for i in range(30)]
    listing = [vm_json(i) for i in ids]
    in_flight = 0
    peak = 0
    failing = {ids[3]}

    async def metadata(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        vm_id = request.url.path.split("/")[4]
        if vm_id in failing:
            return httpx.Response(404, json={"success": False, "error": "vm not found"})
        return httpx.Response(
            200,
            json={
                "vm_id": vm_id,
                "state": "running",
                "ip": "fd00::1",
                "parent_commit_id": f"commit-of-{vm_id}",
                "grandparent_vm_id": None,
            },
        )

    server.on("GET", "/api/v1/vms", lambda r: httpx.Response(200, json=listing))
    for vm_id in ids:
        server.on("GET", f"/api/v1/vm/{vm_id}/metadata", metadata)

    vms = await vers.list_vms_with_lineage()
    assert 1 < peak <= 8
    by_id = {vm.id: vm for vm in vms}
    assert len(vms) == 30
    assert by_id[ids[0]].parent_commit_id == f"commit-of-{ids[0]}" and by_id[ids[0]].ip == "fd00::1"
    assert by_id[ids[0]].labels == {"team": "x"}
    assert by_id[ids[3]].parent_commit_id is None

    server.requests.clear()
    failing.clear()
    listing.append(vm_json(VM1))
    server.on("GET", f"/api/v1/vm/{VM1}/metadata", metadata)
    vms = await vers.list_vms_with_lineage()
    fetched = sorted(r.url.path.split("/")[4] for r in server.requests if r.url.path.endswith("/metadata"))
    assert fetched == sorted([ids[3], VM1]), "only new VMs and the one whose fetch failed"
    assert {vm.id: vm for vm in vms}[ids[0]].parent_commit_id == f"commit-of-{ids[0]}"


async def test_create_vm_sends_every_config_field(vers, server):
    server.on("POST", "/api/v1/vm/new_root", httpx.Response(201, json={"vm_id": VM1}))
    config = VmConfig(
        vcpu_count=2,
        mem_size_mib=1024,
        fs_size_mib=4096,
        image_name="default",
        kernel_name="default.bin",
        labels={"env": "dev"},
    )
    assert await vers.create_vm(config, wait_boot=True) == VM1
    assert server.body() == {
        "vm_config": {
            "vcpu_count": 2,
            "mem_size_mib": 1024,
            "fs_size_mib": 4096,
            "image_name": "default",
            "kernel_name": "default.bin",
            "labels": {"env": "dev"},
        }
    }
    assert server.last.url.params["wait_boot"] == "true"
    assert server.last.headers["content-type"] == "application/json"
    assert_common_headers(server.last, mutating=True)

    assert await vers.create_vm(VmConfig()) == VM1
    assert server.body() == {"vm_config": {}}
    assert server.last.url.params["wait_boot"] == "false"


async def test_create_vm_quota_is_its_own_error(vers, server):
    error = {
        "success": False,
        "error": "vCPU limit exceeded: this VM requires 2 vCPUs, but org is using 4/4 vCPUs",
    }
    server.on("POST", "/api/v1/vm/new_root", httpx.Response(403, json=error))
    with pytest.raises(QuotaExceeded, match="4/4 vCPUs"):
        await vers.create_vm(VmConfig(vcpu_count=2))


async def test_delete_pause_resume(vers, server):
    server.on("DELETE", f"/api/v1/vm/{VM1}", httpx.Response(200, json={"vm_id": VM1}))
    server.on("PATCH", f"/api/v1/vm/{VM1}/state", httpx.Response(200))
    await vers.delete_vm(VM1)
    assert server.last.method == "DELETE"
    assert_common_headers(server.last, mutating=True)
    await vers.pause_vm(VM1)
    assert server.body() == {"state": "Sleeping"}
    assert_common_headers(server.last, mutating=True)
    await vers.resume_vm(VM1)
    assert server.body() == {"state": "Running"}


async def test_pause_falls_back_to_the_seeds_paused_once_and_remembers(vers, server):
    def state(request: httpx.Request) -> httpx.Response:
        word = json.loads(request.content)["state"]
        if word == "Sleeping":
            return httpx.Response(422, json={"detail": [{"loc": ["body", "state"], "msg": "bad enum"}]})
        return httpx.Response(200)

    server.on("PATCH", f"/api/v1/vm/{VM1}/state", state)
    await vers.pause_vm(VM1)
    await vers.pause_vm(VM1)
    assert [server.body(r) for r in server.requests] == [
        {"state": "Sleeping"},
        {"state": "Paused"},
        {"state": "Paused"},
    ]


async def test_pause_other_refusals_are_not_retried_with_the_other_word(vers, server):
    server.on(
        "PATCH", f"/api/v1/vm/{VM1}/state", httpx.Response(409, json={"success": False, "error": "booting"})
    )
    with pytest.raises(Conflict, match="booting"):
        await vers.pause_vm(VM1)
    assert [server.body(r) for r in server.requests] == [{"state": "Sleeping"}]


async def test_pause_refused_in_both_words_raises_the_servers_refusal(vers, server):
    server.on(
        "PATCH", f"/api/v1/vm/{VM1}/state", httpx.Response(400, json={"success": False, "error": "not now"})
    )
    with pytest.raises(BadRequest, match="not now"):
        await vers.pause_vm(VM1)
    assert [server.body(r) for r in server.requests] == [{"state": "Sleeping"}, {"state": "Paused"}]


async def test_delete_of_foreign_vm_keeps_server_words(vers, server):
    server.on(
        "DELETE", f"/api/v1/vm/{VM1}", httpx.Response(403, json={"success": False, "error": "Forbidden"})
    )
    with pytest.raises(AuthError) as info:
        await vers.delete_vm(VM1)
    assert info.value.message == "Forbidden"


async def test_ids_are_escaped_into_one_path_segment(vers, server):
    server.on("GET", "/api/v1/vm/a/../vms/status", httpx.Response(200, json=vm_json("x")))  # decoded path
    await vers.status("a/../vms")
    assert server.last.url.raw_path == b"/api/v1/vm/a%2F..%2Fvms/status"
    for bad in ("", "..", ".", "   ", "\ud800"):
        with pytest.raises(BadRequest):
            await vers.status(bad)


# --- branch, commit, restore ---------------------------------------------------------------------------------


async def test_branch_current_shape_with_count_and_keep_paused(vers, server):
    server.on(
        "POST",
        f"/api/v1/vm/{VM1}/branch",
        httpx.Response(201, json={"vms": [{"vm_id": "b1"}, {"vm_id": "b2"}]}),
    )
    assert await vers.branch(VM1, 2, keep_paused=True) == ["b1", "b2"]
    assert dict(server.last.url.params) == {"count": "2", "keep_paused": "true"}
    assert server.last.content == b""
    assert_common_headers(server.last, mutating=True)


async def test_branch_old_single_vm_id_shape(vers, server):
    server.on("POST", f"/api/v1/vm/{VM1}/branch", httpx.Response(201, json={"vm_id": "b1"}))
    assert await vers.branch(VM1) == ["b1"]
    assert dict(server.last.url.params) == {"count": "1"}


async def test_branch_by_vm_and_by_commit_routes(vers, server):
    server.on("POST", f"/api/v1/vm/branch/by_vm/{VM1}", httpx.Response(201, json={"vms": [{"vm_id": "b1"}]}))
    server.on("POST", f"/api/v1/vm/branch/by_commit/{C1}", httpx.Response(201, json={"vms": []}))
    assert await vers.branch_vm(VM1, 1) == ["b1"]
    assert await vers.branch_commit(C1, 3) == []
    assert dict(server.last.url.params) == {"count": "3"}


async def test_branch_partial_failure_carries_created_ids(vers, server):
    partial = {
        "vms": [{"vm_id": "b1"}, {"vm_id": "b2"}],
        "error": "vCPU limit exceeded: org is using 4/4 vCPUs",
    }
    server.on("POST", f"/api/v1/vm/branch/by_vm/{VM1}", httpx.Response(403, json=partial))
    with pytest.raises(QuotaExceeded) as info:
        await vers.branch_vm(VM1, 5)
    assert info.value.created_ids == ("b1", "b2")
    assert "vCPU limit exceeded" in info.value.message and "b1, b2" in info.value.message

    server.on(
        "POST",
        f"/api/v1/vm/branch/by_vm/{VM1}",
        httpx.Response(404, json={"vms": [], "error": "parent vm not found"}),
    )
    with pytest.raises(NotFound) as info:
        await vers.branch_vm(VM1)
    assert info.value.message == "parent vm not found" and info.value.created_ids == ()


async def test_branch_success_status_with_error_field_is_not_silently_accepted(vers, server):
    server.on(
        "POST", f"/api/v1/vm/{VM1}/branch", httpx.Response(201, json={"vms": [{"vm_id": "b1"}], "error": "x"})
    )
    with pytest.raises(BadResponse) as info:
        await vers.branch(VM1, 2)
    assert info.value.created_ids == ("b1",)


@pytest.mark.parametrize("count", [0, -1, 256, True, 1.5])
async def test_branch_count_is_checked_before_sending(vers, server, count):
    with pytest.raises(BadRequest, match="1 to 255"):
        await vers.branch(VM1, count)
    assert server.requests == []


async def test_commit_with_name_description_keep_paused(vers, server):
    server.on(
        "POST",
        f"/api/v1/vm/{VM1}/commit",
        httpx.Response(201, json={"commit_id": C1, "host_architecture": "x86_64"}),
    )
    assert await vers.commit(VM1, name="base", description="clean install", keep_paused=True) == C1
    assert server.body() == {"name": "base", "description": "clean install"}
    assert dict(server.last.url.params) == {"keep_paused": "true"}
    assert_common_headers(server.last, mutating=True)
    assert await vers.commit(VM1) == C1
    assert server.body() == {} and dict(server.last.url.params) == {}


async def test_restore_and_from_commit_variants(vers, server):
    server.on("POST", "/api/v1/vm/from_commit", httpx.Response(201, json={"vm_id": VM2}))
    assert await vers.restore(C1) == VM2
    assert server.body() == {"commit_id": C1}
    assert await vers.from_commit(tag_name="stable") == VM2
    assert server.body() == {"tag_name": "stable"}
    assert await vers.from_commit(ref="myrepo:v1") == VM2
    assert server.body() == {"ref": "myrepo:v1"}
    assert_common_headers(server.last, mutating=True)
    sent = len(server.requests)
    for kwargs in ({}, {"commit_id": C1, "ref": "r:t"}):
        with pytest.raises(BadRequest, match="exactly one"):
            await vers.from_commit(**kwargs)
    assert len(server.requests) == sent


async def test_from_commit_not_found(vers, server):
    server.on(
        "POST",
        "/api/v1/vm/from_commit",
        httpx.Response(404, json={"success": False, "error": "commit not found"}),
    )
    with pytest.raises(NotFound, match="commit not found"):
        await vers.restore(C1)


# --- commits ----------------------------------------------------------------------------------------------


def commit_json(i: int) -> dict:
    return {
        "commit_id": f"c{i}",
        "name": f"commit {i}",
        "owner_id": "o1",
        "created_at": "2026-04-01T12:00:00Z",
        "is_public": i % 2 == 0,
        "description": None,
        "parent_vm_id": VM1,
        "grandparent_commit_id": None,
    }


async def test_list_commits_follows_pagination_until_total(vers, server):
    everything = [commit_json(i) for i in range(250)]

    def page(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        return httpx.Response(
            200,
            json={
                "commits": everything[offset : offset + limit],
                "total": 250,
                "limit": limit,
                "offset": offset,
            },
        )

    server.on("GET", "/api/v1/commits", page)
    commits = await vers.list_commits()
    assert [c.id for c in commits] == [f"c{i}" for i in range(250)]
    assert [(r.url.params["limit"], r.url.params["offset"]) for r in server.requests] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    first = commits[0]
    assert (
        isinstance(first, Commit)
        and first.provider == "prod"
        and first.parent_vm_id == VM1
        and first.is_public
    )


async def test_list_commits_stops_when_server_ignores_offset(vers, server):
    server.on(
        "GET",
        "/api/v1/commits",
        httpx.Response(200, json={"commits": [commit_json(i) for i in range(100)], "total": 10_000}),
    )
    assert len(await vers.list_commits()) == 100
    assert len(server.requests) == 2


async def test_list_commits_on_a_server_without_the_route_is_empty(vers, server):
    assert await vers.list_commits() == []


async def test_commit_parents_uses_id_field(vers, server):
    chain = [
        {
            "id": "c2",
            "name": "n2",
            "parent_vm_id": VM2,
            "grandparent_commit_id": "c1",
            "is_public": False,
            "owner_id": "o1",
            "created_at": "2026-04-02T00:00:00Z",
            "description": "d",
        },
        {
            "id": "c1",
            "name": "n1",
            "parent_vm_id": VM1,
            "grandparent_commit_id": None,
            "is_public": False,
            "owner_id": "o1",
            "created_at": "2026-04-01T00:00:00Z",
            "description": None,
        },
    ]
    server.on("GET", "/api/v1/vm/commits/c2/parents", httpx.Response(200, json=chain))
    parents = await vers.commit_parents("c2")
    assert [(c.id, c.parent_vm_id, c.grandparent_commit_id) for c in parents] == [
        ("c2", VM2, "c1"),
        ("c1", VM1, None),
    ]


async def test_delete_commit_conflict(vers, server):
    server.on("DELETE", "/api/v1/commits/c1", httpx.Response(204))
    await vers.delete_commit("c1")
    assert_common_headers(server.last, mutating=True)
    server.on(
        "DELETE",
        "/api/v1/commits/c2",
        httpx.Response(409, json={"success": False, "error": "commit still has 1 active VM(s)"}),
    )
    with pytest.raises(Conflict, match="still has 1 active"):
        await vers.delete_commit("c2")


# --- SSH, exec ----------------------------------------------------------------------------------------------


async def test_ssh_key(vers, server):
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    server.on(
        "GET",
        f"/api/v1/vm/{VM1}/ssh_key",
        httpx.Response(200, json={"ssh_private_key": pem, "ssh_port": 2201}),
    )
    key = await vers.ssh_key(VM1)
    assert key == SshKey(private_key_pem=pem, port=2201)
    assert "BEGIN" not in repr(key)


def test_ssh_endpoint_for_vers_derives_the_vm_domain():
    provider = VersProvider("p", "https://api.staging.vers.sh", KEY)
    endpoint = provider.ssh_endpoint(VM1)
    assert (endpoint.host, endpoint.port, endpoint.server_name) == (
        f"{VM1}.vm.staging.vers.sh",
        443,
        f"{VM1}.vm.staging.vers.sh",
    )
    assert derive_vm_domain("https://api.vers.sh/api/v1") == "vm.vers.sh"
    assert derive_vm_domain("http://127.0.0.1:9000") == "vm.localhost"
    assert derive_vm_domain("https://vers.example.org") == "vm.vers.example.org"


def test_ssh_endpoint_for_the_local_engine():
    provider = VersProvider(
        "local",
        "http://127.0.0.1:9000",
        "t" * 40,
        ssh_address=("127.0.0.1", 2222),
        ca_path="/state/ca.pem",
        memory_snapshots=False,
    )
    endpoint = provider.ssh_endpoint(VM1)
    assert (endpoint.host, endpoint.port, endpoint.server_name, endpoint.ca_path) == (
        "127.0.0.1",
        2222,
        f"{VM1}.vm.localhost",
        "/state/ca.pem",
    )
    assert provider.capabilities.memory_snapshots is False
    assert VersProvider.capabilities.memory_snapshots is True
    assert provider.capabilities.can_branch and provider.capabilities.has_ssh


async def test_exec(vers, server):
    server.on(
        "POST",
        f"/api/v1/vm/{VM1}/exec",
        httpx.Response(200, json={"exit_code": 3, "stdout": "hi\n", "stderr": "e"}),
    )
    result = await vers.exec(VM1, ["bash", "-c", "echo hi; exit 3"], timeout_secs=5)
    assert result == ExecResult(exit_code=3, stdout="hi\n", stderr="e")
    assert server.body() == {"command": ["bash", "-c", "echo hi; exit 3"], "timeout_secs": 5}
    assert_common_headers(server.last, mutating=True)
    with pytest.raises(BadRequest):
        await vers.exec(VM1, [])


# --- images, health -----------------------------------------------------------------------------------------


async def test_list_images_from_rootfs_route(vers, server):
    server.on(
        "GET",
        "/api/rootfs",
        httpx.Response(
            200,
            json={
                "rootfs": [
                    {
                        "name": "default",
                        "size_bytes": 1234,
                        "in_use": 2,
                        "created_at": "2026-04-01T00:00:00Z",
                    },
                    "alpine",
                ]
            },
        ),
    )
    images = await vers.list_images()
    assert images[0] == Image(
        name="default", size_bytes=1234, in_use=2, created_at=datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert images[1] == Image(name="alpine")
    assert_common_headers(server.last, mutating=False)


async def test_list_images_cluster_era_names(vers, server):
    server.on(
        "GET",
        "/api/rootfs",
        httpx.Response(
            200, json={"data": {"rootfs_names": ["a", "b"]}, "operation_id": "o", "duration_ns": 1}
        ),
    )
    assert [i.name for i in await vers.list_images()] == ["a", "b"]


async def test_list_images_falls_back_to_v1_images(vers, server):
    server.on(
        "GET",
        "/api/v1/images",
        httpx.Response(
            200,
            json={
                "images": [
                    {
                        "base_image_id": "i1",
                        "image_name": "ubuntu",
                        "owner_id": "o",
                        "is_public": False,
                        "size_mib": 2,
                        "source_type": "docker",
                        "created_at": "2026-04-01T00:00:00Z",
                        "description": None,
                    }
                ],
                "total": 1,
                "limit": 100,
                "offset": 0,
            },
        ),
    )
    images = await vers.list_images()
    assert images == [
        Image(name="ubuntu", id="i1", size_bytes=2 * 1024 * 1024, created_at=datetime(2026, 4, 1, tzinfo=UTC))
    ]
    assert await vers.list_images() == images
    assert [r.url.path for r in server.requests] == ["/api/rootfs", "/api/v1/images", "/api/v1/images"]


async def test_upload_image_streams_the_file_with_progress(vers, server, tmp_path: Path):
    tarball = tmp_path / "img.tar"
    payload = bytes(range(256)) * 3000  # 768000 bytes: several chunks
    tarball.write_bytes(payload)
    server.on("PUT", "/api/rootfs/my-image", httpx.Response(201, json={"name": "my-image"}))
    seen: list[tuple[int, int]] = []
    await vers.upload_image("my-image", tarball, progress=lambda done, total: seen.append((done, total)))
    request = server.last
    assert request.content == payload
    assert request.headers["content-length"] == str(len(payload))
    assert request.headers["content-type"] == "application/x-tar"
    assert_common_headers(request, mutating=True)
    assert len(seen) >= 3 and seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_upload_image_bad_input_and_missing_route(vers, server, tmp_path: Path):
    with pytest.raises(BadRequest, match="not a readable file"):
        await vers.upload_image("x", tmp_path / "missing.tar")
    with pytest.raises(BadRequest, match="not a readable file"):
        await vers.upload_image("x", tmp_path)
    tarball = tmp_path / "a.tar"
    tarball.write_bytes(b"data")
    with pytest.raises(BadRequest):
        await vers.upload_image("..", tarball)
    assert server.requests == []
    with pytest.raises(Unsupported, match="no rootfs upload"):
        await vers.upload_image("x", tarball)


async def test_delete_image(vers, server):
    server.on("GET", "/api/rootfs", httpx.Response(200, json={"rootfs_names": ["alpine", "default"]}))
    server.on("DELETE", "/api/rootfs/alpine", httpx.Response(204))
    await vers.delete_image("alpine")
    assert [(r.method, r.url.path) for r in server.requests] == [
        ("GET", "/api/rootfs"),
        ("DELETE", "/api/rootfs/alpine"),
    ]
    assert_common_headers(server.last, mutating=True)
    server.on(
        "DELETE", "/api/rootfs/default", httpx.Response(409, json={"success": False, "error": "image in use"})
    )
    with pytest.raises(Conflict, match="image in use"):
        await vers.delete_image("default")


async def test_health(vers, server):
    server.on("GET", "/health", httpx.Response(200, json={"ssh": {"connections_active": 3}, "http": {}}))
    assert (await vers.health())["ssh"] == {"connections_active": 3}
    server.routes.clear()
    server.on("GET", "/api/health", httpx.Response(200, json={"status": "ok"}))
    assert await vers.health() == {"status": "ok"}


# --- errors and retries through the provider ---------------------------------------------------------------


async def test_retried_create_reuses_its_idempotency_key(vers, server):
    answers = [
        httpx.Response(503, content=b"503 Service unavailable"),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(201, json={"vm_id": VM1}),
    ]
    server.on("POST", "/api/v1/vm/new_root", lambda r: answers.pop(0))
    assert await vers.create_vm(VmConfig()) == VM1
    keys = {r.headers["x-idempotency-key"] for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (httpx.Response(200, json={"vms": "nope"}), "VM list"),
        (httpx.Response(200, json=[{"vm_id": 5}]), "VM list item 0 response: vm_id"),
        (httpx.Response(200, json=[{"vm_id": "a"}, {"state": "running"}]), "VM list item 1 response: vm_id"),
        (httpx.Response(200, json=[{"vm_id": "a", "created_at": "yesterday"}]), "created_at"),
        (httpx.Response(200, text="<html/>", headers={"content-type": "text/html"}), "expected JSON"),
        (httpx.Response(200, content=b"[{", headers={"content-type": "application/json"}), "malformed JSON"),
    ],
)
async def test_schema_drift_is_bad_response(vers, server, answer, fragment):
    server.on("GET", "/api/v1/vms", answer)
    with pytest.raises(BadResponse) as info:
        await vers.list_vms()
    assert fragment in info.value.message
    assert KEY not in info.value.message


def test_provider_repr_hides_the_key():
    provider = VersProvider("p", "https://api.vers.sh", KEY)
    assert KEY not in repr(provider) and KEY not in repr(provider.http)
    assert isinstance(provider.capabilities.can_create, bool)


async def test_every_error_is_a_provider_error(vers, server):
    server.on("GET", "/api/v1/vms", httpx.Response(418, text="teapot"))
    with pytest.raises(ProviderError) as info:
        await vers.list_vms()
    assert isinstance(info.value, BadRequest) and info.value.message == "teapot"


async def test_upload_aborts_when_the_file_changes_underneath(server, tmp_path: Path):
    tarball = tmp_path / "img.tar"
    tarball.write_bytes(b"a" * 600_000)
    provider = VersProvider("p", "https://api.vers.sh", KEY, transport=httpx.MockTransport(server))

    def grow(done: int, total: int) -> None:
        if done < total:
            with tarball.open("ab") as handle:
                handle.write(b"more")

    server.on("PUT", "/api/rootfs/img", httpx.Response(201, json={}))
    with pytest.raises(BadRequest, match="changed while uploading"):
        await provider.upload_image("img", tarball, progress=grow)

    tarball.write_bytes(b"a" * 600_000)

    def shrink(done: int, total: int) -> None:
        tarball.write_bytes(b"")

    with pytest.raises(BadRequest, match="changed while uploading"):
        await provider.upload_image("img", tarball, progress=shrink)
    await provider.aclose()


def test_unusable_ca_bundle_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BadRequest, match="cannot use CA bundle"):
        VersProvider("p", "https://api.vers.sh", KEY, verify=str(tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(BadRequest, match="cannot use CA bundle"):
        VersProvider("p", "https://api.vers.sh", KEY, verify=str(garbage))


# --- the real thing: the local engine over real HTTP on loopback ---------------------------------------------


@pytest.fixture
async def engine_url(tmp_path: Path):
    """`vmtui serve`'s app (real sandboxes) under uvicorn on an ephemeral loopback port."""
    import uvicorn

    from vmtui.local.api.app import create_app
    from vmtui.local.engine import Engine

    engine = Engine(tmp_path / "state")
    await engine.start()
    token = "e2e-" + "x" * 40
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine, token), host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    await task
    for vm in engine.list_vms():  # a failed test must not leave sandboxes running
        await engine.delete_vm(vm.id)
    await engine.close()


@pytest.mark.root
async def test_full_lifecycle_against_the_local_engine(engine_url, tmp_path: Path):
    url, token = engine_url
    local = VersProvider(
        "local", url, token, memory_snapshots=False, ssh_address=("127.0.0.1", 1), timeout=60
    )
    try:
        assert (await local.health())["status"] == "ok"
        vm_id = await local.create_vm(VmConfig(labels={"name": "e2e"}), wait_boot=True)
        assert (await local.get_vm(vm_id)).labels == {"name": "e2e"}
        made = await local.exec(vm_id, ["bash", "-c", "echo kept > /root/f && cat /root/f"])
        assert made == ExecResult(exit_code=0, stdout="kept\n", stderr="")
        commit_id = await local.commit(vm_id, name="e2e", description="first")
        assert [(c.id, c.name, c.parent_vm_id) for c in await local.list_commits()] == [
            (commit_id, "e2e", vm_id)
        ]
        assert [c.id for c in await local.commit_parents(commit_id)] == [commit_id]
        branched = await local.branch(vm_id, 2)
        restored = await local.restore(commit_id)
        assert (await local.exec(restored, ["cat", "/root/f"])).stdout == "kept\n"
        await local.pause_vm(vm_id)
        assert (await local.status(vm_id)).state is VmState.PAUSED
        await local.resume_vm(vm_id)
        assert (await local.status(vm_id)).state is VmState.RUNNING
        lineage = {vm.id: vm for vm in await local.list_vms_with_lineage()}
        assert lineage[restored].parent_commit_id == commit_id
        assert all(lineage[b].parent_commit_id for b in branched)
        assert "PRIVATE KEY" in (await local.ssh_key(vm_id)).private_key_pem

        tarball = tmp_path / "img.tar"
        import io
        import tarfile

        with tarfile.open(tarball, "w") as archive:
            info = tarfile.TarInfo("etc/e2e")
            info.size = 3
            archive.addfile(info, io.BytesIO(b"e2e"))
        seen: list[tuple[int, int]] = []
        await local.upload_image("e2e-img", tarball, progress=lambda d, t: seen.append((d, t)))
        assert seen[-1][0] == tarball.stat().st_size
        assert "e2e-img" in [i.name for i in await local.list_images()]
        await local.delete_image("e2e-img")

        with pytest.raises(Conflict, match="active VM"):
            await local.delete_commit(commit_id)
        for vm in [vm_id, *branched, restored]:
            await local.delete_vm(vm)
        with pytest.raises(NotFound):
            await local.status(vm_id)
        assert await local.list_vms() == []

        wrong = VersProvider("local", url, "wrong-token-" + "y" * 30, timeout=60)
        with pytest.raises(AuthError):
            await wrong.list_vms()
        await wrong.aclose()
    finally:
        await local.aclose()


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """Forwards to the real server but replaces the first mutating answer with a 503, as a proxy that timed
    out after the server had acted would: the client must retry with the same idempotency key."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.lost: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and not self.lost:
            await response.aread()
            self.lost.append(request.headers["x-idempotency-key"])
            return httpx.Response(503, content=b"503 Service unavailable")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.root
async def test_a_retried_create_and_branch_happen_once_on_the_local_engine(engine_url):
    url, token = engine_url
    lossy = LosesFirstAnswer()
    local = VersProvider("local", url, token, transport=lossy, sleep=_no_sleep, timeout=60)
    try:
        vm_id = await local.create_vm(VmConfig(), wait_boot=True)
        assert [vm.id for vm in await local.list_vms()] == [vm_id], (
            "the lost first answer did not create twice"
        )
        lossy.lost.clear()
        children = await local.branch(vm_id, 2)
        assert len(children) == 2
        assert sorted(vm.id for vm in await local.list_vms()) == sorted([vm_id, *children])
        assert len(await local.list_commits()) == 1
    finally:
        await local.aclose()


async def test_repoll_reuses_unchanged_vms_and_reparses_changed_ones(vers, server):
    listing = [vm_json(VM1), vm_json(VM2)]
    server.on("GET", "/api/v1/vms", lambda r: httpx.Response(200, json=listing))
    meta = {VM1: {"vm_id": VM1, "parent_commit_id": C1}, VM2: {"vm_id": VM2, "parent_commit_id": None}}
    for vm_id in (VM1, VM2):
        server.on("GET", f"/api/v1/vm/{vm_id}/metadata", lambda r, v=vm_id: httpx.Response(200, json=meta[v]))

    first = await vers.list_vms_with_lineage()
    listing[1] = vm_json(VM2, "paused", labels={"team": "y"})
    second = await vers.list_vms_with_lineage()
    assert second[0] is first[0], "unchanged JSON -> the very same Vm object"
    assert second[1] is not first[1]
    assert (second[1].state, second[1].labels) == (VmState.PAUSED, {"team": "y"})
    assert second[0].parent_commit_id == C1

    listing[0] = {"vm_id": VM1, "state": 7}
    with pytest.raises(BadResponse, match="VM list item 0"):
        await vers.list_vms()
    listing[0] = vm_json(VM1)
    third = await vers.list_vms_with_lineage()
    assert third[0] == first[0] and third[0].parent_commit_id == C1
