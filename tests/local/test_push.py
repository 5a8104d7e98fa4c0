"""The engine's list ETags, lineage in its list, and its event stream, over the real in-process app."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
import uvicorn
from vers_sdk import models as sdk

from tests.contract.strict import strict
from vmtui.local.api import events as events_route
from vmtui.local.api.app import create_app
from vmtui.local.daemon import listen_socket
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_fetch import LineageEnrichment
from vmtui.services.poller import Poller, PollResult

TOKEN = "test-token-" + "p" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1 = "/api/v1"


@pytest.fixture
async def api(engine):
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test", headers=AUTH) as client:
        yield client


@pytest.mark.parametrize("path", [f"{V1}/vm", f"{V1}/vms", f"{V1}/commits"])
async def test_an_unchanged_list_answers_304_to_its_etag(api, path):
    first = await api.get(path)
    etag = first.headers["etag"]
    again = await api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await api.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await api.get(path, headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


@pytest.mark.root
async def test_a_change_gives_the_list_a_new_etag(api):
    empty = await api.get(f"{V1}/vm")
    created = await api.post(f"{V1}/vm/new_root", json={"vm_config": {}}, params={"wait_boot": True})
    vm_id = created.json()["vm_id"]
    listed = await api.get(f"{V1}/vm", headers={"If-None-Match": empty.headers["etag"]})
    assert listed.status_code == 200
    assert [vm["vm_id"] for vm in listed.json()] == [vm_id]
    await api.patch(f"{V1}/vm/{vm_id}/label", json={"labels": {"team": "a"}})
    relabelled = await api.get(f"{V1}/vm", headers={"If-None-Match": listed.headers["etag"]})
    assert relabelled.status_code == 200
    assert relabelled.json()[0]["labels"] == {"team": "a"}
    assert relabelled.headers["etag"] != listed.headers["etag"]


async def test_the_list_etag_needs_authentication(engine):
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test") as anonymous:
        response = await anonymous.get(f"{V1}/vm", headers={"If-None-Match": "*"})
    assert response.status_code == 401
    assert "etag" not in response.headers


@pytest.mark.root
async def test_the_list_carries_the_lineage_metadata_gives_and_the_sdk_still_decodes_it(api):
    root = (await api.post(f"{V1}/vm/new_root", json={"vm_config": {}}, params={"wait_boot": True})).json()
    commit = (await api.post(f"{V1}/vm/{root['vm_id']}/commit", json={})).json()
    branched = (await api.post(f"{V1}/vm/branch/by_commit/{commit['commit_id']}")).json()
    child = branched["vms"][0]["vm_id"]
    listed = {vm["vm_id"]: vm for vm in (await api.get(f"{V1}/vm")).json()}
    for vm_id in (root["vm_id"], child):
        meta = (await api.get(f"{V1}/vm/{vm_id}/metadata")).json()
        fields = ("parent_commit_id", "grandparent_vm_id", "ip", "image_name", "vcpu_count", "mem_size_mib")
        for field in (*fields, "fs_size_mib"):
            assert listed[vm_id][field] == meta[field]
    assert listed[child]["parent_commit_id"] == commit["commit_id"]
    assert listed[child]["grandparent_vm_id"] == root["vm_id"]

    decoded = strict(list[sdk.VM], list(listed.values()))
    assert {vm.vm_id for vm in decoded} == {root["vm_id"], child}


@pytest.mark.root
async def test_the_provider_takes_lineage_from_the_engine_list_without_metadata_requests(engine):
    root = await engine.create_vm(image="default", vcpu_count=1, mem_size_mib=256, fs_size_mib=64, labels={})
    commit = await engine.commit_vm(root.id, name=None, description=None, keep_paused=False, commit_id=None)
    [child] = await engine.branch(commit.id, 1, source_kind="commit")
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN))
    provider = VersProvider("local", "http://engine.test", TOKEN, transport=transport)
    fetched: list[str] = []

    async def metadata(vm_id: str):
        fetched.append(vm_id)
        return await provider.metadata(vm_id, retries=0)

    enrichment = LineageEnrichment(metadata, listed=provider.listed_lineage)
    try:
        vms = {vm.id: vm for vm in enrichment.apply(await provider.list_vms())}
    finally:
        await provider.aclose()
    assert enrichment.complete and enrichment.progress == (2, 2)
    assert vms[child.id].parent_commit_id == commit.id
    assert vms[child.id].grandparent_vm_id == root.id
    assert fetched == []
    specs = vms[root.id].specs  # the details pane's image and sizes need no metadata request either
    assert vms[root.id].image == "default" and specs.vcpu_count == 1
    assert specs.mem_size_mib is not None and specs.fs_size_mib is not None


async def test_the_provider_asks_for_an_unchanged_commits_page_conditionally(engine):
    app_transport = httpx.ASGITransport(app=create_app(engine, TOKEN))
    statuses: list[tuple[str | None, int]] = []

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await app_transport.handle_async_request(request)
            statuses.append((request.headers.get("if-none-match"), response.status_code))
            return response

    provider = VersProvider("local", "http://engine.test", TOKEN, transport=Recording())
    try:
        first, _ = await provider.commits_page(0, 100)
        again, _ = await provider.commits_page(0, 100)
    finally:
        await provider.aclose()
    assert statuses[0] == (None, 200) and statuses[1][0] is not None and statuses[1][1] == 304
    assert again is first


# -- the event stream, over a real loopback server (an in-process ASGI transport buffers bodies) ---


@contextlib.asynccontextmanager
async def served(engine):
    sock = listen_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(engine, TOKEN), log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        engine.changes.close()
        server.should_exit = True
        await serving
        sock.close()


async def read_events(lines, wanted, *, timeout: float = 60.0) -> list[dict]:
    """Events from an SSE line stream until `wanted(events)` holds; comments come back as {"comment"}."""
    events: list[dict] = []
    async with asyncio.timeout(timeout):
        async for line in lines:
            if line.startswith(":"):
                events.append({"comment": line[1:].strip()})
            elif line.startswith("data:"):
                events.append(json.loads(line[5:]))
            if wanted(events):
                return events
    raise AssertionError(f"stream ended after {events}")


@pytest.mark.root
async def test_the_stream_pushes_an_event_for_each_api_change(engine, monkeypatch):
    monkeypatch.setattr(events_route, "KEEPALIVE_SECONDS", 0.05)
    async with (
        served(engine) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client,
        client.stream("GET", f"{V1}/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        await read_events(lines, lambda seen: {"comment": "connected"} in seen)
        created = await client.post(f"{V1}/vm/new_root", json={"vm_config": {}}, params={"wait_boot": True})
        vm_id = created.json()["vm_id"]
        await read_events(lines, lambda seen: {"kind": "vm", "id": vm_id, "change": "created"} in seen)
        await client.patch(f"{V1}/vm/{vm_id}/label", json={"labels": {"team": "a"}})
        await read_events(lines, lambda seen: {"kind": "vm", "id": vm_id, "change": "updated"} in seen)
        commit = (await client.post(f"{V1}/vm/{vm_id}/commit", json={})).json()["commit_id"]
        await read_events(lines, lambda seen: {"kind": "commit", "id": commit, "change": "created"} in seen)
        await client.delete(f"{V1}/vm/{vm_id}")
        await read_events(lines, lambda seen: {"kind": "vm", "id": vm_id, "change": "deleted"} in seen)
        await read_events(lines, lambda seen: {"comment": "keep-alive"} in seen)


@pytest.mark.root
async def test_the_stream_hides_other_owners_vms(engine):
    """A Swiftor user's VM is not the Vers caller's: none of its changes reach the stream."""
    async with (
        served(engine) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client,
        client.stream("GET", f"{V1}/events") as stream,
    ):
        lines = stream.aiter_lines()
        await read_events(lines, lambda seen: {"comment": "connected"} in seen)
        other = await engine.create_vm(mem_size_mib=256, fs_size_mib=64, owner="swiftor:someone")
        await engine.set_labels(other.id, {"x": "y"}, owner="swiftor:someone")
        mine = await engine.create_vm(mem_size_mib=256, fs_size_mib=64)
        seen = await read_events(
            lines, lambda seen: {"kind": "vm", "id": mine.id, "change": "created"} in seen
        )
        assert not [event for event in seen if event.get("id") == other.id]


async def test_the_stream_needs_authentication_and_ends_when_the_engine_stops(engine):
    async with served(engine) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as anonymous:
            assert (await anonymous.get(f"{V1}/events")).status_code == 401
        async with (
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client,
            client.stream("GET", f"{V1}/events") as stream,
        ):
            lines = stream.aiter_lines()
            await read_events(lines, lambda seen: {"comment": "connected"} in seen)
            engine.changes.close()
            rest = [line async for line in lines]  # ends instead of hanging
        assert all(not line or line.startswith(":") for line in rest)


@pytest.mark.root
async def test_the_tui_poller_follows_the_engine_stream_end_to_end(engine):
    """The local profile's provider subscribes; a VM made meanwhile appears by push, not by a timed poll."""
    async with served(engine) as url:
        provider = VersProvider("local", url, TOKEN, memory_snapshots=False, event_stream=True)
        results: list[PollResult] = []
        poller = Poller(provider, results.append, fast=3600, slow=3600, pushed_interval=3600)
        running = asyncio.create_task(poller.run())
        try:
            async with asyncio.timeout(60):
                while not (results and results[-1].pushed):
                    await asyncio.sleep(0.01)
                vm = await engine.create_vm(mem_size_mib=256, fs_size_mib=64)
                while not any(v.id == vm.id for v in (results[-1].fleet.vms if results[-1].fleet else ())):
                    await asyncio.sleep(0.01)
            assert results[-1].pushed
        finally:
            running.cancel()
            await provider.aclose()
