"""Broadcast exec's fan-out (concurrency bound, per-VM results) and dshbak-style grouping."""

from __future__ import annotations

import asyncio

import pytest

from vmtui.core.errors import Unavailable
from vmtui.core.models import ExecResult, Vm, VmState
from vmtui.providers.base import Provider
from vmtui.services.action_log import ActionLog
from vmtui.services.broadcast import Broadcast, VmResult, group_results


class ScriptedProvider(Provider):
    """Exec answers from a table; counts how many commands run at once."""

    def __init__(self, answers: dict[str, ExecResult | Exception]):
        super().__init__("p")
        self.answers = answers
        self.running = 0
        self.most_at_once = 0

    async def exec(self, vm_id, command, *, timeout_secs=None):
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0)  # let the other fan-out tasks start too
            await asyncio.sleep(0)
            answer = self.answers[vm_id]
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.running -= 1


def vm(name: str) -> Vm:
    return Vm(id=name, provider="p", state=VmState.RUNNING, labels={"name": name})


async def test_one_result_per_vm_in_target_order_with_exit_codes_and_errors():
    provider = ScriptedProvider(
        {
            "a": ExecResult(exit_code=0, stdout="same\n"),
            "b": ExecResult(exit_code=2, stdout="same\n", stderr="bad\n"),
            "c": Unavailable("gone away"),
        }
    )
    heard: list[str] = []
    log = ActionLog()
    results = await Broadcast({"p": provider}, log=log).run(
        [vm("a"), vm("b"), vm("c")], ["uname"], on_result=lambda r: heard.append(r.vm.id)
    )
    assert [(r.vm.id, r.exit_code, r.output) for r in results] == [
        ("a", 0, "same\n"),
        ("b", 2, "same\nbad\n"),
        ("c", None, ""),
    ]
    assert results[2].failed and "gone away" in results[2].outcome
    assert sorted(heard) == ["a", "b", "c"]
    logged = sorted((entry.target, entry.result, entry.vers) for entry in log.entries)
    assert logged == [
        ("a", "ok", ("vers", "exec", "a", "uname")),
        ("b", "exit 2", ("vers", "exec", "b", "uname")),
        ("c", results[2].outcome, ("vers", "exec", "c", "uname")),
    ]


async def test_the_fan_out_never_runs_more_than_the_bound_at_once():
    provider = ScriptedProvider({name: ExecResult(exit_code=0) for name in "abcdefgh"})
    await Broadcast({"p": provider}, concurrency=3).run([vm(name) for name in "abcdefgh"], ["true"])
    assert provider.most_at_once == 3
    with pytest.raises(ValueError):
        Broadcast({"p": provider}, concurrency=0)


async def test_a_vm_of_a_profile_not_open_is_an_error_not_a_crash():
    [result] = await Broadcast({}).run([vm("a")], ["true"])
    assert result.failed and "not open" in (result.error or "")


def test_identical_outputs_fold_into_one_group_with_failed_groups_first():
    results = [
        VmResult(vm("web-1"), "ok\n", 0),
        VmResult(vm("web-2"), "ok\n", 0),
        VmResult(vm("web-3"), "ok\n", 0),
        VmResult(vm("db-1"), "disk full\n", 1),
        VmResult(vm("web-4"), "ok\n", 3),
    ]
    groups = group_results(results)
    assert [[r.vm.id for r in g.results] for g in groups] == [
        ["web-4", "web-1", "web-2", "web-3"],  # has a failure: first; within it the failed VM first
        ["db-1"],
    ]
    assert groups[0].failed and groups[1].failed
    ok_only = group_results(results[:3] + [VmResult(vm("x"), "other\n", 0)])
    assert [len(g.results) for g in ok_only] == [3, 1], "biggest group first when none failed"
