"""API faults as the client and the poller see them.

An in-test server injects 429 storms with Retry-After, 503s, answers slower than the timeout,
truncated, malformed and non-HTTP answers, wrong content types and schema drift. The Vers provider
must raise one typed error per fault after a bounded number of attempts, and the poller must keep the
last good fleet, report its age, and be fresh again after one poll once the server is healthy. Then the
real `vmtui serve` is killed and restarted under a polling client and an action in flight.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.reliability.conftest import API
from tests.reliability.faultserver import FAULTS, FaultServer
from vmtui.core.errors import BadResponse, ProviderError, RateLimited, Unavailable
from vmtui.core.models import VmConfig
from vmtui.providers.vers import VersProvider
from vmtui.services.poller import Poller, PollResult

TOKEN = "fault-test-token-" + "x" * 32
TIMEOUT = 3.0  # per attempt; generous, so a loaded machine never turns a prompt answer into a timeout
MAX_RETRIES = 2

EXPECTED: dict[str, tuple[type[ProviderError], int]] = {
    # fault: (error class, requests the client may send for one call)
    "429": (RateLimited, MAX_RETRIES + 1),
    "503": (Unavailable, MAX_RETRIES + 1),
    "slow": (Unavailable, MAX_RETRIES + 1),
    "truncated": (Unavailable, MAX_RETRIES + 1),
    "drop": (Unavailable, MAX_RETRIES + 1),
    "not_http": (Unavailable, MAX_RETRIES + 1),
    "malformed": (BadResponse, 1),
    "wrong_type": (BadResponse, 1),
    "schema": (BadResponse, 1),
}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FaultServer]:
    started = await FaultServer().start()
    yield started
    await started.close()


def _provider(url: str, sleeps: list[float]) -> VersProvider:
    async def record(seconds: float) -> None:  # retries are counted, not waited for
        sleeps.append(seconds)

    return VersProvider("faulty", url, TOKEN, timeout=TIMEOUT, max_retries=MAX_RETRIES, sleep=record)


def _check_message(error: ProviderError) -> None:
    text = str(error)
    assert TOKEN not in text
    assert not any(ord(c) < 0x20 for c in text), f"control characters reach the UI: {text!r}"


def test_every_fault_has_an_expectation() -> None:
    assert set(EXPECTED) == set(FAULTS)


@pytest.mark.parametrize("fault", FAULTS)
async def test_provider_gives_a_typed_error_after_bounded_retries(server: FaultServer, fault: str) -> None:
    sleeps: list[float] = []
    provider = _provider(server.url, sleeps)
    server.fault = fault
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.list_vms()
    finally:
        await provider.aclose()
    error_class, attempts = EXPECTED[fault]
    assert type(caught.value) is error_class, f"{fault}: {type(caught.value).__name__}: {caught.value}"
    assert len(server.requests) == attempts, f"{fault}: {len(server.requests)} requests"
    assert len(sleeps) == attempts - 1
    _check_message(caught.value)
    if fault == "429":
        assert sleeps == [7.0] * MAX_RETRIES, "Retry-After must replace the backoff"
        assert caught.value.retry_after == 7.0
    if fault == "slow":  # the server never answers: every attempt gave up by itself
        assert await _until(lambda: server.abandoned == attempts), server.abandoned
        assert f"did not answer within {TIMEOUT:g} s" in caught.value.message


async def test_a_huge_retry_after_is_capped(server: FaultServer) -> None:
    sleeps: list[float] = []
    provider = _provider(server.url, sleeps)
    server.fault, server.retry_after = "429", "86400"
    try:
        with pytest.raises(RateLimited):
            await provider.list_vms()
    finally:
        await provider.aclose()
    assert sleeps and max(sleeps) <= provider.http.retry.max_retry_after


async def test_poller_keeps_the_last_fleet_through_every_fault_and_recovers_in_one_poll(
    server: FaultServer,
) -> None:
    clock = [1000.0]
    results: list[PollResult] = []
    provider = _provider(server.url, [])
    poller = Poller(provider, results.append, max_backoff=30, wall_clock=lambda: clock[0])
    try:
        good = await poller.tick()
        assert good.error is None and [vm.id for vm in good.fleet.vms] == ["vm-1", "vm-2"]
        # The first list may be handed on once early, before its commits arrive; then once with them.
        first_poll = len(results)
        assert first_poll in (1, 2) and results[-1] is good
        for faults_injected, fault in enumerate(FAULTS, start=1):
            server.fault = fault
            clock[0] += 5
            stale = await poller.tick()
            assert isinstance(stale.error, EXPECTED[fault][0]), (fault, stale.error)
            assert stale.stale and stale.fleet == good.fleet, "the last good fleet must stay on screen"
            assert stale.age(clock[0]) == pytest.approx(5.0 * faults_injected)
            assert stale.failures == faults_injected
            assert poller.next_interval() <= poller.max_backoff * 1.25
            _check_message(stale.error)
        server.fault = None
        clock[0] += 5
        fresh = await poller.tick()
        assert fresh.error is None and fresh.failures == 0 and fresh.age(clock[0]) == 0
        assert poller.next_interval() == poller.slow
    finally:
        await provider.aclose()
    assert len(results) == first_poll + len(FAULTS) + 1  # every later poll hands on exactly one result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.root
async def test_poller_survives_the_real_daemon_being_killed_and_restarted(serve, tmp_path) -> None:
    port = _free_port()
    daemon = serve(tmp_path / "state", port=port)
    with daemon.client() as client:
        vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
    provider = VersProvider("local", daemon.api, daemon.token, timeout=10.0, max_retries=1)
    results: list[tuple[float, PollResult]] = []
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    poller = Poller(
        provider,
        lambda r: results.append((time.monotonic(), r)),
        fast=0.1,
        slow=0.2,
        max_backoff=0.4,
        sleep=wait,
    )
    polling = asyncio.create_task(poller.run())
    try:
        assert await _until(lambda: results and results[-1][1].error is None)
        last_good = results[-1][1].fleet
        assert [vm.id for vm in last_good.vms] == [vm_id]

        # An action in flight when the daemon dies is reported (done or failed), never lost.
        action = asyncio.create_task(provider.create_vm(VmConfig(), wait_boot=True))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(daemon.kill9)
        outcome = (await asyncio.gather(action, return_exceptions=True))[0]
        assert isinstance(outcome, (str, Unavailable)), f"the interrupted create vanished: {outcome!r}"

        assert await _until(lambda: results[-1][1].error is not None)
        stale = results[-1][1]
        assert isinstance(stale.error, Unavailable) and stale.fleet == last_good
        assert stale.age(time.time()) >= 0

        await asyncio.to_thread(daemon.start)
        back = time.monotonic()
        assert await _until(lambda: results[-1][1].error is None and results[-1][0] > back)
        recovery = results[-1][0] - back
        # Through the outage the poller never waited longer than its capped backoff (plus jitter).
        assert max(waits) <= poller.max_backoff * 1.25, waits
        fresh = results[-1][1].fleet
        assert vm_id in [vm.id for vm in fresh.vms]
        if isinstance(outcome, str):
            assert outcome in [vm.id for vm in fresh.vms], "a create reported as done is missing"
        print(
            f"poller recovery after restart: {recovery:.3f} s, interrupted create -> {type(outcome).__name__}"
        )
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await provider.aclose()


async def _until(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


@pytest.mark.root
async def test_the_real_rate_limiter_is_honoured_by_the_provider(serve, tmp_path) -> None:
    daemon = serve(tmp_path / "state", "--rate-limit", "2", "--burst", "2")
    sleeps: list[float] = []

    async def wait(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    provider = VersProvider("local", daemon.api, daemon.token, timeout=60, max_retries=3, sleep=wait)
    try:
        outcomes = await asyncio.gather(*(provider.list_vms() for _ in range(8)), return_exceptions=True)
    finally:
        await provider.aclose()
    assert all(o == [] or isinstance(o, RateLimited) for o in outcomes), outcomes
    assert sum(o == [] for o in outcomes) >= 4, "retries after Retry-After should get most calls through"
    assert sleeps and all(s >= 1 for s in sleeps), "the server's Retry-After (>= 1 s) replaces the backoff"
    assert len(sleeps) <= 8 * 3
