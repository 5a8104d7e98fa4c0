"""The local Swiftor API on the real engine: auth, ownership, validation, lifecycle on real
sandboxes (root), secrets as environment, /config persistence, host-routed proxy, and the
SwiftorProvider driving it end to end."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from vmtui.core.errors import AuthError, BadRequest, NotFound, QuotaExceeded, Unsupported
from vmtui.core.models import VmState
from vmtui.local.api.app import create_app
from vmtui.local.api.host_proxy import HostProxy
from vmtui.local.api.swiftor import SwiftorContext, swiftor_app
from vmtui.local.engine import Engine
from vmtui.local.jwt_tokens import InvalidToken, issue_token, load_or_create_secret, verify_token
from vmtui.local.sshd import start_gateway
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession

SECRET = "s" * 48
ALICE = "alice@example.com"
BOB = "bob@example.com"


def create_body(
    label: str = "box",
    *,
    cpu: int = 1,
    ram: int = 1,
    storage: str | None = None,
    distribution: str = "ubuntu",
    desktop: str | None = "xfce",
) -> dict:
    config = {"vmlabel": label, "region": {"code": "AU"}, "password": "hunter22"}
    if storage:
        config["storageType"] = storage
    return {
        "config": config,
        "os": {"distribution": {"code": distribution}, "desktop": desktop, "cpu": cpu, "ram": ram},
    }


def auth(email: str, plan: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, email, plan=plan)}"}


@pytest.fixture
async def engine(tmp_path) -> AsyncIterator[Engine]:
    eng = Engine(tmp_path / "engine")
    await eng.start()
    yield eng
    for vm in eng.db.list_vms(all_owners=True):
        with contextlib.suppress(Exception):
            await eng.delete_vm(vm.id, owner=vm.owner)
    await eng.close()


def make_app(engine: Engine) -> FastAPI:
    app = FastAPI()
    context = SwiftorContext(engine)
    app.mount("/swiftor", swiftor_app(context, SECRET))
    app.add_middleware(HostProxy, engine=engine, swiftor=context)
    return app


@pytest.fixture
async def client(engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123/swiftor") as http:
        yield http


async def create(client: httpx.AsyncClient, email: str = ALICE, **kwargs) -> dict:
    answer = await client.post("/vms/create", json=create_body(**kwargs), headers=auth(email))
    assert answer.status_code == 200, answer.text
    vm = answer.json()["vm"]
    assert len(vm.pop("user_id")) == 36  # only create's answer carries it (seed 003)
    return vm


# -- tokens -----------------------------------------------------------------------------------


def test_tokens_roundtrip_and_reject_tampering():
    token = issue_token(SECRET, " Alice@Example.com ", plan="pro_monthly")
    user = verify_token(SECRET, token)
    assert user.email == ALICE and user.plan == "pro_monthly"
    with pytest.raises(InvalidToken):
        verify_token("another-secret" * 4, token)
    with pytest.raises(InvalidToken):
        verify_token(SECRET, issue_token(SECRET, ALICE, lifetime_s=-10))
    with pytest.raises(ValueError):
        issue_token(SECRET, "not-an-email")


def test_secret_file_is_created_0600_and_reused(tmp_path):
    first = load_or_create_secret(tmp_path)
    assert stat.S_IMODE((tmp_path / "jwt-secret").stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path) == first and len(first) >= 32


# -- API without sandboxes ----------------------------------------------------------------------


async def test_auth_missing_and_invalid(client):
    missing = await client.get("/vms")
    assert missing.status_code == 403 and missing.json() == {"detail": "Not authenticated"}
    bad = await client.get("/vms", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json() == {"detail": "Invalid token"}


async def test_create_lists_stopped_vm_with_password_secret(client, engine):
    vm = await create(client, label="NewVM", storage="persistent")
    assert vm["enabled"] is False and vm["vmlabel"] == "NewVM" and vm["region"] == "AU"
    assert vm["os"] == {"distribution": "ubuntu", "desktop": "xfce"}
    assert vm["specs"] == {"cpu": 1, "ram": 1, "storage": True}
    listed = (await client.get("/vms", headers=auth(ALICE))).json()["vms"]
    assert listed == [vm]
    secrets = (await client.get("/vms/secrets", headers=auth(ALICE))).json()["secrets"]
    assert secrets == {vm["id"]: {"VM_PASSWORD": "hunter22"}}
    assert engine.get_vm(vm["id"], owner=f"swiftor:{ALICE}").state == "stopped"
    assert engine.list_vms() == [], "Swiftor VMs must stay out of the Vers API"


async def test_users_see_only_their_own_vms(client):
    vm = await create(client, ALICE)
    assert (await client.get("/vms", headers=auth(BOB))).json() == {"vms": []}
    for path in (f"/vms/start/{vm['id']}", f"/vms/stop/{vm['id']}", f"/vms/delete/{vm['id']}"):
        answer = await client.get(path, headers=auth(BOB))
        assert answer.status_code == 404 and answer.json() == {"detail": "VM not found"}
    answer = await client.post(
        "/vms/secrets", json={"vmid": vm["id"], "key": "X", "value": "y"}, headers=auth(BOB)
    )
    assert answer.status_code == 404
    assert (await client.get("/vms/secrets", headers=auth(BOB))).json() == {"secrets": {}}
    assert len((await client.get("/vms", headers=auth(ALICE))).json()["vms"]) == 1


async def test_invalid_bodies_are_422_without_echoing_the_password(client):
    body = create_body()
    del body["config"]["vmlabel"]
    body["os"]["cpu"] = "many"
    answer = await client.post("/vms/create", json=body, headers=auth(ALICE))
    assert answer.status_code == 422
    locs = [tuple(item["loc"]) for item in answer.json()["detail"]]
    assert ("body", "config", "vmlabel") in locs and ("body", "os", "cpu") in locs
    assert "hunter22" not in answer.text
    broken = await client.post(
        "/vms/create", content=b"{nope", headers={**auth(ALICE), "content-type": "application/json"}
    )
    assert broken.status_code == 422 and isinstance(broken.json()["detail"], list)
    nul = create_body()
    nul["config"]["password"] = "a\x00b"
    answer = await client.post("/vms/create", json=nul, headers=auth(ALICE))
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]
    nul = create_body(label="bad\nlabel")
    assert (await client.post("/vms/create", json=nul, headers=auth(ALICE))).status_code == 422
    assert (await client.get("/vms", headers=auth(ALICE))).json() == {"vms": []}


async def test_webtop_distribution_needs_desktop(client):
    answer = await client.post(
        "/vms/create", json=create_body(distribution="fedora", desktop=None), headers=auth(ALICE)
    )
    assert answer.status_code == 400 and "needs a desktop" in answer.json()["detail"]
    answer = await client.post(
        "/vms/create", json=create_body(distribution="plan9", desktop=None), headers=auth(ALICE)
    )
    assert answer.status_code == 400 and "unknown distribution" in answer.json()["detail"]
    assert (await client.get("/vms", headers=auth(ALICE))).json() == {"vms": []}


async def test_plan_limits_refuse_start_with_clear_detail(client, engine):
    big = await create(client, cpu=4, ram=8)
    answer = await client.get(f"/vms/start/{big['id']}", headers=auth(ALICE))
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "VM exceeds the core plan limit: 4 vCPU requested, at most 1 allowed; "
        "8 GB RAM requested, at most 2 GB allowed"
    )
    listed = (await client.get("/vms", headers=auth(ALICE))).json()["vms"]
    assert [vm["enabled"] for vm in listed] == [False]
    record = engine.get_vm(big["id"], owner=f"swiftor:{ALICE}")
    assert record.fs_size_mib == 2 * 1024, "the disk is the plan's storage (core: 2 GB)"


async def test_secrets_crud_and_validation(client):
    vm = await create(client)
    headers = auth(ALICE)
    ok = await client.post(
        "/vms/secrets", json={"vmid": vm["id"], "key": "API_KEY", "value": "s3cret-val"}, headers=headers
    )
    assert ok.status_code == 200 and "s3cret-val" not in ok.text
    bad = await client.post(
        "/vms/secrets", json={"vmid": vm["id"], "key": "1 bad", "value": "x"}, headers=headers
    )
    assert bad.status_code == 422
    got = (await client.get("/vms/secrets", params={"vmid": vm["id"]}, headers=headers)).json()
    assert got == {"secrets": {vm["id"]: {"API_KEY": "s3cret-val", "VM_PASSWORD": "hunter22"}}}
    assert (await client.delete(f"/vms/secrets/{vm['id']}/API_KEY", headers=headers)).status_code == 200
    missing = await client.delete(f"/vms/secrets/{vm['id']}/API_KEY", headers=headers)
    assert missing.status_code == 404 and missing.json() == {"detail": "Secret not found: API_KEY"}


async def test_networking_crud_urls_and_duplicates(client):
    vm = await create(client)
    headers = auth(ALICE)
    added = await client.post(
        "/vms/networking", json={"vmid": vm["id"], "name": "web", "internal_port": 8000}, headers=headers
    )
    assert added.status_code == 200
    assert added.json() == {
        "message": "Subdomain mapping added successfully",
        "subdomain": f"web-{vm['id']}.localhost",
        "internal_port": 8000,
    }
    again = await client.post(
        "/vms/networking", json={"vmid": vm["id"], "name": "web", "internal_port": 9}, headers=headers
    )
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    bad = await client.post(
        "/vms/networking",
        json={"vmid": vm["id"], "name": "Bad_Name", "internal_port": 70000},
        headers=headers,
    )
    locs = {tuple(e["loc"])[-1] for e in bad.json()["detail"]}
    assert bad.status_code == 422 and locs == {"name", "internal_port"}
    listed = (await client.get("/vms/networking", headers=headers)).json()
    assert listed == {"networking": {vm["id"]: {"web": {"subdomain": "web", "internal_port": 8000}}}}
    assert (await client.delete(f"/vms/networking/{vm['id']}/web", headers=headers)).status_code == 200
    assert (await client.delete(f"/vms/networking/{vm['id']}/web", headers=headers)).status_code == 404


async def test_delete_removes_secrets_mappings_and_engine_vm(client, engine):
    vm = await create(client)
    headers = auth(ALICE)
    await client.post(
        "/vms/networking", json={"vmid": vm["id"], "name": "web", "internal_port": 8000}, headers=headers
    )
    storage = engine.state_dir / "vms" / vm["id"]
    assert storage.is_dir()
    answer = await client.get(f"/vms/delete/{vm['id']}", headers=headers)
    assert answer.status_code == 200 and not storage.exists()
    assert (await client.get("/vms", headers=headers)).json() == {"vms": []}
    assert (await client.get("/vms/secrets", headers=headers)).json() == {"secrets": {}}
    assert (await client.get("/vms/networking", headers=headers)).json() == {"networking": {}}
    assert engine.db.list_vms(owner=f"swiftor:{ALICE}") == []
    assert (await client.get(f"/vms/delete/{vm['id']}", headers=headers)).status_code == 404


async def test_exec_and_ssh_key_routes_check_owner_and_state(client):
    vm = await create(client)
    body = {"vmid": vm["id"], "command": ["true"]}
    stopped = await client.post("/vms/exec", json=body, headers=auth(ALICE))
    assert stopped.status_code == 400 and "stopped" in stopped.json()["detail"]
    assert (await client.post("/vms/exec", json=body, headers=auth(BOB))).status_code == 404
    empty = await client.post("/vms/exec", json={"vmid": vm["id"], "command": []}, headers=auth(ALICE))
    assert empty.status_code == 422
    key = await client.get(f"/vms/ssh_key/{vm['id']}", headers=auth(ALICE))
    assert key.status_code == 200 and "OPENSSH PRIVATE KEY" in key.json()["ssh_private_key"]
    assert (await client.get(f"/vms/ssh_key/{vm['id']}", headers=auth(BOB))).status_code == 404


async def test_host_proxy_unknown_targets(client):
    vm = await create(client)
    no_mapping = await client.get(
        "http://127.0.0.1:8123/", headers={"Host": f"web-{vm['id']}.localhost:8123"}
    )
    assert no_mapping.status_code == 404 and "No mapping" in no_mapping.json()["detail"]
    await client.post(
        "/vms/networking", json={"vmid": vm["id"], "name": "web", "internal_port": 8000}, headers=auth(ALICE)
    )
    stopped = await client.get("http://127.0.0.1:8123/", headers={"Host": f"web-{vm['id']}.localhost:8123"})
    assert stopped.status_code == 502 and stopped.json() == {"detail": "VM is not running"}
    unknown = await client.get(
        "http://127.0.0.1:8123/", headers={"Host": "00000000-0000-0000-0000-000000000000.localhost"}
    )
    assert unknown.status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/vms/create", "/vms/secrets", "/vms/networking", "/vms/exec"]),
    body=st.one_of(
        json_values.map(json.dumps),
        st.text(max_size=30),
        st.builds(
            lambda label, cpu, ram, dist, desktop, region: json.dumps(
                {
                    "config": {"vmlabel": label, "region": {"code": region}, "password": label},
                    "os": {"distribution": {"code": dist}, "desktop": desktop, "cpu": cpu, "ram": ram},
                    "vmid": label,
                    "key": label,
                    "value": label,
                    "name": label,
                    "internal_port": cpu,
                    "command": [label],
                }
            ),
            st.text(max_size=70),
            st.integers(-5, 100_000),
            st.integers(-5, 300),
            st.sampled_from(["ubuntu", "alpine", "fedora", "", "x" * 40]),
            st.sampled_from([None, "xfce", "", "nope"]),
            st.sampled_from(["AU", "", "a/b"]),
        ),
    ),
)
async def test_fuzzed_bodies_get_clear_errors_never_500(client, path, body):
    answer = await client.post(
        path, content=body, headers={**auth(ALICE), "content-type": "application/json"}
    )
    assert answer.status_code in (200, 400, 404, 422), answer.text
    assert "detail" in answer.json() or answer.status_code == 200


async def test_state_survives_an_engine_restart(engine, tmp_path):
    transport = httpx.ASGITransport(app=make_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123/swiftor") as http:
        vm = await create(http)
        mapping = {"vmid": vm["id"], "name": "web", "internal_port": 8000}
        await http.post("/vms/networking", json=mapping, headers=auth(ALICE))
    await engine.close()
    again = Engine(engine.state_dir)
    await again.start()
    try:
        transport = httpx.ASGITransport(app=make_app(again))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123/swiftor") as http:
            assert (await http.get("/vms", headers=auth(ALICE))).json()["vms"] == [vm]
            secrets = (await http.get("/vms/secrets", headers=auth(ALICE))).json()["secrets"]
            assert secrets == {vm["id"]: {"VM_PASSWORD": "hunter22"}}
            listed = (await http.get("/vms/networking", headers=auth(ALICE))).json()["networking"]
            assert list(listed[vm["id"]]) == ["web"]
    finally:
        await again.close()
        await engine.start()  # the fixture's teardown deletes the VMs through it


async def test_mounted_by_the_engine_server_beside_the_vers_api(engine):
    app = create_app(engine, "vers-token", swiftor_secret=SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8123"
    ) as http:
        vm = (await http.post("/swiftor/vms/create", json=create_body(), headers=auth(ALICE))).json()["vm"]
        assert [v["id"] for v in (await http.get("/swiftor/vms", headers=auth(ALICE))).json()["vms"]] == [
            vm["id"]
        ]
        assert (await http.get("/api/v1/vms", headers=auth(ALICE))).status_code == 401
        vers = await http.get("/api/v1/vms", headers={"Authorization": "Bearer vers-token"})
        assert vers.status_code == 200 and vm["id"] not in vers.text
        invalid = await http.post("/swiftor/vms/create", json={"config": {}}, headers=auth(ALICE))
        assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], list)
        assert (await http.get("/swiftor/vms")).json() == {"detail": "Not authenticated"}
        proxied = await http.get("/", headers={"Host": f"web-{vm['id']}.localhost:8123"})
        assert proxied.status_code == 404 and "No mapping" in proxied.json()["detail"]


# -- real sandboxes -----------------------------------------------------------------------------


async def _exec(engine: Engine, vmid: str, script: str) -> str:
    code, out, err = await engine.exec(vmid, ["/bin/sh", "-c", script], owner=f"swiftor:{ALICE}", timeout=30)
    assert code == 0, err
    return out.decode()


@pytest.mark.root
@pytest.mark.parametrize("persistent", [False, True])
async def test_secrets_env_and_config_persistence(client, engine, persistent, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth(ALICE, plan="hacker")
    vm = await create(client, storage="persistent" if persistent else None)
    vmid = vm["id"]
    await client.post(
        "/vms/secrets", json={"vmid": vmid, "key": "API_KEY", "value": "s3cr3t"}, headers=headers
    )
    started = await client.get(f"/vms/start/{vmid}", headers=headers)
    assert started.json() == {"message": "VM start process initiated successfully in the background."}
    assert (await client.get("/vms", headers=headers)).json()["vms"][0]["enabled"] is True
    assert (await client.get(f"/vms/start/{vmid}", headers=headers)).status_code == 200  # no-op
    env = await _exec(engine, vmid, "env")
    assert "API_KEY=s3cr3t" in env and "VM_PASSWORD=hunter22" in env
    await _exec(engine, vmid, "echo keep > /config/data")
    stopped = await client.get(f"/vms/stop/{vmid}", headers=headers)
    assert stopped.json() == {"message": "VM stopped successfully"}
    assert (await client.get("/vms", headers=headers)).json()["vms"][0]["enabled"] is False
    assert engine.vm_state(engine.get_vm(vmid, owner=f"swiftor:{ALICE}")) == "stopped"
    assert (await client.get(f"/vms/start/{vmid}", headers=headers)).status_code == 200
    listing = await _exec(engine, vmid, "ls -A /config")
    assert listing.split() == (["data"] if persistent else [])
    assert "s3cr3t" not in caplog.text and "hunter22" not in caplog.text


async def _until_answered(
    send: Callable[[], Awaitable[httpx.Response]], ready: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """`send()` again until `ready(answer)`: a server started in a VM needs a moment (long on a busy machine)."""
    deadline = time.monotonic() + 120
    while True:
        answer = await send()
        if ready(answer) or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def _serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task, int]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="wsproto")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, port


ECHO_SERVER = b"""
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = b"POST " + self.path.encode() + b" " + self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("X-Seen-Host", self.headers["X-Forwarded-Host"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", 8001), Echo).serve_forever()
"""


@pytest.mark.root
async def test_host_routed_proxy_reaches_http_server_in_vm(engine):
    server, task, port = await _serve(make_app(engine))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/swiftor", timeout=60) as http:
            vm = await create(http)
            vmid = vm["id"]
            headers = auth(ALICE)
            assert (await http.get(f"/vms/start/{vmid}", headers=headers)).status_code == 200
            await _exec(
                engine,
                vmid,
                "mkdir -p /srv && echo hello-from-vm > /srv/index.html && cd /srv && "
                "(nohup python3 -m http.server 8000 >/dev/null 2>&1 &)",
            )
            added = await http.post(
                "/vms/networking", json={"vmid": vmid, "name": "web", "internal_port": 8000}, headers=headers
            )
            assert added.json()["subdomain"] == f"web-{vmid}.localhost"
            host = {"Host": f"web-{vmid}.localhost:{port}"}
            answer = await _until_answered(
                lambda: http.get(f"http://127.0.0.1:{port}/index.html", headers=host),
                lambda answer: answer.status_code == 200,
            )
            assert answer.status_code == 200 and answer.text == "hello-from-vm\n"
            await _exec(engine, vmid, "head -c 3000000 /dev/urandom > /srv/big.bin")
            digest = (await _exec(engine, vmid, "sha256sum /srv/big.bin")).split()[0]
            big = await http.get(f"http://127.0.0.1:{port}/big.bin", headers=host)
            assert big.status_code == 200 and hashlib.sha256(big.content).hexdigest() == digest
            missing = await http.get(f"http://127.0.0.1:{port}/nope", headers=host)
            assert missing.status_code == 404  # http.server's own 404, relayed
            desktop = await http.get(
                f"http://127.0.0.1:{port}/", headers={"Host": f"{vmid}.localhost:{port}"}
            )
            assert desktop.status_code == 502 and "port 3000" in desktop.json()["detail"]

            code, _, err = await engine.exec(
                vmid,
                ["/bin/sh", "-c", "cat > /srv/echo.py && (nohup python3 /srv/echo.py >/dev/null 2>&1 &)"],
                stdin=ECHO_SERVER,
                owner=f"swiftor:{ALICE}",
                timeout=30,
            )
            assert code == 0, err
            await http.post(
                "/vms/networking", json={"vmid": vmid, "name": "echo", "internal_port": 8001}, headers=headers
            )
            echo_host = {"Host": f"echo-{vmid}.localhost:{port}"}
            echoed = await _until_answered(
                lambda: http.post(f"http://127.0.0.1:{port}/x?q=1", content=b"payload", headers=echo_host),
                lambda answer: answer.status_code != 502,
            )
            assert echoed.status_code == 201 and echoed.content == b"POST /x?q=1 payload"
            assert echoed.headers.get_list("set-cookie") == ["a=1", "b=2"]
            assert echoed.headers["x-seen-host"] == echo_host["Host"]
            await http.delete(f"/vms/networking/{vmid}/web", headers=headers)
            gone = await http.get(f"http://127.0.0.1:{port}/index.html", headers=host)
            assert gone.status_code == 404 and "hello" not in gone.text
    finally:
        server.should_exit = True
        await task


@pytest.mark.root
async def test_provider_end_to_end_against_local_api(engine, tmp_path):
    """The issue's walk: create → start → secret in `env` over SSH → mapping serves HTTP → stop →
    ephemeral /config emptied → delete; plus plan limits and auth through the provider."""
    server, task, port = await _serve(make_app(engine))
    gateway = await start_gateway(engine, engine.state_dir, "127.0.0.1", 0, "localhost")
    base = f"http://127.0.0.1:{port}/swiftor"
    provider = SwiftorProvider(
        "local",
        base,
        issue_token(SECRET, ALICE, plan="engineer"),
        local_engine=True,
        ssh_address=("127.0.0.1", gateway.port),
        ca_path=str(gateway.ca_path),
        timeout=60,
    )
    bob = SwiftorProvider("bob", base, issue_token(SECRET, BOB), timeout=60)
    stranger = SwiftorProvider("x", base, "wrong", timeout=60)
    try:
        vm = await provider.create_desktop("e2e", "US", "debian", "kde", 2, 2, SecretStr("pw-123"))
        assert vm.state is VmState.STOPPED and vm.image == "debian-kde" and not vm.specs.persistent_storage
        await provider.set_secret(vm.id, "TOKEN", SecretStr("abc"))
        assert set(await provider.list_secrets(vm.id)) == {"TOKEN", "VM_PASSWORD"}
        await provider.start_vm(vm.id)
        assert (await provider.get_vm(vm.id)).state is VmState.RUNNING

        known_hosts = TofuKnownHosts(tmp_path / "known_hosts")
        async with SshSession(provider, vm.id, known_hosts=known_hosts) as ssh:
            env = await ssh.exec("env")
        assert env.exit_code == 0 and "TOKEN=abc" in env.stdout and "VM_PASSWORD=pw-123" in env.stdout

        started = await provider.exec(
            vm.id,
            [
                "/bin/sh",
                "-c",
                (
                    "mkdir -p /srv && echo e2e-ok > /srv/index.html && echo x > /config/f && "
                    "cd /srv && (nohup python3 -m http.server 8080 >/dev/null 2>&1 &)"
                ),
            ],
        )
        assert started.exit_code == 0, started.stderr
        mapping = await provider.add_mapping(vm.id, "app", 8080)
        assert mapping.url == f"http://app-{vm.id}.localhost:{port}"
        assert await provider.vm_urls(vm) == [
            ("desktop", f"http://{vm.id}.localhost:{port}"),
            ("app", mapping.url),
        ]
        async with httpx.AsyncClient(timeout=60) as http:
            page = await _until_answered(
                lambda: http.get(f"http://127.0.0.1:{port}/index.html", headers={"Host": mapping.url[7:]}),
                lambda answer: answer.status_code == 200,
            )
        assert page.text == "e2e-ok\n"

        await provider.stop_vm(vm.id)
        assert (await provider.get_vm(vm.id)).state is VmState.STOPPED
        with pytest.raises(BadRequest, match="stopped"):
            await provider.exec(vm.id, ["true"])
        await provider.start_vm(vm.id)
        after = await provider.exec(vm.id, ["ls", "-A", "/config"])
        assert after.exit_code == 0 and after.stdout == ""
        await provider.delete_vm(vm.id)
        with pytest.raises(NotFound):
            await provider.start_vm(vm.id)

        assert (await provider.account_plan()).name == "engineer"
        assert (await bob.account_plan()).max_cpu == 1
        big = await bob.create_desktop("big", "US", "kali", None, 8, 16, SecretStr("pw"))
        with pytest.raises(QuotaExceeded, match="core plan"):
            await bob.start_vm(big.id)
        assert [v.id for v in await provider.list_vms()] == []
        with pytest.raises(Unsupported):
            await bob.exec(big.id, ["true"])
        with pytest.raises(AuthError):
            await stranger.list_vms()
    finally:
        for client in (provider, bob, stranger):
            await client.aclose()
        await gateway.close()
        server.should_exit = True
        await task
