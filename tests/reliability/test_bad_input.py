"""Bad input against a real daemon: schemathesis over the whole OpenAPI (the Vers routes and the
`/swiftor` prefix), then hand-picked hostile values (huge strings, control characters, terminal escape
sequences, path traversal in image, commit and VM names).

Rules checked on every answer: never a 5xx other than 501/503 (a server error means a crash path),
and every error in the documented shape: Vers `{"success": false, "error": "..."}` JSON or a plain-text
400/422 parse error; Swiftor `{"detail": ...}`.
"""

from __future__ import annotations

import collections
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.reliability.conftest import API

pytestmark = pytest.mark.root

EXAMPLES_PER_OPERATION = 8
"""Per operation and generation mode; ~48 operations x up to 3 passes take about a minute on 2 cores."""
SKIP_WITH_REAL_VM = {"DELETE"}
"""Fuzzing with the real VM's id in the path keeps that VM: deleting it would end the pass early."""
ALLOWED_5XX = {501, 503}


def documented_error_problem(path: str, response: httpx.Response | object) -> str | None:
    """Why an answer breaks the documented error contract, or None when it is fine."""
    status = response.status_code
    if status >= 500 and status not in ALLOWED_5XX:
        return f"server error {status}"
    if status < 400:
        return None
    content_type = response.headers.get("content-type", "")
    if isinstance(content_type, list):  # schemathesis responses keep every value of a header
        content_type = content_type[0] if content_type else ""
    try:
        body = json.loads(response.content) if "json" in content_type else None
    except ValueError:
        return "error body is not JSON although it says so"
    if path.startswith("/swiftor"):
        if isinstance(body, dict) and isinstance(body.get("detail"), (str, list)) and body["detail"]:
            return None
        return "Swiftor error without a detail"
    if isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), str):
        return None if body["error"] else "empty error message"
    if content_type.startswith("text/plain") and status in (400, 413, 422) and response.text.strip():
        return None
    return f"undocumented error shape ({content_type})"


SQLITE_INT_MAX = 2**63 - 1


def _swiftor_token(state: Path) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmtui",
            "serve",
            "--state-dir",
            str(state),
            "--print-token",
            "fuzz@example.com",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_schemathesis_finds_no_server_error_and_only_documented_errors(serve, tmp_path: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis", reason="install the test extra (schemathesis)")
    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    state = tmp_path / "state"
    swiftor_token = _swiftor_token(state)
    daemon = serve(state, "--rate-limit", "100000", "--burst", "100000")
    with daemon.client() as client:
        real_vm = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
    schema = schemathesis.openapi.from_url(f"{daemon.api}/openapi.json", headers=daemon.headers())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path.startswith("/swiftor/") for op in operations), (
        "the Swiftor routes are not in the schema"
    )
    statuses: collections.Counter[int] = collections.Counter()
    problems: list[str] = []
    passes_run = 0

    for operation in operations:
        swiftor = operation.path.startswith("/swiftor")
        headers = {"Authorization": f"Bearer {swiftor_token}"} if swiftor else daemon.headers()
        passes = [(positive, None), (negative, None)]
        vm_param = next(
            (name for name in ("vm_id", "vm_or_commit_id") if f"{{{name}}}" in operation.path), None
        )
        if vm_param and operation.method.upper() not in SKIP_WITH_REAL_VM:
            passes.append((positive, {vm_param: real_vm}))
        for mode, path_parameters in passes:
            # Branching the real VM boots `count` VMs: keep that small so the pass stays bounded.
            query = {"count": 1} if path_parameters and "branch" in operation.path else None
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=path_parameters, query=query
            )
            passes_run += _fuzz(strategy, operation.path, daemon.api, headers, statuses, problems)

    with daemon.client() as client:  # everything the fuzzer made can be deleted again
        for vm in client.get(f"{API}/vms").json():
            assert client.delete(f"{API}/vm/{vm['vm_id']}").status_code == 200
    total = sum(statuses.values())
    print(
        f"schemathesis: {len(operations)} operations, {passes_run} passes, {total} requests, statuses {dict(sorted(statuses.items()))}"
    )
    assert daemon.alive, f"the daemon died under fuzzing:\n{daemon.log_tail()}"
    assert not problems, f"{len(problems)} bad answers, first ones:\n" + "\n".join(problems[:10])
    assert total >= len(operations) * EXAMPLES_PER_OPERATION


def _fuzz(
    strategy,
    path: str,
    base_url: str,
    headers: dict[str, str],
    statuses: collections.Counter[int],
    problems: list[str],
) -> bool:
    """Send `EXAMPLES_PER_OPERATION` generated requests of one operation and judge each answer.
    False when the strategy can make no request at all (negative mode with nothing to break)."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        statuses[response.status_code] += 1
        problem = documented_error_problem(path, response)
        if problem:
            problems.append(
                f"{case.method.upper()} {case.formatted_path} query={case.query!r} "
                f"body={str(case.body)[:200]!r}: {problem}: {response.text[:200]!r}"
            )

    try:
        fuzz()
    except Unsatisfiable:  # negative mode on an operation with nothing to break (no parameters, no body)
        return False
    return True


HOSTILE_TEXT = [
    "\x1b[2J\x1b[H\x1b]0;owned\x07",  # clear the screen, set the terminal title
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the user's clipboard
    "line1\r\nline2\ttab\x00nul\x7f",
    "\u202egnp.exe\u200b",  # right-to-left override, zero-width space
    "'; DROP TABLE vms; --",
    "../../../../etc/passwd",
    "\U0001f600" * 1000,
    "x" * 1_000_000,
]


def _stored_or_refused(response: httpx.Response, path: str) -> bool:
    """True when the request was accepted; otherwise it must be a documented 4xx."""
    if response.is_success:
        return True
    ok = 400 <= response.status_code < 500
    assert ok, f"{path}: {response.status_code} {response.text[:200]!r}"
    assert documented_error_problem(path, response) is None, response.text[:200]
    return False


def _same(a: object, b: object) -> bool:
    """Plain comparison (pytest's diff of megabyte strings would take minutes)."""
    return a == b


def _short(value: object) -> str:
    return repr(value)[:300]


def test_hostile_labels_and_names_are_kept_exactly_or_refused_cleanly(serve, tmp_path: Path) -> None:
    daemon = serve(tmp_path / "state")
    stored = refused = 0
    with daemon.client() as client:
        vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        for value in HOSTILE_TEXT:
            labels = {"name": value, value[:200] or "empty": "v"}
            created = client.post(f"{API}/vm/new_root", json={"vm_config": {"labels": labels}})
            if _stored_or_refused(created, f"/vm/new_root {_short(value)}"):
                stored += 1
                shown = client.get(f"{API}/vm/{created.json()['vm_id']}/status").json()["labels"]
                assert _same(shown, labels), f"labels were altered on the way: {_short(shown)}"
                assert client.delete(f"{API}/vm/{created.json()['vm_id']}").status_code == 200
            else:
                refused += 1
            replaced = client.put(f"{API}/vm/{vm_id}/labels", json={"labels": labels})
            if _stored_or_refused(replaced, "/vm/labels"):
                shown = client.get(f"{API}/vm/{vm_id}/status").json()["labels"]
                assert _same(shown, labels), f"replaced labels were altered: {_short(shown)}"
            commit = client.post(f"{API}/vm/{vm_id}/commit", json={"name": value, "description": value})
            if _stored_or_refused(commit, "/vm/commit"):
                listed = {c["commit_id"]: c for c in client.get(f"{API}/commits").json()["commits"]}
                record = listed[commit.json()["commit_id"]]
                kept = _same((record["name"], record["description"]), (value.strip(), value.strip()))
                assert kept, f"commit name/description altered: {_short(record)}"
        assert client.get(f"{API}/vm/{vm_id}/status").json()["state"] == "running"
    print(
        f"hostile values: {len(HOSTILE_TEXT)} values x 3 routes, {stored} creates stored, {refused} refused"
    )
    assert daemon.alive


def _tiny_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"#!/bin/sh\n"
        info = tarfile.TarInfo("bin/sh")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TRAVERSAL = ["..", "../x", "..%2Fx", "%2E%2E%2Fx", "%2Fetc", "/etc", "...", ".hidden", "a/../../x", "x%00y"]


def test_path_traversal_in_image_commit_and_vm_names_is_refused(serve, tmp_path: Path) -> None:
    state = tmp_path / "state"
    daemon = serve(state, "--rate-limit", "100000", "--burst", "100000")  # 111 requests: more than a burst
    token_before = (state / "token").read_bytes()
    outside = {p.name for p in tmp_path.iterdir()}
    tried = 0
    with daemon.client() as client:
        vm_id = client.post(f"{API}/vm/new_root?wait_boot=true", json={"vm_config": {}}).json()["vm_id"]
        for name in TRAVERSAL:
            requests = [
                ("PUT", f"{API}/rootfs/{name}", {"content": _tiny_rootfs()}),
                ("PUT", f"/api/rootfs/{name}", {"content": _tiny_rootfs()}),
                ("DELETE", f"{API}/rootfs/{name}", {}),
                ("POST", f"{API}/vm/new_root", {"json": {"vm_config": {"image_name": name}}}),
                ("POST", f"{API}/vm/from_commit", {"json": {"commit_id": name}}),
                ("POST", f"{API}/vm/branch/by_commit/{name}", {}),
                ("DELETE", f"{API}/commits/{name}", {}),
                ("GET", f"{API}/vm/commits/{name}/parents", {}),
                ("GET", f"{API}/vm/{name}/status", {}),
                ("DELETE", f"{API}/vm/{name}", {}),
                ("POST", f"{API}/vm/{vm_id}/commit", {"json": {"commit_id": name, "name": name}}),
            ]
            for method, path, extra in requests:
                response = client.request(method, path, **extra)
                tried += 1
                assert 400 <= response.status_code < 500, (
                    f"{method} {path}: {response.status_code} {response.text}"
                )
                assert documented_error_problem(path, response) is None, f"{method} {path}: {response.text}"
        assert client.get(f"{API}/vm/{vm_id}/status").json()["state"] == "running"
        assert [i["image_name"] for i in client.get(f"{API}/images").json()["images"]] == ["default"]
    assert {p.name for p in tmp_path.iterdir()} == outside, "something was written next to the state dir"
    assert {p.name for p in (state / "images").iterdir()} == {"default"}
    assert (state / "token").read_bytes() == token_before
    print(f"path traversal: {tried} requests refused")


def test_a_page_offset_beyond_64_bits_is_a_clean_error(serve, tmp_path: Path) -> None:
    daemon = serve(tmp_path / "state")
    with daemon.client() as client:
        for path in (f"{API}/commits", f"{API}/images"):
            response = client.get(path, params={"offset": SQLITE_INT_MAX + 1})
            assert documented_error_problem(path, response) is None, (
                f"{path}: {response.status_code} {response.text}"
            )
