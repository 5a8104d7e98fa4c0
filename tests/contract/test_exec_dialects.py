"""Exec against both contracts: today's API (vers-sdk 1.20.0: `/exec`, `/exec/stream` NDJSON,
`/exec/stream/attach`, `/logs`, shapes from docs/research/vers-api.md §3.5) and a server without the
stream routes (sync `/exec` only) or without exec at all (the seed, docs/seeds/000)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from vers_sdk import models as sdk

from tests.contract.fakes import FakeVm, SeedVers, TodayVers, _error
from tests.contract.strict import strict
from vmtui.core.errors import BadResponse, NotFound, Unsupported
from vmtui.core.models import ExecEvent
from vmtui.providers.vers import VersProvider

KEY = "k" * 40


async def _no_sleep(_: float) -> None:
    return None


class ExecVers(TodayVers):
    """Today's API with the exec agent. A command's output is its arguments joined (like `echo`), on
    stderr when the command is `warn`; `false` exits 1. Streams are kept for attach and the VM log."""

    STREAMS = True

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, list[dict[str, Any]]] = {}
        self.log: dict[str, list[dict[str, Any]]] = {}

    def routes(self):
        v1 = re.escape(self.PREFIX)
        streams = [
            ("POST", f"{v1}/vm/([^/]+)/exec/stream", self._exec_stream),
            ("POST", f"{v1}/vm/([^/]+)/exec/stream/attach", self._attach),
            ("GET", f"{v1}/vm/([^/]+)/logs", self._logs),
        ]
        return [
            *(streams if self.STREAMS else []),
            ("POST", f"{v1}/vm/([^/]+)/exec", self._exec),
            *super().routes(),
        ]

    @staticmethod
    def _run(command: list[str]) -> tuple[str, str, int]:
        text = " ".join(command[1:]) + "\n"
        if command[0] == "warn":
            return "", text, 0
        return text, "", 1 if command[0] == "false" else 0

    def _exec(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        strict(sdk.VmExecRequest, body)
        vm = self._vm(vm_id)
        if not isinstance(vm, FakeVm):
            return vm
        out, err, code = self._run(body["command"])
        answer = {"exit_code": code, "stdout": out, "stderr": err}
        if body.get("exec_id"):
            answer["exec_id"] = body["exec_id"]
        return httpx.Response(200, json=answer)

    def _exec_stream(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        strict(sdk.VmExecRequest, body)
        vm = self._vm(vm_id)
        if not isinstance(vm, FakeVm):
            return vm
        exec_id = body.get("exec_id") or str(uuid.uuid4())
        out, err, code = self._run(body["command"])
        events = []
        for stream, text in (("stdout", out), ("stderr", err)):
            if text:
                data = base64.b64encode(text.encode()).decode()
                events.append({"type": "chunk", "exec_id": exec_id, "stream": stream, "data_b64": data})
                self.log.setdefault(vm_id, []).append(
                    {
                        "exec_id": exec_id,
                        "stream": stream,
                        "data_b64": data,
                        "timestamp": "2026-06-19T10:00:01Z",
                    }
                )
        events.append({"type": "exit", "exec_id": exec_id, "exit_code": code})
        for cursor, event in enumerate(events, 1):
            event["cursor"] = cursor
        self.sessions[exec_id] = events
        return self._ndjson(events)

    @staticmethod
    def _ndjson(events: list[dict[str, Any]]) -> httpx.Response:
        lines = "".join(json.dumps(event) + "\n" for event in events)
        return httpx.Response(200, content=lines.encode(), headers={"content-type": "application/x-ndjson"})

    def _attach(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        strict(sdk.VmExecStreamAttachRequest, body)
        events = self.sessions.get(body["exec_id"])
        if events is None:
            return _error(404, f"exec session {body['exec_id']} not found")
        if body.get("from_latest"):
            return self._ndjson([])
        cursor = body.get("cursor") or 0
        return self._ndjson([event for event in events if event["cursor"] > cursor])

    def _logs(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        entries = self.log.get(vm_id, [])
        offset = int(request.url.params.get("offset", "0"))
        stream = request.url.params.get("stream")
        chosen = [e for e in entries[offset:] if stream is None or e["stream"] == stream]
        answer = {"entries": chosen, "next_offset": len(entries), "eof": True}
        strict(sdk.VmExecLogResponse, answer)
        return httpx.Response(200, json=answer)


class SyncExecVers(ExecVers):
    """A server with the synchronous `/exec` only (no stream, attach or logs routes)."""

    STREAMS = False


def provider_for(server) -> VersProvider:
    return VersProvider(
        "vers", "https://api.vers.sh", KEY, transport=server.transport(), sleep=_no_sleep, max_retries=0
    )


async def collect(events) -> list[ExecEvent]:
    return [event async for event in events]


def output(events: list[ExecEvent], stream: str = "stdout") -> bytes:
    return b"".join(event.data for event in events if event.kind == "chunk" and event.stream == stream)


async def test_exec_stream_decodes_chunks_and_the_exit_and_re_attaches_by_exec_id():
    server = ExecVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    events = await collect(provider.exec_stream(vm_id, ["echo", "hello"], exec_id="run-1", timeout_secs=30))
    assert output(events) == b"hello\n"
    assert events[-1].kind == "exit" and events[-1].exit_code == 0
    assert {event.exec_id for event in events} == {"run-1"}
    sent = server.requests[-1]
    assert sent[:2] == ("POST", f"/api/v1/vm/{vm_id}/exec/stream")
    assert sent[2] == {"command": ["echo", "hello"], "exec_id": "run-1", "timeout_secs": 30}

    replay = await collect(provider.exec_attach(vm_id, "run-1"))
    assert replay == events
    after_first = await collect(provider.exec_attach(vm_id, "run-1", cursor=events[0].cursor))
    assert after_first == events[1:]
    assert await collect(provider.exec_attach(vm_id, "run-1", from_latest=True)) == []
    assert server.requests[-1][2] == {"exec_id": "run-1", "from_latest": True}
    with pytest.raises(NotFound):
        await collect(provider.exec_attach(vm_id, "never-ran"))
    await provider.aclose()


async def test_exec_logs_page_through_the_vms_log_and_filter_a_stream():
    server = ExecVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    await collect(provider.exec_stream(vm_id, ["echo", "out"]))
    await collect(provider.exec_stream(vm_id, ["warn", "err"]))
    page = await provider.exec_logs(vm_id)
    assert [(entry.stream, entry.data) for entry in page.entries] == [
        ("stdout", b"out\n"),
        ("stderr", b"err\n"),
    ]
    assert page.eof and page.next_offset == 2
    only_err = await provider.exec_logs(vm_id, stream="stderr")
    assert [entry.data for entry in only_err.entries] == [b"err\n"]
    assert server.requests[-1][1] == f"/api/v1/vm/{vm_id}/logs"
    await provider.aclose()


async def test_a_server_without_the_stream_route_gets_sync_exec_and_remembers():
    server = SyncExecVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    events = await collect(provider.exec_stream(vm_id, ["false", "nope"]))
    assert output(events) == b"nope\n" and events[-1] == ExecEvent(kind="exit", exit_code=1)
    assert [path for _, path in server.paths] == [
        f"/api/v1/vm/{vm_id}/exec/stream",
        f"/api/v1/vm/{vm_id}/exec",
    ]
    server.requests.clear()
    events = await collect(provider.exec_stream(vm_id, ["warn", "w"]))
    assert output(events, "stderr") == b"w\n"
    assert server.paths == [("POST", f"/api/v1/vm/{vm_id}/exec")], "the missing route is not asked again"
    with pytest.raises(Unsupported):
        await collect(provider.exec_attach(vm_id, "any"))
    await provider.aclose()


async def test_an_unknown_vm_is_not_mistaken_for_a_missing_stream_route():
    server = ExecVers()
    provider = provider_for(server)
    with pytest.raises(NotFound):
        await collect(provider.exec_stream("no-such-vm", ["echo", "x"]))
    vm_id = server.add_vm()
    server.requests.clear()
    events = await collect(provider.exec_stream(vm_id, ["echo", "x"]))
    assert output(events) == b"x\n"
    assert server.paths == [("POST", f"/api/v1/vm/{vm_id}/exec/stream")]
    await provider.aclose()


async def test_the_seeds_server_has_no_exec_and_says_so():
    server = SeedVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    with pytest.raises(NotFound, match="no route POST"):
        await collect(provider.exec_stream(vm_id, ["echo", "x"]))
    await provider.aclose()


async def test_a_malformed_stream_line_is_a_clear_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"type":"chunk","stream":"stdout","data_b64":"***"}\n')

    provider = VersProvider("vers", "https://api.vers.sh", KEY, transport=httpx.MockTransport(handler))
    with pytest.raises(BadResponse, match="not valid base64"):
        await collect(provider.exec_stream("vm-1", ["echo"]))
    await provider.aclose()
