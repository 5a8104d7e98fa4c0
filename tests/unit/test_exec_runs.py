"""ExecRuns: a stream that breaks while the command runs is re-attached from the last cursor; one that
cannot be re-attached ends the run with the reason; old finished runs are forgotten."""

from __future__ import annotations

import asyncio

from vmtui.core.errors import Unavailable, Unsupported
from vmtui.core.models import ExecEvent, Vm, VmState
from vmtui.providers.base import Provider
from vmtui.services import exec_runs
from vmtui.services.action_log import ActionLog, vers_script
from vmtui.services.exec_runs import ExecRuns

VM = Vm(provider="p", id="vm-1", state=VmState.RUNNING, labels={"name": "web"})


def chunk(cursor: int, text: str) -> ExecEvent:
    return ExecEvent(kind="chunk", cursor=cursor, stream="stdout", data=text.encode())


class BreakingStream(Provider):
    """The first stream breaks after one chunk; attach replays from the cursor it is given."""

    def __init__(self, can_attach: bool = True):
        super().__init__("p")
        self.can_attach = can_attach
        self.attached_from: list[int | None] = []
        self.events = [chunk(1, "one\n"), chunk(2, "two\n"), ExecEvent(kind="exit", cursor=3, exit_code=0)]

    async def exec_stream(self, vm_id, command, *, exec_id=None, timeout_secs=None):
        yield self.events[0]
        raise Unavailable("connection reset")

    def exec_attach(self, vm_id, exec_id, *, cursor=None, from_latest=False):
        if not self.can_attach:
            raise Unsupported("p cannot re-attach to commands")
        self.attached_from.append(cursor)
        return self._after(cursor or 0)

    async def _after(self, cursor: int):
        for event in self.events:
            if event.cursor > cursor:
                yield event


async def wait_finished(run) -> None:
    for _ in range(1000):
        if run.finished and not run.following:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the run never finished: {run}")


async def test_a_broken_stream_is_re_attached_from_its_cursor_and_nothing_is_lost_or_doubled():
    provider = BreakingStream()
    log = ActionLog()
    runs = ExecRuns({"p": provider}, log)
    run = runs.start(VM, ["sh", "-c", "echo one; echo two"])
    await wait_finished(run)
    assert provider.attached_from == [1]
    assert (run.output, run.exit_code, run.error, run.status) == (b"one\ntwo\n", 0, None, "exit 0")
    [entry] = log.entries  # one change, logged once it ended (not when the stream broke)
    assert (entry.action, entry.target, entry.result) == ("exec", "vm-1", "ok")
    assert "vers exec vm-1 'echo one; echo two'" in vers_script(log.entries)


async def test_a_broken_stream_that_cannot_be_re_attached_ends_with_the_reason():
    log = ActionLog()
    runs = ExecRuns({"p": BreakingStream(can_attach=False)}, log)
    run = runs.start(VM, ["true"])
    await wait_finished(run)
    assert run.failed and run.error == "p cannot re-attach to commands" and run.output == b"one\n"
    assert [entry.result for entry in log.entries] == ["p cannot re-attach to commands"]


async def test_only_the_newest_finished_runs_are_kept(monkeypatch):
    monkeypatch.setattr(exec_runs, "RUNS_KEPT", 2)
    runs = ExecRuns({"p": BreakingStream()})
    for _ in range(4):
        await wait_finished(runs.start(VM, ["true"]))
    assert len(runs.runs) == 3  # the two newest finished ones, plus the newest when it was started
