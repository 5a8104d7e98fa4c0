"""`FileDiffer` on the real local engine: the engine's own diff route, and the branch-and-list method
a platform without one (Vers) needs, run against the same engine with that route switched off."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.local.test_server import TOKEN
from vmtui.core.errors import NotFound
from vmtui.core.models import VmConfig
from vmtui.local.api.app import create_app
from vmtui.providers.vers import VersProvider
from vmtui.services.action_log import ActionLog
from vmtui.services.file_diff import DiffRequest, FileDiffer

pytestmark = pytest.mark.root


@pytest.fixture
async def provider_for(engine):
    made: list[VersProvider] = []

    def make(*, file_diff: bool) -> VersProvider:
        transport = httpx.ASGITransport(app=create_app(engine, TOKEN))
        made.append(
            VersProvider(
                "local",
                "http://engine.test/api/v1",
                TOKEN,
                transport=transport,
                file_diff=file_diff,
                timeout=60,
            )
        )
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


async def _two_commits(provider: VersProvider) -> tuple[str, str, str]:
    vm_id = await provider.create_vm(VmConfig(), wait_boot=True)
    assert (
        await provider.exec(vm_id, ["sh", "-c", "mkdir /srv/t && echo one > /srv/t/a && echo x > /srv/t/b"])
    ).exit_code == 0
    first = await provider.commit(vm_id)
    assert (
        await provider.exec(vm_id, ["sh", "-c", "echo two >> /srv/t/a && rm /srv/t/b && echo c > /srv/t/c"])
    ).exit_code == 0
    second = await provider.commit(vm_id)
    return vm_id, first, second


def _summary(result) -> dict[str, str]:
    return {c.path: c.change for c in result.diff.changes if c.path.startswith("/srv/t/")}


async def test_the_engine_compares_commits_in_one_request(provider_for):
    provider = provider_for(file_diff=True)
    _, first, second = await _two_commits(provider)
    differ = FileDiffer("local", provider, ActionLog())
    request = DiffRequest(first, second)
    assert differ.cost(request).temporary_vms == 0
    steps: list[str] = []

    result = await differ.run(request, steps.append)

    assert _summary(result) == {"/srv/t/a": "changed", "/srv/t/b": "removed", "/srv/t/c": "added"}
    texts = await result.texts("/srv/t/a")
    assert (texts.before, texts.after, texts.binary) == ("one\n", "one\ntwo\n", False)
    assert steps and len(await provider.list_vms()) == 1  # no VM was started


async def test_without_the_route_it_branches_lists_and_deletes(provider_for):
    provider = provider_for(file_diff=False)
    vm_id, first, second = await _two_commits(provider)
    log = ActionLog()
    differ = FileDiffer("local", provider, log)
    request = DiffRequest(first, second, under="/srv")
    cost = differ.cost(request)
    assert (cost.temporary_vms, cost.seconds) == (2, None) and "2 temporary VM" in cost.describe()
    steps: list[str] = []

    result = await differ.run(request, steps.append)

    assert _summary(result) == {"/srv/t/a": "changed", "/srv/t/b": "removed", "/srv/t/c": "added"}
    assert (await result.texts("/srv/t/a")).after == "one\ntwo\n"
    assert (await result.texts("/srv/t/b")).before == "x\n"
    assert [vm.id for vm in await provider.list_vms()] == [vm_id]  # both temporary VMs deleted
    assert [e.action for e in log.entries] == ["branch", "branch", "delete", "delete"]
    assert any("Branching" in s for s in steps) and any("Deleting" in s for s in steps)
    assert differ.cost(request).seconds is not None  # measured now
    with pytest.raises(NotFound):
        await result.texts("/srv/t/never")

    vm_request = DiffRequest(first, vm_id, after_is_vm=True, under="/srv")
    assert differ.cost(vm_request).temporary_vms == 1
    against_vm = await differ.run(vm_request, steps.append)
    assert _summary(against_vm) == {"/srv/t/a": "changed", "/srv/t/b": "removed", "/srv/t/c": "added"}
    assert [vm.id for vm in await provider.list_vms()] == [vm_id]


async def test_a_failing_step_still_deletes_the_temporary_vms(provider_for):
    provider = provider_for(file_diff=False)
    vm_id, first, second = await _two_commits(provider)
    differ = FileDiffer("local", provider, ActionLog())

    with pytest.raises(Exception, match="listing files"):
        await differ.run(DiffRequest(first, second, under="/no/such/dir"), lambda _: None)

    assert [vm.id for vm in await provider.list_vms()] == [vm_id]


async def test_leaving_mid_run_still_deletes_the_temporary_vms(provider_for):
    """Escape on the diff screen cancels its worker: the branches made so far still go."""
    provider = provider_for(file_diff=False)
    vm_id, first, second = await _two_commits(provider)
    differ = FileDiffer("local", provider, ActionLog())
    running: asyncio.Task | None = None

    def progress(step: str) -> None:
        if step.startswith("Listing files") and running is not None:
            running.cancel()

    running = asyncio.create_task(differ.run(DiffRequest(first, second, under="/srv"), progress))
    with pytest.raises(asyncio.CancelledError):
        await running

    assert [vm.id for vm in await provider.list_vms()] == [vm_id]
