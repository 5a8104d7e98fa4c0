"""ExecJournal: a session keeps running without its stream, re-attaching replays what was missed,
and the VM's exec log reads back by byte offset."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from vmtui.core.errors import BadRequest, Conflict, NotFound, ProviderError
from vmtui.local.exec_journal import ExecJournal


def scripted(gate: asyncio.Event, *events):
    """A stand-in for Engine.exec_stream: yields `events`, pausing at each "gate" until it is set."""

    async def run():
        for event in events:
            if event == "gate":
                await gate.wait()
                continue
            yield event

    return run()


def decoded(events) -> list[tuple[str, object]]:
    out = []
    for event in events:
        if event["type"] == "chunk":
            out.append((event["stream"], base64.b64decode(event["data_b64"])))
        elif event["type"] == "exit":
            out.append(("exit", event["exit_code"]))
        else:
            out.append((event["type"], event["message"]))
    return out


async def test_attach_replays_from_a_cursor_and_follows_live(tmp_path):
    journal = ExecJournal(tmp_path / "logs")
    gate = asyncio.Event()
    await journal.start(
        "vm1", "e1", scripted(gate, ("stdout", b"one"), ("stderr", b"two"), "gate", ("exit", 3))
    )
    first = journal.follow("vm1", "e1")
    seen = [await anext(first), await anext(first)]
    assert [e["cursor"] for e in seen] == [1, 2] and decoded(seen)[1] == ("stderr", b"two")
    await first.aclose()  # the stream broke: the command keeps running
    late = journal.follow("vm1", "e1", cursor=1)
    replay = await anext(late)
    assert decoded([replay]) == [("stderr", b"two")]
    gate.set()
    rest = [event async for event in late]
    assert decoded(rest) == [("exit", 3)] and rest[-1]["exec_id"] == "e1"
    everything = [event async for event in journal.follow("vm1", "e1")]
    assert decoded(everything) == [("stdout", b"one"), ("stderr", b"two"), ("exit", 3)]
    assert [event async for event in journal.follow("vm1", "e1", from_latest=True)] == []


async def test_unknown_or_foreign_sessions_and_a_second_start_are_refused(tmp_path):
    journal = ExecJournal(tmp_path / "logs")
    gate = asyncio.Event()
    await journal.start("vm1", "e1", scripted(gate, ("stdout", b"x"), "gate", ("exit", 0)))
    with pytest.raises(NotFound):
        await anext(journal.follow("vm2", "e1"))
    with pytest.raises(NotFound):
        await anext(journal.follow("vm1", "nope"))
    with pytest.raises(Conflict):
        await journal.start("vm1", "e1", scripted(gate, ("exit", 0)))
    gate.set()
    await journal.close()


async def test_an_error_ends_the_session_with_an_error_event(tmp_path):
    journal = ExecJournal(tmp_path / "logs")

    async def failing():
        yield "stdout", b"partial"
        raise ProviderError("command timed out after 1 s and was killed", status=408)

    await journal.start("vm1", "e1", failing())
    events = [event async for event in journal.follow("vm1", "e1")]
    assert events[-1]["type"] == "error" and events[-1]["code"] == "timeout"


async def test_logs_read_back_by_offset_and_stream(tmp_path):
    journal = ExecJournal(tmp_path / "logs")
    gate = asyncio.Event()
    gate.set()
    await journal.start(
        "vm1", "e1", scripted(gate, ("stdout", b"a"), ("stderr", b"b"), ("stdout", b"c"), ("exit", 0))
    )
    [_ async for _ in journal.follow("vm1", "e1")]
    entries, offset, eof = journal.logs("vm1", max_entries=2)
    assert [base64.b64decode(e["data_b64"]) for e in entries] == [b"a", b"b"] and not eof
    more, end, eof = journal.logs("vm1", offset=offset)
    assert [base64.b64decode(e["data_b64"]) for e in more] == [b"c"] and eof
    assert journal.logs("vm1", offset=end) == ([], end, True)
    only_err, _, _ = journal.logs("vm1", stream="stderr")
    assert [e["stream"] for e in only_err] == ["stderr"] and only_err[0]["exec_id"] == "e1"
    with pytest.raises(BadRequest):
        journal.logs("vm1", offset=1)
    with pytest.raises(BadRequest):
        journal.logs("vm1", stream="stdin")
    log_file = tmp_path / "logs" / "vm1.ndjson"
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"
    assert all("timestamp" in json.loads(line) for line in log_file.read_text().splitlines())
    journal.forget_vm("vm1")
    assert journal.logs("vm1") == ([], 0, True)
