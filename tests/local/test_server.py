"""The local engine's Vers-compatible API, driven in-process over ASGI (real engine, real sandboxes
for the tests marked `root`)."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.local.ratelimit import RateLimiter

TOKEN = "test-token-" + "x" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1 = "/api/v1"


def _client(app, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://engine.test", headers=headers, timeout=60)


@pytest.fixture
async def api(engine):
    async with _client(create_app(engine, TOKEN), **AUTH) as client:
        yield client


# -- without sandboxes: auth, limits, error shapes ------------------------------------------------


async def test_health_is_public_and_reports_capabilities(engine):
    async with _client(create_app(engine, TOKEN)) as anonymous:
        response = await anonymous.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["capabilities"]["memory_snapshots"] is False


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
@pytest.mark.parametrize(
    "method,path",
    [("GET", f"{V1}/vms"), ("POST", f"{V1}/vm/new_root"), ("GET", "/openapi.json"), ("GET", "/api/rootfs")],
)
async def test_every_route_but_health_needs_the_token(engine, headers, method, path):
    async with _client(create_app(engine, TOKEN), **headers) as client:
        response = await client.request(method, path, json={"vm_config": {}})
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "Missing or invalid Authorization header"}
    assert engine.list_vms() == []


async def test_openapi_lists_the_vers_routes(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/vms",
        "/api/v1/vm/new_root",
        "/api/v1/vm/{vm_or_commit_id}/branch",
        "/api/v1/vm/{vm_id}/commit",
        "/api/v1/commits/{commit_id}",
        "/api/v1/vm/{vm_id}/exec",
        "/api/v1/vm/commits/{commit_id}/parents",
        "/api/rootfs/{name}",
        "/health",
    ):
        assert path in paths


async def test_rate_limit_answers_429_with_retry_after(engine):
    app = create_app(engine, TOKEN, rate=0.5, burst=2)
    async with _client(app, **AUTH) as client:
        codes = [(await client.get(f"{V1}/vms")).status_code for _ in range(3)]
        limited = await client.get(f"{V1}/vms")
    assert codes == [200, 200, 429]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["success"] is False


def test_rate_limiter_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=1, clock=lambda: now[0])
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") is None  # buckets are per client
    now[0] = 0.5
    assert limiter.acquire("a") is None


async def test_idempotency_replays_kept_answers_only(tmp_path):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse

    from vmtui.local.api.guards import CALLER_KEY, Caller
    from vmtui.local.idempotency import MAX_STORED_BYTES, IdempotencyMiddleware
    from vmtui.local.store import Store

    calls = {"ok": 0, "fail": 0, "big": 0}
    inner = FastAPI()

    @inner.post("/ok", status_code=201)
    async def ok() -> dict:
        calls["ok"] += 1
        return {"n": calls["ok"]}

    @inner.post("/fail")
    async def fail() -> PlainTextResponse:
        calls["fail"] += 1
        return PlainTextResponse("busy", status_code=503)

    @inner.post("/big")
    async def big() -> PlainTextResponse:
        calls["big"] += 1
        return PlainTextResponse("x" * (MAX_STORED_BYTES + 1))

    middleware = IdempotencyMiddleware(
        inner, Store(tmp_path / "db"), error=lambda status, message: JSONResponse({"e": message}, status)
    )

    async def app(scope, receive, send):
        scope[CALLER_KEY] = Caller("token:test")
        await middleware(scope, receive, send)

    async with _client(app) as client:
        for path in ("/ok", "/fail", "/big"):
            for _ in range(2):
                await client.post(path, headers={"X-Idempotency-Key": "k"})
        replay = await client.post("/ok", headers={"X-Idempotency-Key": "k"})
        fresh = await client.post("/ok", headers={"X-Idempotency-Key": "other"})
        plain = await client.post("/ok")
    assert calls == {"ok": 3, "fail": 2, "big": 2}
    assert (replay.status_code, replay.json(), replay.headers["idempotent-replayed"]) == (
        201,
        {"n": 1},
        "true",
    )
    assert fresh.json() == {"n": 2} and plain.json() == {"n": 3}


async def test_malformed_json_is_400_plain_text_not_500(api):
    response = await api.post(
        f"{V1}/vm/new_root", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Failed to parse the request body as JSON")
    empty = await api.post(f"{V1}/vm/new_root")
    assert empty.status_code == 400


async def test_lowercase_state_is_422(api):
    response = await api.patch(
        f"{V1}/vm/00000000-0000-0000-0000-000000000000/state", json={"state": "paused"}
    )
    assert response.status_code == 422
    assert response.text.startswith("Failed to deserialize the JSON body into the target type")


async def test_wrong_types_and_bad_queries_are_client_errors(api):
    assert (
        await api.post(f"{V1}/vm/new_root", json={"vm_config": {"vcpu_count": "many"}})
    ).status_code == 422
    assert (await api.post(f"{V1}/vm/x/branch?count=-1")).status_code == 400
    assert (await api.post(f"{V1}/vm/x/branch?count=300")).status_code == 400
    assert (await api.get(f"{V1}/commits?limit=0")).status_code == 400
    both = await api.post(f"{V1}/vm/from_commit", json={"commit_id": "a", "tag_name": "b"})
    assert both.status_code == 400 and "exactly one" in both.text
    assert (await api.post(f"{V1}/vm/from_commit", json={})).status_code == 400
    tag = await api.post(f"{V1}/vm/from_commit", json={"tag_name": "v1"})
    assert (tag.status_code, tag.json()) == (404, {"success": False, "error": "tag not found: v1"})


async def test_unknown_objects_are_404_json(api):
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path, error in [
        ("GET", f"{V1}/vm/{missing}/status", "vm not found"),
        ("GET", f"{V1}/vm/{missing}/metadata", "vm not found"),
        ("DELETE", f"{V1}/vm/{missing}", "vm not found"),
        ("GET", f"{V1}/vm/{missing}/ssh_key", "vm not found"),
        ("POST", f"{V1}/vm/{missing}/branch", "commit not found"),
        ("POST", f"{V1}/vm/branch/by_vm/{missing}", "parent vm not found"),
        ("DELETE", f"{V1}/commits/{missing}", "commit not found"),
        ("GET", f"{V1}/vm/commits/{missing}/parents", "commit not found"),
        ("DELETE", "/api/rootfs/nothing", "image not found: nothing"),
    ]:
        response = await api.request(method, path)
        assert (response.status_code, response.json()) == (404, {"success": False, "error": error}), path
    unknown_image = await api.post(f"{V1}/vm/new_root", json={"vm_config": {"image_name": "nope"}})
    assert unknown_image.status_code == 404
    assert unknown_image.json() == {"success": False, "error": "image not found: nope"}


async def test_image_names_are_validated(engine, api):
    for name in ("%2e%2e", ".hidden", "a" * 65, "semi;colon", "-x"):
        response = await api.put(f"/api/rootfs/{name}", content=b"x")
        assert response.status_code == 400, name
        assert response.json()["error"].startswith("invalid image name")
    assert os.listdir(engine.state_dir / "images") == ["default"]


async def test_internal_errors_are_500_json_without_details(engine, monkeypatch, caplog):
    def explode(owner=None):
        raise RuntimeError(f"database exploded near {TOKEN}")

    monkeypatch.setattr(engine, "list_vms", explode)
    strict = httpx.ASGITransport(app=create_app(engine, TOKEN))  # would re-raise anything that escapes
    async with httpx.AsyncClient(transport=strict, base_url="http://engine.test", headers=AUTH) as api:
        response = await api.get(f"{V1}/vms")
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "internal error"}
    assert TOKEN not in response.text
    assert "RuntimeError: database exploded near [redacted]" in caplog.text and "explode" in caplog.text
    assert TOKEN not in caplog.text


async def test_empty_lists_have_the_contract_shapes(api):
    assert (await api.get(f"{V1}/vms")).json() == []
    assert (await api.get(f"{V1}/vm")).json() == []
    assert (await api.get(f"{V1}/commits")).json() == {"commits": [], "total": 0, "limit": 50, "offset": 0}
    images = (await api.get(f"{V1}/images")).json()
    assert [i["image_name"] for i in images["images"]] == ["default"]
    assert (await api.get("/api/rootfs")).json()["rootfs_names"] == ["default"]
    version = (await api.get(f"{V1}/system/version")).json()
    assert version["capabilities"]["memory_snapshots"] is False


async def test_without_sandbox_support_create_says_what_is_missing(engine, api, monkeypatch):
    import types

    import vmtui.local.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "sys", types.SimpleNamespace(platform="darwin"))
    for wait in ("true", "false"):
        response = await api.post(f"{V1}/vm/new_root?wait_boot={wait}", json={"vm_config": {}})
        assert response.status_code == 503
        assert "sandboxes need Linux" in response.json()["error"]
    assert (await api.get(f"{V1}/vms")).json() == []
    assert os.listdir(engine.state_dir / "vms") == []


async def test_a_failing_branch_reports_the_vms_it_made(engine, api, monkeypatch):
    from vmtui.core.errors import Unavailable
    from vmtui.local.store import CommitRecord, VmRecord

    engine.db.insert_commit(CommitRecord(id="c1", layers=["c1"]))
    made: list[str] = []

    async def launch(vm: VmRecord, *, start: bool, wait_boot: bool) -> VmRecord:
        if made:
            raise Unavailable("out of sandboxes")
        made.append(vm.id)
        return vm

    monkeypatch.setattr(engine, "_launch", launch)
    response = await api.post(f"{V1}/vm/c1/branch?count=3")
    assert response.status_code == 503
    assert response.json() == {"vms": [{"vm_id": made[0]}], "error": "out of sandboxes"}


async def test_start_sweeps_half_made_state(tmp_path):
    from vmtui.local.store import Store, VmRecord

    state = tmp_path / "state"
    first = Engine(state)
    await first.start()
    await first.close()
    store = Store(state / "engine.db")
    store.insert_vm(VmRecord(id="half-made"))  # crash during create: still `creating`
    store.close()
    for leftover in (
        "vms/half-made/upper",
        "vms/unknown-vm/upper",
        "layers/orphan-layer/root",
        "tmp/upload-x",
    ):
        (state / leftover).mkdir(parents=True)

    engine = Engine(state)
    await engine.start()
    try:
        assert engine.db.get_vm("half-made", include_deleted=True) is None
        assert os.listdir(state / "vms") == [] and os.listdir(state / "layers") == []
        assert os.listdir(state / "tmp") == []
    finally:
        await engine.close()


# -- real sandboxes -------------------------------------------------------------------------------


async def _new_vm(api, **config) -> str:
    response = await api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": config})
    assert response.status_code == 201, response.text
    return response.json()["vm_id"]


async def _sh(api, vm_id: str, script: str) -> dict:
    response = await api.post(f"{V1}/vm/{vm_id}/exec", json={"command": ["sh", "-c", script]})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.root
async def test_vm_lifecycle_commit_branch_pause_delete(api):
    vm_id = await _new_vm(api, labels={"team": "core"})
    status = (await api.get(f"{V1}/vm/{vm_id}/status")).json()
    assert status["state"] == "running" and status["labels"] == {"team": "core"}
    assert (await _sh(api, vm_id, "echo hello")) == {"exit_code": 0, "stdout": "hello\n", "stderr": ""}
    failed = await _sh(api, vm_id, "echo oops >&2; exit 3")
    assert failed == {"exit_code": 3, "stdout": "", "stderr": "oops\n"}

    made = await _sh(api, vm_id, "head -c 65536 /dev/urandom > /root/data && sha256sum /root/data")
    digest = made["stdout"].split()[0]
    commit = await api.post(f"{V1}/vm/{vm_id}/commit", json={"name": "with data"})
    assert commit.status_code == 201
    commit_id = commit.json()["commit_id"]
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] == "running"

    branched = await api.post(f"{V1}/vm/{commit_id}/branch?count=3")
    assert branched.status_code == 201
    children = [vm["vm_id"] for vm in branched.json()["vms"]]
    assert len(set(children)) == 3
    for child in children:
        seen = await _sh(api, child, "sha256sum /root/data")
        assert seen["stdout"].split()[0] == digest
        meta = (await api.get(f"{V1}/vm/{child}/metadata")).json()
        assert meta["parent_commit_id"] == commit_id and meta["grandparent_vm_id"] == vm_id
        assert set(meta["enforced_limits"]) <= {"cpu", "memory", "pids", "freeze", "disk"}

    # Later changes in the parent never reach a branch, nor the reverse.
    await _sh(api, vm_id, "echo parent > /root/data")
    await _sh(api, children[0], "echo child > /root/only-child")
    assert (await _sh(api, children[1], "sha256sum /root/data"))["stdout"].split()[0] == digest
    assert (await _sh(api, vm_id, "test -e /root/only-child; echo $?"))["stdout"] == "1\n"

    listed = {vm["vm_id"]: vm for vm in (await api.get(f"{V1}/vms")).json()}
    assert set(listed) == {vm_id, *children}
    commits = (await api.get(f"{V1}/commits")).json()
    assert commits["total"] == 1 and commits["commits"][0]["name"] == "with data"
    assert commits["commits"][0]["parent_vm_id"] == vm_id

    paused = await api.patch(f"{V1}/vm/{vm_id}/state", json={"state": "Paused"})
    assert (paused.status_code, paused.content) == (200, b"")
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] == "paused"
    refused = await api.post(f"{V1}/vm/{vm_id}/exec", json={"command": ["true"]})
    assert refused.status_code == 409
    assert (await api.patch(f"{V1}/vm/{vm_id}/state", json={"state": "Running"})).status_code == 200
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] == "running"

    in_use = await api.delete(f"{V1}/commits/{commit_id}")
    assert in_use.status_code == 409
    assert in_use.json() == {"success": False, "error": "commit still has 3 active VM(s)"}
    for child in children:
        deleted = await api.delete(f"{V1}/vm/{child}")
        assert (deleted.status_code, deleted.json()) == (200, {"vm_id": child})
    assert (await api.get(f"{V1}/vm/{children[0]}/status")).status_code == 404
    assert (await api.delete(f"{V1}/commits/{commit_id}")).status_code == 204
    assert (await api.get(f"{V1}/commits")).json()["total"] == 0


@pytest.mark.root
async def test_branch_from_a_vm_commits_it_and_count_zero_is_empty(api):
    vm_id = await _new_vm(api)
    await _sh(api, vm_id, "echo v1 > /root/f")
    branched = await api.post(f"{V1}/vm/branch/by_vm/{vm_id}?keep_paused=true")
    assert branched.status_code == 201
    [child] = [vm["vm_id"] for vm in branched.json()["vms"]]
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] == "paused"
    assert (await _sh(api, child, "cat /root/f"))["stdout"] == "v1\n"
    commit_id = (await api.get(f"{V1}/vm/{child}/metadata")).json()["parent_commit_id"]
    parents = (await api.get(f"{V1}/vm/commits/{commit_id}/parents")).json()
    assert [p["id"] for p in parents] == [commit_id] and parents[0]["parent_vm_id"] == vm_id

    none = await api.post(f"{V1}/vm/branch/by_commit/{commit_id}?count=0")
    assert (none.status_code, none.json()) == (201, {"vms": []})
    restored = await api.post(f"{V1}/vm/from_commit", json={"commit_id": commit_id})
    assert restored.status_code == 201
    assert (await _sh(api, restored.json()["vm_id"], "cat /root/f"))["stdout"] == "v1\n"

    slow = await api.post(f"{V1}/vm/{child}/exec", json={"command": ["sleep", "30"], "timeout_secs": 1})
    assert slow.status_code == 408 and "timed out" in slow.json()["error"]

    key = (await api.get(f"{V1}/vm/{child}/ssh_key")).json()
    assert key["ssh_private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    other = (await api.get(f"{V1}/vm/{vm_id}/ssh_key")).json()
    assert other["ssh_private_key"] != key["ssh_private_key"]


@pytest.mark.root
async def test_branches_and_restores_keep_the_source_vms_sizes_after_it_is_deleted(api):
    vm_id = await _new_vm(api, vcpu_count=2, mem_size_mib=384, fs_size_mib=96)
    commit_id = (await api.post(f"{V1}/vm/{vm_id}/commit", json={})).json()["commit_id"]
    assert (await api.delete(f"{V1}/vm/{vm_id}")).status_code == 200

    branched = (await api.post(f"{V1}/vm/branch/by_commit/{commit_id}")).json()["vms"][0]["vm_id"]
    restored = (await api.post(f"{V1}/vm/from_commit", json={"commit_id": commit_id})).json()["vm_id"]
    for child in (branched, restored):
        meta = (await api.get(f"{V1}/vm/{child}/metadata")).json()
        assert (meta["vcpu_count"], meta["mem_size_mib"], meta["fs_size_mib"]) == (2, 384, 96)


@pytest.mark.root
async def test_idempotent_create_acts_once(engine, api):
    headers = {"X-Idempotency-Key": "create-once"}
    body = {"vm_config": {"labels": {"n": "1"}}}
    first, second = await asyncio.gather(
        api.post(f"{V1}/vm/new_root?wait_boot=true", json=body, headers=headers),
        api.post(f"{V1}/vm/new_root?wait_boot=true", json=body, headers=headers),
    )
    third = await api.post(f"{V1}/vm/new_root?wait_boot=true", json=body, headers=headers)
    assert first.status_code == second.status_code == third.status_code == 201
    assert first.json() == second.json() == third.json()
    assert len(engine.list_vms()) == 1
    other = await api.post(f"{V1}/vm/new_root?wait_boot=true", json=body, headers={"X-Idempotency-Key": "k2"})
    assert other.json() != first.json() and len(engine.list_vms()) == 2


@pytest.mark.root
async def test_new_root_without_wait_boot_returns_booting_then_runs(api):
    response = await api.post(f"{V1}/vm/new_root", json={"vm_config": {}})
    assert response.status_code == 201
    vm_id = response.json()["vm_id"]
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] in ("booting", "running")
    assert (await _sh(api, vm_id, "echo up"))["stdout"] == "up\n"  # exec waits for the boot
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["state"] == "running"


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.root
async def test_rootfs_upload_use_and_delete(engine, api):
    evil = await api.put("/api/rootfs/evil", content=_tarball({"../escape": b"x"}))
    assert evil.status_code == 400 and evil.json()["success"] is False
    assert not (engine.state_dir / "escape").exists() and not (engine.state_dir / "images" / "evil").exists()

    uploaded = await api.put("/api/rootfs/tiny", content=_tarball({"hello.txt": b"hi\n"}))
    assert uploaded.status_code == 201, uploaded.text
    listed = (await api.get("/api/rootfs")).json()
    assert listed["rootfs_names"] == ["default", "tiny"]

    vm_id = await _new_vm(api, image_name="default")
    assert (await api.delete("/api/rootfs/default")).status_code == 409
    engine.db.update_vm(vm_id, image="tiny")  # mark it used without needing a bootable tiny rootfs
    busy = await api.delete("/api/rootfs/tiny")
    assert busy.status_code == 409 and "in use by 1 VM(s)" in busy.json()["error"]
    engine.db.update_vm(vm_id, image="default")
    assert (await api.delete("/api/rootfs/tiny")).status_code == 200
    assert (await api.get("/api/rootfs")).json()["rootfs_names"] == ["default"]


@pytest.mark.root
async def test_upload_size_is_capped(tmp_path):
    engine = Engine(tmp_path / "state", max_upload_bytes=1000)
    await engine.start()
    try:
        async with _client(create_app(engine, TOKEN), **AUTH) as api:
            response = await api.put("/api/rootfs/big", content=b"x" * 5000)
        assert response.status_code == 413
        assert os.listdir(engine.state_dir / "tmp") == [] and engine.db.get_image("big") is None
    finally:
        await engine.close()


@pytest.mark.root
async def test_a_vm_whose_init_died_boots_again_from_its_filesystem(tmp_path):
    import signal

    state = tmp_path / "state"
    engine = Engine(state)
    await engine.start()
    vm = await engine.create_vm()
    await engine.exec(vm.id, ["sh", "-c", "echo survived > /root/f"])
    paused = await engine.create_vm()
    await engine.set_paused(paused.id, True)
    old_init = engine.get_vm(vm.id).init_pid
    await engine.close()
    os.kill(old_init, signal.SIGKILL)  # as after a host reboot: the VM's processes are gone
    while _process_alive(old_init):
        await asyncio.sleep(0.01)

    again = Engine(state)
    await again.start()
    try:
        record = again.get_vm(vm.id)
        assert record.init_pid != old_init and again.vm_state(record) == "running"
        assert (await again.exec(vm.id, ["cat", "/root/f"]))[:2] == (0, b"survived\n")
        assert again.vm_state(again.get_vm(paused.id)) == "paused"  # adopted, still frozen
    finally:
        for record in again.list_vms():
            await again.delete_vm(record.id)
        await again.close()


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.root
async def test_restart_finds_vms_and_commits(tmp_path):
    state = tmp_path / "state"
    engine = Engine(state)
    await engine.start()
    vm = await engine.create_vm()
    await engine.exec(vm.id, ["sh", "-c", "echo kept > /root/kept"])
    commit = await engine.commit_vm(vm.id)
    stopped = await engine.create_vm()
    frozen = await engine.create_vm()
    await engine._sandboxes[frozen.id].pause()  # as if the daemon died in the middle of a commit
    await engine.close()

    again = Engine(state)
    await again.start()
    try:
        assert {v.id for v in again.list_vms()} == {vm.id, stopped.id, frozen.id}
        assert (await again.exec(frozen.id, ["true"]))[0] == 0  # thawed: it was recorded running
        assert again.get_commit(commit.id).parent_vm_id == vm.id
        code, out, _ = await again.exec(vm.id, ["cat", "/root/kept"])
        assert (code, out) == (0, b"kept\n")
        assert again.vm_state(again.get_vm(vm.id)) == "running"
    finally:
        for record in again.list_vms():
            await again.delete_vm(record.id)
        await again.close()


@pytest.mark.root
async def test_pause_really_stops_processes(api):
    """A VM process logs the wall clock (shared with the host) without pause: while the API says
    paused, no entry is made at all; after resuming, entries come again."""
    vm_id = await _new_vm(api)
    loop = "while :; do date +%s.%N >> /tmp/clock; sleep 0.01; done"
    await _sh(api, vm_id, f"nohup sh -c '{loop}' >/dev/null 2>&1 &")

    async def entries() -> list[float]:
        return [
            float(line) for line in (await _sh(api, vm_id, "cat /tmp/clock 2>/dev/null"))["stdout"].split()
        ]

    while not await entries():  # the loop has started
        await asyncio.sleep(0.05)
    assert (await api.patch(f"{V1}/vm/{vm_id}/state", json={"state": "Paused"})).status_code == 200
    paused_at = time.time()
    await asyncio.sleep(1.0)
    resuming_at = time.time()
    assert (await api.patch(f"{V1}/vm/{vm_id}/state", json={"state": "Running"})).status_code == 200
    while not [t for t in await entries() if t > resuming_at]:  # running again
        await asyncio.sleep(0.05)
    assert [t for t in await entries() if paused_at < t < resuming_at] == []


@pytest.mark.root
async def test_twenty_concurrent_creates_and_branches_stay_consistent(engine, api):
    created = await asyncio.gather(
        *(api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": {}}) for _ in range(20))
    )
    assert [r.status_code for r in created] == [201] * 20
    ids = {r.json()["vm_id"] for r in created}
    source = next(iter(ids))
    branched = await asyncio.gather(*(api.post(f"{V1}/vm/{source}/branch?count=2") for _ in range(4)))
    assert [r.status_code for r in branched] == [201] * 4
    ids |= {vm["vm_id"] for r in branched for vm in r.json()["vms"]}
    assert len(ids) == 28
    assert {vm["vm_id"] for vm in (await api.get(f"{V1}/vms")).json()} == ids
    assert all(vm["state"] == "running" for vm in (await api.get(f"{V1}/vms")).json())
    commits = (await api.get(f"{V1}/commits")).json()
    assert commits["total"] == 4
    assert {c["parent_vm_id"] for c in commits["commits"]} == {source}
    assert set(os.listdir(engine.state_dir / "vms")) == ids
    assert set(os.listdir(engine.state_dir / "layers")) == {c["commit_id"] for c in commits["commits"]}


@pytest.mark.root
async def test_the_projects_vers_provider_drives_the_engine(engine, tmp_path):
    from vmtui.core.errors import Conflict, NotFound
    from vmtui.core.models import VmConfig, VmState
    from vmtui.providers.vers import VersProvider

    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    provider = VersProvider(
        "local",
        "http://engine.test",
        TOKEN,
        transport=transport,
        timeout=60,
        memory_snapshots=False,
        max_retries=0,
    )
    try:
        vm_id = await provider.create_vm(VmConfig(labels={"name": "dev"}), wait_boot=True)
        assert (await provider.get_vm(vm_id)).state is VmState.RUNNING
        assert (await provider.exec(vm_id, ["sh", "-c", "echo hi > /root/f; cat /root/f"])).stdout == "hi\n"
        commit_id = await provider.commit(vm_id, name="c1")
        [child] = await provider.branch(commit_id, 1)
        restored = await provider.restore(commit_id)
        lineage = {vm.id: vm for vm in await provider.list_vms_with_lineage()}
        assert set(lineage) == {vm_id, child, restored}
        assert lineage[child].parent_commit_id == commit_id and lineage[child].grandparent_vm_id == vm_id
        assert [c.id for c in await provider.list_commits()] == [commit_id]
        assert (await provider.ssh_key(child)).private_key_pem.startswith("-----BEGIN OPENSSH")
        await provider.pause_vm(vm_id)
        assert (await provider.get_vm(vm_id)).state is VmState.PAUSED
        await provider.resume_vm(vm_id)
        with pytest.raises(Conflict, match="commit still has 2 active VM"):
            await provider.delete_commit(commit_id)
        tarball = tmp_path / "rootfs.tar"
        tarball.write_bytes(_tarball({"etc/os-release": b"ID=tiny\n"}))
        await provider.upload_image("tiny", tarball)
        assert [image.name for image in await provider.list_images()] == ["default", "tiny"]
        await provider.delete_image("tiny")
        for vm in (child, restored, vm_id):
            await provider.delete_vm(vm)
        await provider.delete_commit(commit_id)
        with pytest.raises(NotFound):
            await provider.get_vm(vm_id)
    finally:
        await provider.aclose()


@pytest.mark.root
async def test_exec_stream_speaks_ndjson(api):
    import base64
    import json

    vm_id = await _new_vm(api)
    body = {"command": ["sh", "-c", "cat; echo err >&2; exit 4"], "stdin": "from stdin\n", "exec_id": "e1"}
    response = await api.post(f"{V1}/vm/{vm_id}/exec/stream", json=body)
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["cursor"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1] == {"type": "exit", "exec_id": "e1", "cursor": len(events), "exit_code": 4}
    output = {"stdout": b"", "stderr": b""}
    for chunk in events[:-1]:
        output[chunk["stream"]] += base64.b64decode(chunk["data_b64"])
    assert output == {"stdout": b"from stdin\n", "stderr": b"err\n"}

    slow = await api.post(
        f"{V1}/vm/{vm_id}/exec/stream",
        json={"command": ["sh", "-c", "echo started; sleep 30"], "timeout_secs": 1},
    )
    assert slow.status_code == 200
    first, last = (json.loads(line) for line in slow.text.splitlines())
    assert base64.b64decode(first["data_b64"]) == b"started\n"
    assert last["type"] == "error" and last["code"] == "timeout"
    silent = await api.post(
        f"{V1}/vm/{vm_id}/exec/stream", json={"command": ["sleep", "30"], "timeout_secs": 1}
    )
    assert silent.status_code == 408  # nothing streamed yet: a plain error answer
    await api.patch(f"{V1}/vm/{vm_id}/state", json={"state": "Paused"})
    paused = await api.post(f"{V1}/vm/{vm_id}/exec/stream", json={"command": ["true"]})
    assert paused.status_code == 409


@pytest.mark.root
async def test_files_round_trip(api):
    import base64

    vm_id = await _new_vm(api)
    data = bytes(range(256)) * 4
    body = {
        "path": "/opt/app/blob.bin",
        "content_b64": base64.b64encode(data).decode(),
        "mode": 0o600,
        "create_dirs": True,
    }
    assert (await api.put(f"{V1}/vm/{vm_id}/files", json=body)).status_code == 200
    read = await api.get(f"{V1}/vm/{vm_id}/files", params={"path": "/opt/app/blob.bin"})
    assert base64.b64decode(read.json()["content_b64"]) == data
    assert (await _sh(api, vm_id, "stat -c %a /opt/app/blob.bin"))["stdout"] == "600\n"
    missing = await api.get(f"{V1}/vm/{vm_id}/files", params={"path": "/nope"})
    assert missing.status_code == 404 and "/nope" in missing.json()["error"]
    relative = await api.get(f"{V1}/vm/{vm_id}/files", params={"path": "etc/passwd"})
    assert relative.status_code == 400
    no_dir = await api.put(f"{V1}/vm/{vm_id}/files", json={**body, "path": "/x/y/z", "create_dirs": False})
    assert no_dir.status_code == 400
    bad = await api.put(f"{V1}/vm/{vm_id}/files", json={**body, "content_b64": "***"})
    assert bad.status_code == 422


@pytest.mark.root
async def test_account_env_vars_reach_new_vms(api):
    assert (await api.get(f"{V1}/env_vars")).json() == {"vars": {}}
    put = await api.put(f"{V1}/env_vars", json={"vars": {"GREETING": "hello", "TEAM": "core"}})
    assert put.json() == {"vars": {"GREETING": "hello", "TEAM": "core"}}
    bad = await api.put(f"{V1}/env_vars", json={"vars": {"1BAD": "x"}})
    assert bad.status_code == 400 and "invalid variable name" in bad.json()["error"]
    vm_id = await _new_vm(api)
    assert (await _sh(api, vm_id, 'echo "$GREETING $TEAM"'))["stdout"] == "hello core\n"
    replaced = await api.put(f"{V1}/env_vars", json={"vars": {"ONLY": "1"}, "replace": True})
    assert replaced.json() == {"vars": {"ONLY": "1"}}
    assert (await api.delete(f"{V1}/env_vars/ONLY")).status_code == 204
    missing = await api.delete(f"{V1}/env_vars/ONLY")
    assert (missing.status_code, missing.json()["error"]) == (404, "env var not found: ONLY")
    assert (await _sh(api, vm_id, 'echo "$GREETING"'))["stdout"] == "hello\n"  # set at creation


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    "vm_config",
    "state",
    "labels",
    "command",
    "commit_id",
    "tag_name",
    "name",
    "path",
    "content_b64",
    "vars",
    "is_public",
    "timeout_secs",
    "stdin",
    "env",
    "image_name",
    "vcpu_count",
]
_bodies = st.one_of(
    _json_values,
    st.dictionaries(st.sampled_from(_FIELDS), _json_values, max_size=4),
    st.binary(max_size=40),  # not JSON at all
)
_ROUTES = [
    ("POST", f"{V1}/vm/new_root"),
    ("POST", f"{V1}/vm/from_commit"),
    ("PATCH", f"{V1}/vm/{{id}}/state"),
    ("PATCH", f"{V1}/vm/{{id}}/label"),
    ("POST", f"{V1}/vm/{{id}}/commit"),
    ("POST", f"{V1}/vm/{{id}}/exec"),
    ("POST", f"{V1}/vm/{{id}}/exec/stream"),
    ("PUT", f"{V1}/vm/{{id}}/files"),
    ("PATCH", f"{V1}/commits/{{id}}"),
    ("PUT", f"{V1}/env_vars"),
    ("POST", f"{V1}/vm/{{id}}/branch?count=2"),
    ("GET", f"{V1}/vm/{{id}}/files"),
    ("GET", f"{V1}/vm/{{id}}/diff"),
    ("GET", f"{V1}/vm/{{id}}/diff/text?path=/etc/x"),
    ("GET", f"{V1}/vm/commits/{{id}}/diff/{{id}}/text?path=../x"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(_ROUTES),
    body=_bodies,
    vm_id=st.sampled_from(["00000000-0000-0000-0000-000000000000", "x", "%2e%2e", "a b"]),
)
async def test_bad_input_never_causes_a_server_error(engine, api, monkeypatch, route, body, vm_id):
    import types

    import vmtui.local.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "sys", types.SimpleNamespace(platform="darwin"))  # no VM can start
    method, path = route
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await api.request(method, path.format(id=vm_id), **kwargs)
    assert response.status_code < 500 or response.status_code == 503, response.text
    assert engine.list_vms() == []


@pytest.mark.root
async def test_labels_commit_updates_and_commit_pages(api):
    vm_id = await _new_vm(api, labels={"a": "1"})
    assert (await api.patch(f"{V1}/vm/{vm_id}/label", json={"labels": {"b": "2"}})).status_code == 200
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["labels"] == {"a": "1", "b": "2"}  # upsert
    for missing in ({"labels": None}, {}):
        refused = await api.patch(f"{V1}/vm/{vm_id}/label", json=missing)
        assert refused.status_code == 400 and "labels" in refused.json()["error"]
    assert (await api.put(f"{V1}/vm/{vm_id}/labels", json={"labels": {"b": "3"}})).status_code == 200
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["labels"] == {"b": "3"}  # replaced
    assert (await api.delete(f"{V1}/vm/{vm_id}/label/b")).status_code == 200
    assert (await api.get(f"{V1}/vm/{vm_id}/status")).json()["labels"] == {}
    assert (await api.delete(f"{V1}/vm/{vm_id}/label/b")).status_code == 404

    made = [
        (await api.post(f"{V1}/vm/{vm_id}/commit", json={"name": f"c{n}"})).json()["commit_id"]
        for n in range(3)
    ]
    page = (await api.get(f"{V1}/commits?limit=2&offset=1")).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [c["commit_id"] for c in page["commits"]] == [made[1], made[0]]  # newest first
    chain = (await api.post(f"{V1}/vm/branch/by_commit/{made[2]}")).json()["vms"][0]["vm_id"]
    grandchild_commit = (await api.post(f"{V1}/vm/{chain}/commit")).json()["commit_id"]
    parents = (await api.get(f"{V1}/vm/commits/{grandchild_commit}/parents")).json()
    assert [p["id"] for p in parents] == [grandchild_commit, made[2]]

    updated = await api.patch(f"{V1}/commits/{made[0]}", json={"is_public": True, "description": "golden"})
    assert updated.status_code == 200
    assert (updated.json()["is_public"], updated.json()["description"], updated.json()["name"]) == (
        True,
        "golden",
        "c0",
    )
    assert (
        await api.patch(f"{V1}/commits/{made[0]}", json={"name": "x"})
    ).status_code == 422  # is_public required


@pytest.mark.root
async def test_a_commit_cannot_be_deleted_under_a_running_branch(engine):
    from vmtui.core.errors import Conflict

    vm = await engine.create_vm()
    commit = await engine.commit_vm(vm.id)
    branching = asyncio.create_task(engine.branch(commit.id, 6))
    await asyncio.sleep(0)  # the branch has started; its VMs are still waiting to boot
    with pytest.raises(Conflict, match="commit still has 6 active VM"):
        await engine.delete_commit(commit.id)
    made = await branching
    assert len(made) == 6 and all(engine.vm_state(v) == "running" for v in made)
