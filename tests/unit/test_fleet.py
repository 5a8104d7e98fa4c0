"""FleetSupervisor without Textual: opening profiles with retries, polling, showing and hiding."""

import asyncio

from tests.ui.demo_provider import DemoProvider, demo_provider
from vmtui.config import PollSettings
from vmtui.core.errors import Unavailable
from vmtui.services.actions import Actions
from vmtui.services.fleet import FleetSupervisor
from vmtui.services.poller import PollResult

SLOW = PollSettings(fast=60, slow=60, max_backoff=60, timeout=5)


def opener(provider, failures=()):
    """Opens `provider` after raising each of `failures` once."""
    pending = list(failures)

    async def open_provider(status):
        status("starting…")
        if pending:
            raise pending.pop(0)
        return provider

    return open_provider


async def wait_until(condition, timeout=30.0):
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def supervisor(openers, shown=None):
    results: list[PollResult] = []
    statuses: list[tuple[str, str | None, str | None]] = []
    waits: list[float] = []

    async def no_wait(seconds):
        waits.append(seconds)
        await asyncio.sleep(0)

    fleet = FleetSupervisor(
        openers,
        Actions({}),
        SLOW,
        shown=shown,
        on_result=results.append,
        on_status=lambda *report: statuses.append(report),
        sleep=no_wait,
    )
    return fleet, results, statuses, waits


async def test_a_failing_open_is_reported_and_retried_with_backoff_then_polled():
    provider = demo_provider()
    failures = [Unavailable("engine not up"), OSError("port busy"), Unavailable("still not up")]
    fleet, results, statuses, waits = supervisor({"local": opener(provider, failures)})
    fleet.start()
    try:
        await wait_until(lambda: results)
        errors = [error for _, _, error in statuses if error]
        assert errors == [
            "cannot open: engine not up",
            "cannot open: OSError: port busy",
            "cannot open: still not up",
        ]
        assert waits[:3] == [1.0, 2.0, 4.0]
        assert fleet.actions.providers["local"] is provider and "local" in fleet.pollers
        assert results[0].provider == "local" and len(results[0].fleet.vms) == len(provider.vms)
    finally:
        fleet.stop()


async def test_recorded_results_and_statuses_follow_what_is_shown():
    fleet, results, _, _ = supervisor(
        {"local": opener(demo_provider()), "other": opener(DemoProvider("other"))}, ["local"]
    )
    assert fleet.shown == ["local"] and fleet.connecting == {"local": "connecting…"}
    assert fleet.record_status("local", None, "cannot open: no") and fleet.open_errors == {
        "local": "cannot open: no"
    }
    assert not fleet.record_status("other", "starting", None)  # not shown: ignored
    fleet.start()
    try:
        await wait_until(lambda: results)
        assert fleet.record(results[0]) and "local" not in fleet.connecting
        assert [f.provider for f in fleet.fleets()] == ["local"]
        assert fleet.show("other") and not fleet.show("other") and not fleet.show("unknown")
        await wait_until(lambda: any(r.provider == "other" for r in results))
        other = next(r for r in results if r.provider == "other")
        assert fleet.record(other)
        assert fleet.default_profile("other") == "other" and fleet.default_profile("gone") == "local"
        assert fleet.summary("other", "local") == "live, 0 VM(s); choose for new VMs and images"
        assert fleet.hide("local") and not fleet.hide("other")  # the last shown profile stays
        assert fleet.shown == ["other"] and "local" not in fleet.results and "local" not in fleet.pollers
        assert not fleet.record(results[0])  # a late result of a hidden profile is dropped
        assert fleet.summary("local", "other") == "not shown; choose to add its VMs to the list"
    finally:
        fleet.stop()


async def test_wake_polls_now_instead_of_after_the_slow_interval():
    fleet, results, _, _ = supervisor({"local": opener(demo_provider())})
    fleet.start()
    try:
        await wait_until(lambda: len(results) == 1)
        fleet.wake("local")
        await wait_until(lambda: len(results) == 2)
    finally:
        fleet.stop()
