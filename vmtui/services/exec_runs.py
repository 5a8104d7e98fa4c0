"""Commands run on VMs without a shell (the API's exec), kept while the app runs. No Textual.

`ExecRuns.start` streams one command's output into an `ExecRun` (output in order, exit code kept), which
the UI reads as it grows. A stream that breaks while the command runs is re-attached from the
last cursor it saw, where the provider can (`exec_attach`); `detach` stops following (the command runs
on) and `attach` follows it again.
"""

from __future__ import annotations

import asyncio
import shlex
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from vmtui.core import request_trace
from vmtui.core.errors import ProviderError, Unavailable, Unsupported
from vmtui.core.models import ExecEvent, Vm
from vmtui.providers.base import Provider
from vmtui.services.action_log import OK, ActionLog

RUNS_KEPT = 50
"""Finished runs listed (oldest dropped first); running ones are always kept."""
OUTPUT_KEPT = 1024 * 1024
"""Output bytes kept per run (the oldest are dropped first)."""
REATTACH_TRIES = 5


def shell_line(command: Sequence[str]) -> str:
    """The command as typed: `sh -c LINE` shows as LINE, anything else shell-quoted."""
    if len(command) == 3 and tuple(command[:2]) == ("sh", "-c"):
        return command[2]
    return shlex.join(command)


@dataclass
class ExecRun:
    """One command on one VM, as far as it has got."""

    profile: str
    vm_id: str
    vm_name: str
    command: tuple[str, ...]
    exec_id: str
    started: float = field(default_factory=time.time)
    output: bytearray = field(default_factory=bytearray)
    received: int = 0
    """Bytes of output ever received (`output` keeps the last OUTPUT_KEPT of them)."""
    exit_code: int | None = None
    error: str | None = None
    cursor: int | None = None
    following: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.exit_code is not None or self.error is not None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.exit_code is not None:
            return f"exit {self.exit_code}"
        return "running" if self.following else "detached"

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.exit_code is not None and self.exit_code != 0)

    @property
    def line(self) -> str:
        return shell_line(self.command)

    def apply(self, event: ExecEvent) -> None:
        if event.cursor is not None:
            self.cursor = event.cursor
        if event.exec_id:
            self.exec_id = event.exec_id
        if event.kind == "chunk":
            self.output += event.data
            self.received += len(event.data)
            del self.output[: max(0, len(self.output) - OUTPUT_KEPT)]
        elif event.kind == "exit":
            self.exit_code = event.exit_code
        else:
            self.error = f"{event.code or 'error'}: {event.message}".strip()


class ExecRuns:
    """The session's exec runs, newest first."""

    def __init__(self, providers: Mapping[str, Provider], log: ActionLog | None = None):
        self.providers = providers
        self.log = log
        """Where each started run is kept as a change (`exec`), with its request, once it stops."""
        self.runs: list[ExecRun] = []

    def start(self, vm: Vm, command: list[str], *, timeout_secs: int | None = None) -> ExecRun:
        """Start `command` on `vm` and follow its output in a task of its own."""
        run = ExecRun(vm.provider, vm.id, vm.display_name, tuple(command), str(uuid.uuid4()))
        self.runs.insert(0, run)
        self._forget_old()
        provider = self.providers[vm.provider]
        events = provider.exec_stream(vm.id, list(command), exec_id=run.exec_id, timeout_secs=timeout_secs)
        self._follow(run, events, logged=True)
        return run

    def attach(self, run: ExecRun) -> None:
        """Follow a detached run again: what it wrote since, then live output."""
        if run.finished or run.following:
            return
        self._follow(run, self._attached(run))

    def detach(self, run: ExecRun) -> None:
        """Stop following; the command runs on in the VM."""
        if run.task is not None and not run.task.done():
            run.task.cancel()

    async def logs(self, run: ExecRun) -> str:
        """This run's output from the VM's exec log (all of it, also what fell out of `output`)."""
        provider = self.providers[run.profile]
        chunks: list[bytes] = []
        offset = 0
        while True:
            page = await provider.exec_logs(run.vm_id, offset=offset)
            chunks += [entry.data for entry in page.entries if entry.exec_id == run.exec_id]
            if page.eof or page.next_offset == offset:
                return b"".join(chunks).decode("utf-8", "replace")
            offset = page.next_offset

    async def close(self) -> None:
        """Stop following every run (their commands run on)."""
        tasks = [run.task for run in self.runs if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _follow(self, run: ExecRun, events: AsyncIterator[ExecEvent], *, logged: bool = False) -> None:
        run.following = True
        pump = self._pump(run, events, logged)
        run.task = asyncio.create_task(pump, name=f"exec-{run.exec_id}")

    async def _pump(self, run: ExecRun, events: AsyncIterator[ExecEvent], logged: bool) -> None:
        """Apply `events` to the run, re-attaching after a broken stream. `logged`: the action log gets
        one entry when following stops (the command as `vers exec`, its requests, and `ok`, the exit
        code, the error, or that it was left running)."""
        with request_trace.tracing() as requests:
            try:
                await self._apply(run, events)
            finally:
                if logged and self.log is not None:
                    result = OK if run.exit_code == 0 else (run.error or run.status)
                    vers = ("vers", "exec", run.vm_id, run.line)
                    self.log.append(run.profile, "exec", run.vm_id, result, vers, (), requests)

    async def _apply(self, run: ExecRun, events: AsyncIterator[ExecEvent]) -> None:
        tries = 0
        try:
            while True:
                try:
                    async for event in events:
                        run.apply(event)
                    if not run.finished:
                        run.error = "the stream ended without an exit code"
                    return
                except Unavailable as exc:  # the stream broke: the command runs on, pick it up again
                    tries += 1
                    if run.cursor is None or tries > REATTACH_TRIES:
                        run.error = f"stream lost: {exc.message}"
                        return
                    events = self._attached(run)
                except Unsupported as exc:
                    run.error = exc.message
                    return
                except ProviderError as exc:
                    run.error = str(exc)
                    return
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
            run.following = False

    async def _attached(self, run: ExecRun) -> AsyncIterator[ExecEvent]:
        """The run's events after its cursor; a provider that cannot re-attach says so while iterating."""
        provider = self.providers[run.profile]
        async for event in provider.exec_attach(run.vm_id, run.exec_id, cursor=run.cursor):
            yield event

    def _forget_old(self) -> None:
        finished = [run for run in self.runs if run.finished]
        for run in finished[RUNS_KEPT:]:
            self.runs.remove(run)
