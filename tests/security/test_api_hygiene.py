"""API hygiene, attacked from outside: unauthenticated bodies are never read, every body has a size
limit, idempotency records belong to one caller and one body, and a Swiftor plan caps how many VMs
run at once.

The big-body test drives a real `vmtui serve` and measures its peak RSS (`VmHWM` in
/proc/<pid>/status), not time. The rest run the engine's app in-process over ASGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.reliability.conftest import serve  # noqa: F401  (the real-daemon fixture)
from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.local.jwt_tokens import issue_token

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, overlayfs, cgroups)")

TOKEN = "hygiene-token-" + "t" * 32
OTHER_TOKEN = "rotated-token-" + "r" * 32
SECRET = "j" * 48
ALICE = "alice@example.com"
BOB = "bob@example.com"
BIG_BODY = 200 * 1024 * 1024
CHUNK = 1024 * 1024
JSON_BODY_LIMIT = 1024 * 1024
RSS_GROWTH_BOUND_KIB = 48 * 1024
"""The daemon may grow a little while it works; a buffered 200 MB body would grow it by ~200 MB."""


def vers(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def swiftor(email: str, plan: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, email, plan=plan)}"}


def create_body(label: str = "box") -> dict:
    return {
        "config": {"vmlabel": label, "region": {"code": "AU"}, "password": "hunter22"},
        "os": {"distribution": {"code": "kali"}, "desktop": None, "cpu": 1, "ram": 1},
    }


@pytest.fixture
async def engine(tmp_path) -> AsyncIterator[Engine]:
    eng = Engine(tmp_path / "engine", max_upload_bytes=64 * 1024)
    await eng.start()
    yield eng
    for vm in eng.db.list_vms(all_owners=True):
        with contextlib.suppress(Exception):
            await eng.delete_vm(vm.id, owner=vm.owner)
    await eng.close()


@contextlib.asynccontextmanager
async def client_of(engine: Engine, token: str = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, token, rate=10_000, burst=10_000, swiftor_secret=SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test", timeout=120) as http:
        yield http


# -- authentication before the body ---------------------------------------------------------------


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _push_unauthenticated_body(api: str, method: str, path: str) -> tuple[int, int]:
    """Stream BIG_BODY bytes (chunked, so no length to refuse up front) without credentials, going on
    after an early answer for as long as the daemon accepts bytes. Returns (status, bytes sent)."""
    where = urlsplit(api)
    sock = socket.create_connection((where.hostname, where.port), timeout=120)
    answer = b""
    sent = 0
    try:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        frame = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
        while sent < BIG_BODY:
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
            if not answer and select.select([sock], [], [], 0)[0]:
                answer = sock.recv(65536)  # read it now: a reset later would discard it
        if not answer:
            with contextlib.suppress(OSError):
                sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(65536)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1]), sent


@needs_root
@pytest.mark.parametrize(
    "method,path",
    [("POST", "/swiftor/vms/create"), ("POST", "/api/v1/vm/new_root"), ("PUT", "/api/rootfs/big")],
)
def test_unauthenticated_200mb_body_is_refused_without_the_daemon_growing(serve, tmp_path, method, path):  # noqa: F811
    daemon = serve(tmp_path / "state")
    before = _vm_hwm_kib(daemon.pid)
    status, sent = _push_unauthenticated_body(daemon.api, method, path)
    growth = _vm_hwm_kib(daemon.pid) - before
    print(f"{method} {path}: {status} after {sent >> 20} MiB sent, peak RSS growth {growth} KiB")
    assert status in (401, 403)
    assert growth < RSS_GROWTH_BOUND_KIB, f"peak RSS grew by {growth} KiB"
    assert daemon.alive
    with daemon.client() as client:
        assert client.get("/api/v1/vms").status_code == 200


# -- size limits on every body ------------------------------------------------------------------------


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


async def test_json_bodies_over_the_limit_are_413_declared_or_streamed(engine):
    big = b'{"vm_config": {"labels": {"x": "' + b"a" * (JSON_BODY_LIMIT + 1) + b'"}}}'
    async with client_of(engine) as http:
        for streamed in (False, True):
            answer = await http.post(
                "/api/v1/vm/new_root", content=_chunked(big) if streamed else big, headers=vers()
            )
            assert answer.status_code == 413
            assert answer.json()["success"] is False and "larger than" in answer.json()["error"]
            answer = await http.post(
                "/swiftor/vms/create",
                content=_chunked(big) if streamed else big,
                headers={**swiftor(ALICE), "X-Idempotency-Key": "k"},
            )
            assert answer.status_code == 413 and "larger than" in answer.json()["detail"]
        assert engine.list_vms() == [] and (
            await http.get("/swiftor/vms", headers=swiftor(ALICE))
        ).json() == {"vms": []}


async def test_rootfs_upload_over_the_configured_maximum_is_413_and_leaves_nothing(engine):
    too_big = b"\0" * (engine.max_upload_bytes + 1)
    async with client_of(engine) as http:
        declared = await http.put("/api/rootfs/huge", content=too_big, headers=vers())
        streamed = await http.put("/api/v1/rootfs/huge", content=_chunked(too_big), headers=vers())
        listed = (await http.get("/api/rootfs", headers=vers())).json()["rootfs_names"]
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "huge" not in listed
    assert list((engine.state_dir / "tmp").glob("upload-*")) == []


# -- idempotency belongs to one caller and one body ------------------------------------------------


async def test_another_user_or_nobody_reusing_a_key_never_gets_the_first_answer(engine):
    key = {"X-Idempotency-Key": "shared-key"}
    async with client_of(engine) as http:
        alice = await http.post("/swiftor/vms/create", json=create_body(), headers={**swiftor(ALICE), **key})
        assert alice.status_code == 200
        anonymous = await http.post("/swiftor/vms/create", json=create_body(), headers=key)
        assert anonymous.status_code == 403 and "vm" not in anonymous.json()
        bob = await http.post("/swiftor/vms/create", json=create_body(), headers={**swiftor(BOB), **key})
        assert bob.status_code == 200 and "idempotent-replayed" not in bob.headers
        assert bob.json()["vm"]["id"] != alice.json()["vm"]["id"]
        again = await http.post("/swiftor/vms/create", json=create_body(), headers={**swiftor(ALICE), **key})
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == alice.json()
        bobs = (await http.get("/swiftor/vms", headers=swiftor(BOB))).json()["vms"]
    assert [vm["id"] for vm in bobs] == [bob.json()["vm"]["id"]]


async def test_a_key_reused_with_a_different_body_is_422_and_runs_nothing(engine):
    key = {"X-Idempotency-Key": "k1"}
    async with client_of(engine) as http:
        first = await http.put("/api/v1/env_vars", json={"vars": {"A": "1"}}, headers={**vers(), **key})
        changed = await http.put("/api/v1/env_vars", json={"vars": {"A": "2"}}, headers={**vers(), **key})
        assert first.status_code == 200
        assert changed.status_code == 422 and "different request body" in changed.json()["error"]
        assert (await http.get("/api/v1/env_vars", headers=vers())).json() == {"vars": {"A": "1"}}
        swiftor_first = await http.post(
            "/swiftor/vms/create", json=create_body("one"), headers={**swiftor(ALICE), **key}
        )
        swiftor_changed = await http.post(
            "/swiftor/vms/create", json=create_body("two"), headers={**swiftor(ALICE), **key}
        )
        assert swiftor_first.status_code == 200
        assert (
            swiftor_changed.status_code == 422
            and "different request body" in swiftor_changed.json()["detail"]
        )
        assert len((await http.get("/swiftor/vms", headers=swiftor(ALICE))).json()["vms"]) == 1


async def test_records_are_per_token_so_a_rotated_token_never_replays(engine):
    key = {"X-Idempotency-Key": "k2"}
    body = {"vars": {"B": "1"}, "replace": True}
    async with client_of(engine) as http:
        assert (await http.put("/api/v1/env_vars", json=body, headers={**vers(), **key})).status_code == 200
    async with client_of(engine, OTHER_TOKEN) as http:
        rotated = await http.put("/api/v1/env_vars", json=body, headers={**vers(OTHER_TOKEN), **key})
    assert rotated.status_code == 200 and "idempotent-replayed" not in rotated.headers


async def test_a_refused_request_is_not_kept_so_its_corrected_retry_acts(engine):
    key = {"X-Idempotency-Key": "k3"}
    async with client_of(engine) as http:
        refused = await http.post(
            "/swiftor/vms/create", json={"config": {}}, headers={**swiftor(ALICE), **key}
        )
        fixed = await http.post("/swiftor/vms/create", json=create_body(), headers={**swiftor(ALICE), **key})
        bad_token = await http.put(
            "/api/v1/env_vars", json={"vars": {"C": "1"}}, headers={**vers("wrong"), **key}
        )
        good = await http.put("/api/v1/env_vars", json={"vars": {"C": "1"}}, headers={**vers(), **key})
    assert refused.status_code == 422
    assert fixed.status_code == 200 and "vm" in fixed.json()
    assert bad_token.status_code == 401
    assert good.status_code == 200 and "idempotent-replayed" not in good.headers


@needs_root
async def test_exec_output_with_secrets_is_never_replayed_to_another_caller(engine):
    key = {"X-Idempotency-Key": "exec-key"}
    async with client_of(engine) as http:
        vm = (await http.post("/swiftor/vms/create", json=create_body(), headers=swiftor(ALICE))).json()["vm"]
        secret = {"vmid": vm["id"], "key": "API_KEY", "value": "s3cr3t-value"}
        assert (
            await http.post("/swiftor/vms/secrets", json=secret, headers=swiftor(ALICE))
        ).status_code == 200
        assert (await http.get(f"/swiftor/vms/start/{vm['id']}", headers=swiftor(ALICE))).status_code == 200
        run = {"vmid": vm["id"], "command": "echo $API_KEY"}
        alice = await http.post("/swiftor/vms/exec", json=run, headers={**swiftor(ALICE), **key})
        assert alice.json()["stdout"].strip() == "s3cr3t-value"
        anonymous = await http.post("/swiftor/vms/exec", json=run, headers=key)
        bob = await http.post("/swiftor/vms/exec", json=run, headers={**swiftor(BOB), **key})
    assert anonymous.status_code == 403 and "s3cr3t" not in anonymous.text
    assert bob.status_code == 404 and "s3cr3t" not in bob.text


# -- Swiftor plans cap VMs running at once ----------------------------------------------------------


@needs_root
async def test_core_plan_runs_one_vm_at_once_even_when_starts_race(engine):
    async with client_of(engine) as http:
        ids = []
        for label in ("a", "b", "c"):
            created = await http.post("/swiftor/vms/create", json=create_body(label), headers=swiftor(ALICE))
            ids.append(created.json()["vm"]["id"])
        starts = await asyncio.gather(
            *(http.get(f"/swiftor/vms/start/{vmid}", headers=swiftor(ALICE)) for vmid in ids)
        )
        statuses = sorted(answer.status_code for answer in starts)
        assert statuses == [200, 400, 400], [answer.text for answer in starts]
        refusal = next(answer for answer in starts if answer.status_code == 400).json()["detail"]
        assert "core plan allows 1 VM(s) running at once" in refusal
        running = [vmid for vmid, answer in zip(ids, starts, strict=True) if answer.status_code == 200]
        waiting = [vmid for vmid in ids if vmid not in running]
        listed = (await http.get("/swiftor/vms", headers=swiftor(ALICE))).json()["vms"]
        assert sorted(vm["id"] for vm in listed if vm["enabled"]) == running
        assert (await http.get(f"/swiftor/vms/start/{running[0]}", headers=swiftor(ALICE))).status_code == 200
        assert (await http.get(f"/swiftor/vms/stop/{running[0]}", headers=swiftor(ALICE))).status_code == 200
        later = await http.get(f"/swiftor/vms/start/{waiting[0]}", headers=swiftor(ALICE))
        assert later.status_code == 200
        other_user = await http.post("/swiftor/vms/create", json=create_body(), headers=swiftor(BOB))
        bob_start = await http.get(
            f"/swiftor/vms/start/{other_user.json()['vm']['id']}", headers=swiftor(BOB)
        )
        assert bob_start.status_code == 200  # the cap is per user


async def test_a_keyed_request_cut_off_mid_body_never_runs(tmp_path):
    from vmtui.local.api.errors import vers_error
    from vmtui.local.api.guards import CALLER_KEY, Caller
    from vmtui.local.idempotency import IdempotencyMiddleware
    from vmtui.local.store import Store

    ran: list[bytes] = []

    async def app(scope, receive, send):
        message = await receive()
        ran.append(message.get("body", b""))

    messages = [
        {"type": "http.request", "body": b'{"vars": {"A": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def send(_message):
        raise AssertionError("nobody is left to answer")

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/api/v1/env_vars",
        "query_string": b"",
        "headers": [(b"x-idempotency-key", b"k")],
        CALLER_KEY: Caller("token:test"),
    }
    await IdempotencyMiddleware(app, Store(tmp_path / "db"), error=vers_error)(scope, receive, send)
    assert ran == []


# -- the VM list's kept rows ------------------------------------------------------------------------


@needs_root
async def test_kept_list_rows_never_reach_another_caller_and_a_vm_that_died_is_listed_dead(engine):
    """`GET /vms` keeps each VM's encoded row between calls: nobody but the Vers token holder gets them
    (not anonymous, not a Swiftor user, whose own VMs never join them), and a VM whose init died after
    it was listed (no write to the store) is listed dead at the next call, not as the kept `running`."""
    async with client_of(engine) as http:
        created = await http.post(
            "/api/v1/vm/new_root?wait_boot=true", json={"vm_config": {}}, headers=vers()
        )
        vm_id = created.json()["vm_id"]
        alices = (await http.post("/swiftor/vms/create", json=create_body(), headers=swiftor(ALICE))).json()
        listed = await http.get("/api/v1/vms", headers=vers())
        assert [(vm["vm_id"], vm["state"]) for vm in listed.json()] == [(vm_id, "running")]
        assert alices["vm"]["id"] not in listed.text
        for stranger in ({}, swiftor(BOB), swiftor(ALICE), vers(OTHER_TOKEN)):
            answer = await http.get("/api/v1/vms", headers=stranger)
            assert answer.status_code == 401 and vm_id not in answer.text
        assert vm_id not in (await http.get("/swiftor/vms", headers=swiftor(BOB))).text

        record = engine.db.get_vm(vm_id)
        assert record is not None and record.init_pid is not None
        os.kill(record.init_pid, signal.SIGKILL)  # the VM dies; nothing is written
        for _ in range(200):
            again = await http.get("/api/v1/vms", headers=vers())
            if again.json()[0]["state"] != "running":
                break
            await asyncio.sleep(0.05)
        assert [(vm["vm_id"], vm["state"]) for vm in again.json()] == [(vm_id, "dead")]
