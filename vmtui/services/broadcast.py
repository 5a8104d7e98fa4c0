"""Broadcast exec: one command on N VMs at once, results grouped by identical output (like `dshbak -c`).
No Textual.

`Broadcast.run` fans the command out with at most `concurrency` VMs at a time and reports each VM as
it finishes; `group_results` folds identical outputs into one group naming every VM (with its exit
code), failed groups first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vmtui.core import request_trace
from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.providers.base import Provider
from vmtui.services.action_log import OK, ActionLog
from vmtui.services.exec_runs import shell_line

DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class VmResult:
    """One VM's part: its whole output (stdout and stderr in the order written), exit code or error."""

    vm: Vm
    output: str
    exit_code: int | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.exit_code != 0

    @property
    def outcome(self) -> str:
        return self.error if self.error is not None else f"exit {self.exit_code}"


@dataclass(frozen=True)
class OutputGroup:
    """VMs whose output was byte for byte the same."""

    output: str
    results: tuple[VmResult, ...]

    @property
    def failed(self) -> bool:
        return any(result.failed for result in self.results)


class Broadcast:
    """Runs one command on many VMs through their providers' exec."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        log: ActionLog | None = None,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.providers = providers
        self.concurrency = concurrency
        self.log = log
        """Each VM's run is one `exec` change there, with its request and result."""

    async def run(
        self,
        targets: list[Vm],
        command: list[str],
        *,
        timeout_secs: int | None = None,
        on_result: Callable[[VmResult], None] = lambda _result: None,
    ) -> list[VmResult]:
        """Every target's result, in the targets' order; `on_result` hears of each as it ends."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(vm: Vm) -> VmResult:
            async with gate:
                with request_trace.tracing() as requests:
                    result = await self._run_one(vm, command, timeout_secs)
            if self.log is not None:
                outcome = OK if not result.failed else result.outcome
                vers = ("vers", "exec", vm.id, shell_line(command))
                self.log.append(vm.provider, "exec", vm.id, outcome, vers, (), requests)
            on_result(result)
            return result

        return list(await asyncio.gather(*(one(vm) for vm in targets)))

    async def _run_one(self, vm: Vm, command: list[str], timeout_secs: int | None) -> VmResult:
        provider = self.providers.get(vm.provider)
        if provider is None:
            return VmResult(vm, "", error=f"profile {vm.provider!r} is not open")
        output = bytearray()
        exit_code: int | None = None
        error: str | None = None
        try:
            async for event in provider.exec_stream(vm.id, command, timeout_secs=timeout_secs):
                if event.kind == "chunk":
                    output += event.data
                elif event.kind == "exit":
                    exit_code = event.exit_code
                else:
                    error = f"{event.code or 'error'}: {event.message}"
        except ProviderError as exc:
            error = str(exc)
        if exit_code is None and error is None:
            error = "ended without an exit code"
        return VmResult(vm, output.decode("utf-8", "replace"), exit_code, error)


def group_results(results: list[VmResult]) -> list[OutputGroup]:
    """Identical outputs folded into one group; groups with a failure first, then the biggest."""
    by_output: dict[str, list[VmResult]] = {}
    for result in results:
        by_output.setdefault(result.output, []).append(result)
    groups = [
        OutputGroup(output, tuple(sorted(members, key=lambda r: (not r.failed, r.vm.display_name))))
        for output, members in by_output.items()
    ]
    return sorted(groups, key=lambda group: (not group.failed, -len(group.results)))
