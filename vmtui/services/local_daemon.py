"""Find or start the local engine (`vmtui serve`) for a state dir — the client side.

The daemon announces itself in `<state_dir>/endpoint.json`; the bearer token lives in the file
that names. Talking to the daemon goes through HTTP only (this layer never imports the engine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from vmtui.core.errors import ProviderError, Unavailable
from vmtui.providers.http import make_verify, system_trust

ENDPOINT_FILE = "endpoint.json"
LOG_FILE = "serve.log"
"""Where a background engine writes its log, in its state dir."""
HEALTH_TIMEOUT_S = 2.0
HEALTH_PATH = "/api/v1/system/version"


@dataclass(frozen=True)
class LocalEndpoint:
    """How to reach a running local engine."""

    api_url: str
    token: str = field(repr=False)
    ssh_host: str = "127.0.0.1"
    ssh_port: int | None = None
    ca_path: str | None = None
    domain: str = "localhost"
    started: bool = False
    """`ensure_daemon` started this engine (rather than finding it running)."""
    pid: int | None = None
    """The engine's process, as it announced it."""


def read_endpoint(state_dir: Path) -> LocalEndpoint | None:
    """The endpoint the daemon last announced for `state_dir`, or None if there is none usable."""
    try:
        data = json.loads((state_dir / ENDPOINT_FILE).read_text())
        token = Path(data["token_file"]).read_text().strip()
        return LocalEndpoint(
            api_url=str(data["api_url"]).rstrip("/"),
            token=token,
            ssh_host=data.get("ssh_host") or "127.0.0.1",
            ssh_port=data.get("ssh_port"),
            ca_path=data.get("ca_path"),
            domain=data.get("domain") or "localhost",
            pid=data["pid"] if isinstance(data.get("pid"), int) else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def announced_daemon(state_dir: Path) -> LocalEndpoint | None:
    """The engine the endpoint file announces, when its process is still alive; no request is made.
    The TUI lists such an engine at once and lets that first list prove it answers and accepts the
    token (`ProfileOpener`): the health check's round trip no longer comes before the first rows."""
    endpoint = read_endpoint(state_dir.expanduser().absolute())
    if endpoint is None or endpoint.pid is None or endpoint.pid <= 0:
        return None
    try:
        os.kill(endpoint.pid, 0)
    except ProcessLookupError:
        return None  # the engine died and left its file behind
    except PermissionError:
        pass  # alive, under another user: the first list tells whether it is ours
    return endpoint


def serve_argv(state_dir: Path, *options: str) -> list[str]:
    """The command line of `vmtui serve` for `state_dir`, run by this interpreter."""
    return [sys.executable, "-m", "vmtui", "serve", "--state-dir", str(state_dir), *options]


def _health_request(endpoint: LocalEndpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client options and the request of the health check: one authenticated request proves the
    engine answers and accepts the token (its public `/health` would prove only the first). Trust is
    the engine's own CA, as its provider uses, so the check does not load the system's CA bundle."""
    client = {
        "timeout": HEALTH_TIMEOUT_S,
        "verify": make_verify(endpoint.ca_path) if endpoint.ca_path else system_trust(),
    }
    request = {
        "url": f"{endpoint.api_url}{HEALTH_PATH}",
        "headers": {"Authorization": f"Bearer {endpoint.token}"},
    }
    return client, request


def is_healthy(endpoint: LocalEndpoint) -> bool:
    """True when the daemon answers its health check and accepts the token."""
    try:
        client_options, request = _health_request(endpoint)
        with httpx.Client(**client_options) as client:
            return client.get(**request).status_code == 200
    except (httpx.HTTPError, ProviderError):
        return False


async def is_healthy_async(endpoint: LocalEndpoint) -> bool:
    """`is_healthy` on the event loop: the TUI checks its engine without a thread, whose every step
    would wait for the GIL while the first screen mounts."""
    try:
        client_options, request = _health_request(endpoint)
        async with httpx.AsyncClient(**client_options) as client:
            return (await client.get(**request)).status_code == 200
    except (httpx.HTTPError, ProviderError):
        return False


async def running_daemon(state_dir: Path) -> LocalEndpoint | None:
    """The engine already running for `state_dir` when it is healthy, else None (then `ensure_daemon`
    starts one)."""
    endpoint = read_endpoint(state_dir.expanduser().absolute())
    return endpoint if endpoint is not None and await is_healthy_async(endpoint) else None


def ensure_daemon(state_dir: Path, *, start: bool = True, timeout: float = 20) -> LocalEndpoint:
    """A healthy local engine for `state_dir`: the running one, or (with `start`) a new one
    started in the background. Blocking; call it from a worker thread in async code.

    Raises `Unavailable` with a message saying what went wrong and what to try."""
    state_dir = state_dir.expanduser().absolute()
    endpoint = read_endpoint(state_dir)
    if endpoint is not None and is_healthy(endpoint):
        return endpoint
    if not start:
        raise Unavailable(
            f"no local engine is running for {state_dir}; start one with "
            f"`vmtui serve --state-dir {state_dir}`"
        )
    argv = serve_argv(state_dir, "--background")
    deadline = time.monotonic() + timeout
    try:
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(
            f"the local engine did not start within {timeout:.0f} s; see {state_dir / LOG_FILE}"
        ) from None
    problem = result.stderr.strip() or (
        "it started but does not answer its health check"
        if result.returncode == 0
        else f"vmtui serve exited with code {result.returncode}"
    )
    # Exit 1 may mean another client started the daemon a moment ago: wait for it to answer.
    while True:
        endpoint = read_endpoint(state_dir)
        if endpoint is not None and is_healthy(endpoint):
            return replace(endpoint, started=result.returncode == 0)
        if time.monotonic() >= deadline or result.returncode == 0:
            break
        time.sleep(0.2)
    raise Unavailable(f"could not start the local engine: {problem.splitlines()[0]}")


def local_swiftor_token(state_dir: Path, email: str, *, timeout: float = 20) -> str:
    """A token for the local engine's Swiftor API for `email`, issued by the engine's own command
    (`vmtui serve --print-token`), so its signing secret never leaves the engine. Blocking.

    Raises `Unavailable` with the command's own message when it cannot."""
    argv = serve_argv(state_dir.expanduser().absolute(), "--print-token", email)
    try:
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"no Swiftor token for {email} within {timeout:.0f} s") from None
    token = result.stdout.strip()
    if result.returncode != 0 or not token:
        problem = (result.stderr.strip() or f"exit code {result.returncode}").splitlines()[0]
        raise Unavailable(f"no Swiftor token for {email}: {problem}")
    return token
