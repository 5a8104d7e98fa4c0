"""The client side of the local engine: find a running `vmtui serve` or start one in the background."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from vmtui.core.errors import Unavailable
from vmtui.services.local_daemon import (
    LocalEndpoint,
    announced_daemon,
    ensure_daemon,
    is_healthy,
    is_healthy_async,
    read_endpoint,
    running_daemon,
)


def _stop(state_dir: Path) -> None:
    data = json.loads((state_dir / "endpoint.json").read_text())
    os.kill(data["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{data['pid']}").exists():
        time.sleep(0.05)


def test_endpoint_repr_hides_the_token():
    endpoint = LocalEndpoint(api_url="http://127.0.0.1:1", token="s3cret-token")
    assert "s3cret-token" not in repr(endpoint)


def test_missing_or_garbled_endpoint_files(tmp_path):
    assert read_endpoint(tmp_path) is None
    (tmp_path / "endpoint.json").write_text("{not json")
    assert read_endpoint(tmp_path) is None
    (tmp_path / "endpoint.json").write_text(
        json.dumps({"api_url": "http://127.0.0.1:1", "token_file": str(tmp_path / "nope")})
    )
    assert read_endpoint(tmp_path) is None


def test_without_start_a_missing_daemon_is_a_clear_error(tmp_path):
    state = tmp_path / "state"
    with pytest.raises(Unavailable, match=f"vmtui serve --state-dir {state}"):
        ensure_daemon(state, start=False)


def test_a_stale_endpoint_file_is_not_trusted(tmp_path):
    (tmp_path / "token").write_text("t" * 40)
    (tmp_path / "endpoint.json").write_text(
        json.dumps({"api_url": "http://127.0.0.1:9", "token_file": str(tmp_path / "token")})
    )
    endpoint = read_endpoint(tmp_path)
    assert endpoint is not None and not is_healthy(endpoint)
    assert asyncio.run(running_daemon(tmp_path)) is None
    with pytest.raises(Unavailable):
        ensure_daemon(tmp_path, start=False)


def test_starts_once_then_finds_the_running_daemon(tmp_path):
    state = tmp_path / "state"
    results: list[LocalEndpoint] = []
    errors: list[Unavailable] = []

    def start() -> None:
        try:
            results.append(ensure_daemon(state, timeout=90))
        except Unavailable as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len({endpoint.api_url for endpoint in results}) == 1
        endpoint = results[0]
        assert endpoint.token == (state / "token").read_text().strip()
        response = httpx.get(
            f"{endpoint.api_url}/api/v1/vms",
            headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=60,
        )
        assert response.status_code == 200
        pid = json.loads((state / "endpoint.json").read_text())["pid"]
        again = ensure_daemon(state, start=False)
        assert sorted(endpoint.started for endpoint in results) == [False, True]  # one started it
        assert again == replace(endpoint, started=False)  # found running, not started
        assert json.loads((state / "endpoint.json").read_text())["pid"] == pid
        assert asyncio.run(running_daemon(state)) == again  # the TUI's check, on its event loop
        wrong_token = replace(endpoint, token="x" * 40)  # something else listening there: not ours
        assert not is_healthy(wrong_token) and not asyncio.run(is_healthy_async(wrong_token))
    finally:
        _stop(state)


def test_local_swiftor_token_is_issued_by_the_engine(tmp_path):
    import jwt

    from vmtui.services.local_daemon import local_swiftor_token

    token = local_swiftor_token(tmp_path / "state", "ada@example.com")
    secret = (tmp_path / "state" / "jwt-secret").read_bytes().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["email"] == "ada@example.com"
    assert (tmp_path / "state" / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_local_swiftor_token_failure_says_why(tmp_path):
    import pytest

    from vmtui.core.errors import Unavailable
    from vmtui.services.local_daemon import local_swiftor_token

    with pytest.raises(Unavailable, match="no Swiftor token for not-an-email"):
        local_swiftor_token(tmp_path / "state", "not-an-email")


def test_the_announced_engine_is_taken_only_while_its_process_lives(tmp_path):
    """`announced_daemon` makes no request: it trusts the file while the process it names is alive."""
    (tmp_path / "token").write_text("t" * 40)
    announce = {"api_url": "http://127.0.0.1:9", "token_file": str(tmp_path / "token")}
    (tmp_path / "endpoint.json").write_text(json.dumps({**announce, "pid": os.getpid()}))
    endpoint = announced_daemon(tmp_path)
    assert endpoint is not None and endpoint.pid == os.getpid() and endpoint.api_url == "http://127.0.0.1:9"

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: no process has this pid now
    (tmp_path / "endpoint.json").write_text(json.dumps({**announce, "pid": gone.pid}))
    assert announced_daemon(tmp_path) is None
    (tmp_path / "endpoint.json").write_text(json.dumps(announce))  # no pid announced: nothing to go by
    assert announced_daemon(tmp_path) is None
