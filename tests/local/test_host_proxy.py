"""The host proxy end to end on a real engine: WebSockets and streaming responses through a Swiftor
mapping, and Vers domains routed by Host (HTTP and WebSocket), to a real server inside a VM."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.local.test_swiftor_api import ALICE, SECRET, _serve, _until_answered, auth, create, engine
from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine

__all__ = ["engine"]  # the real engine in a temp state dir (a fixture)

TOKEN = "t" * 40
SERVER = (Path(__file__).parent.parent / "data" / "vm_ws_server.py").read_bytes()


async def _start_server(engine: Engine, vmid: str, port: int, owner: str | None) -> None:
    code, _, err = await engine.exec(
        vmid,
        ["/bin/sh", "-c", f"cat > /srv.py && (nohup python3 /srv.py {port} >/dev/null 2>&1 &)"],
        stdin=SERVER,
        owner=owner,
        timeout=30,
    )
    assert code == 0, err


async def _vm_file(engine: Engine, vmid: str, path: str, owner: str | None) -> str:
    code, out, _ = await engine.exec(vmid, ["/bin/sh", "-c", f"cat {path} 2>/dev/null"], owner=owner)
    return out.decode() if code == 0 else ""


async def _echo_round_trip(port: int, host: str) -> None:
    """Text, binary (one frame above 64 KiB) and a client close code, all through the proxy."""
    async with connect(f"ws://{host}/chat?x=1", host="127.0.0.1", port=port, subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        blob = bytes(range(256)) * 800
        await ws.send(blob)
        assert await ws.recv() == blob
        await ws.close(4321, "done")
    assert ws.close_code == 4321


@pytest.mark.root
async def test_mapping_relays_websockets_and_streams_responses(engine):
    server, task, port = await _serve(create_app(engine, TOKEN, swiftor_secret=SECRET))
    owner = f"swiftor:{ALICE}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/swiftor", timeout=60) as http:
            vmid = (await create(http))["id"]
            assert (await http.get(f"/vms/start/{vmid}", headers=auth(ALICE))).status_code == 200
            await _start_server(engine, vmid, 8002, owner)
            mapping = {"vmid": vmid, "name": "live", "internal_port": 8002}
            assert (await http.post("/vms/networking", json=mapping, headers=auth(ALICE))).status_code == 200
            host = f"live-{vmid}.localhost:{port}"
            ready = await _until_answered(
                lambda: http.get(f"http://127.0.0.1:{port}/nope", headers={"Host": host}),
                lambda answer: answer.status_code != 502,
            )
            assert ready.status_code == 404  # the server in the VM answers

            await _echo_round_trip(port, host)
            closed = await _until_answered(
                lambda: _as_response(_vm_file(engine, vmid, "/tmp/ws-closed", owner)),
                lambda answer: answer.text != "",
            )
            assert closed.text == "4321"  # the client's close frame reached the VM's server

            # The desktop URL (KasmVNC's port 3000 for ubuntu) carries WebSockets the same way.
            await _start_server(engine, vmid, 3000, owner)
            desktop = f"{vmid}.localhost:{port}"
            await _until_answered(
                lambda: http.get(f"http://127.0.0.1:{port}/nope", headers={"Host": desktop}),
                lambda answer: answer.status_code != 502,
            )
            await _echo_round_trip(port, desktop)

            async with connect(f"ws://{host}/", host="127.0.0.1", port=port) as ws:
                await ws.send("close-me")
                with pytest.raises(ConnectionClosed) as closing:
                    await ws.recv()
            assert closing.value.rcvd is not None
            assert (closing.value.rcvd.code, closing.value.rcvd.reason) == (4000, "bye")

            async with http.stream(
                "GET", f"http://127.0.0.1:{port}/events", headers={"Host": host}
            ) as events:
                assert events.headers["content-type"] == "text/event-stream"
                chunks = events.aiter_text()
                # The server waits for /tmp/release before it finishes: this first event was not buffered.
                assert await anext(chunks) == "data: first\n\n"
                await _start_release(engine, vmid, owner)
                assert "".join([chunk async for chunk in chunks]) == "data: last\n\n"

            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"ws://nomap-{vmid}.localhost:{port}/", host="127.0.0.1", port=port):
                    pass
            assert refused.value.response.status_code == 404
            assert b"No mapping" in refused.value.response.body
            dead = {"vmid": vmid, "name": "dead", "internal_port": 8009}
            assert (await http.post("/vms/networking", json=dead, headers=auth(ALICE))).status_code == 200
            with pytest.raises(InvalidStatus) as unanswered:
                async with connect(f"ws://dead-{vmid}.localhost:{port}/", host="127.0.0.1", port=port):
                    pass
            assert unanswered.value.response.status_code == 502
            assert b"nothing answers on port 8009" in unanswered.value.response.body
    finally:
        server.should_exit = True
        await task


@pytest.mark.root
async def test_vers_domains_route_by_host_and_only_while_registered(engine):
    server, task, port = await _serve(create_app(engine, TOKEN))
    api = {"Authorization": f"Bearer {TOKEN}"}
    try:
        vm = await engine.create_vm()
        await _start_server(engine, vm.id, 80, None)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            created = await http.post(
                "/api/v1/domains", json={"domain": "App.Example.test", "vm_id": vm.id}, headers=api
            )
            assert created.status_code == 201, created.text
            host = f"app.example.test:{port}"
            page = await _until_answered(
                lambda: http.get("/nope", headers={"Host": host}), lambda answer: answer.status_code != 502
            )
            assert page.status_code == 404 and "Error response" in page.text  # http.server's own page
            await _echo_round_trip(port, host)

            stranger = await http.get("/nope", headers={"Host": f"other.example.test:{port}"})
            assert stranger.status_code == 401  # an unregistered host is the API's: it never reaches a VM
            await http.delete(f"/api/v1/domains/{created.json()['domain_id']}", headers=api)
            gone = await http.get("/nope", headers={"Host": host})
            assert gone.status_code == 401 and "Error response" not in gone.text
            with pytest.raises(InvalidStatus):
                async with connect(f"ws://{host}/", host="127.0.0.1", port=port):
                    pass
    finally:
        server.should_exit = True
        await task


async def test_a_websocket_to_the_api_is_authenticated_like_any_request(engine):
    """Host routing aside, a WebSocket handshake reaches the API's gate: 401 without the token."""
    server, task, port = await _serve(create_app(engine, TOKEN))
    try:
        with pytest.raises(InvalidStatus) as anonymous:
            async with connect(f"ws://127.0.0.1:{port}/api/v1/vms"):
                pass
        assert anonymous.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as authenticated:
            async with connect(
                f"ws://127.0.0.1:{port}/api/v1/vms", additional_headers={"Authorization": f"Bearer {TOKEN}"}
            ):
                pass
        assert authenticated.value.response.status_code == 403  # past the gate; no route serves it
    finally:
        server.should_exit = True
        await task


async def _start_release(engine: Engine, vmid: str, owner: str) -> None:
    code, _, err = await engine.exec(vmid, ["touch", "/tmp/release"], owner=owner, timeout=30)
    assert code == 0, err


async def _as_response(text: object) -> httpx.Response:
    return httpx.Response(200, text=await text)  # type: ignore[misc]
