"""Hypothesis: whatever a server answers (any JSON, any bytes, any status), only ProviderError comes out."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmtui.core.errors import ProviderError
from vmtui.core.models import VmConfig
from vmtui.providers.http import SNIPPET_LIMIT, parse_retry_after, response_message, snippet
from vmtui.providers.vers import VersProvider

KEY = "9f0e8d7c-aaaa-4bbb-8ccc-123456789abc" + "0f" * 32

# Keys the parsers look for, so generated objects reach deep into the wire models.
WIRE_KEYS = [
    "vm_id",
    "id",
    "state",
    "labels",
    "created_at",
    "owner_id",
    "alias",
    "ip",
    "ip_address",
    "parent_commit_id",
    "grandparent_vm_id",
    "vcpu_count",
    "vms",
    "error",
    "commit_id",
    "commits",
    "total",
    "limit",
    "offset",
    "ssh_private_key",
    "ssh_port",
    "exit_code",
    "stdout",
    "stderr",
    "rootfs",
    "images",
    "name",
    "size_bytes",
    "size_mib",
    "in_use",
    "data",
    "operation_id",
    "detail",
    "message",
    "success",
    "is_public",
    "rootfs_names",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(st.characters(max_codepoint=0x2FF), max_size=12)  # rich in control characters
    | st.sampled_from(
        ["running", "Paused", "2026-04-01T12:00:00Z", "", ".", "..", "\ud800", "-1", "\x1b[2Jx\n\x9b"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(WIRE_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)

# Flat objects made only of wire keys: these pass more of the validation and reach the code behind it.
plausible = st.dictionaries(st.sampled_from(WIRE_KEYS), scalars, max_size=4)
documents = (
    json_values
    | plausible
    | st.lists(plausible, max_size=3)
    | st.fixed_dictionaries(
        {},
        optional={
            "vms": st.lists(plausible, max_size=3),
            "commits": st.lists(plausible, max_size=3),
            "error": scalars,
            "total": scalars,
            "data": plausible,
            "operation_id": scalars,
        },
    )
)

STATUSES = [200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 500, 502, 503]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "text/html",
    "",
    "application/x-ndjson",
]


def _json_bytes(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", errors="surrogatepass")


bodies = st.one_of(
    documents.map(_json_bytes),
    st.binary(max_size=300),
    st.sampled_from([b"", b"[" * 5000, b'{"vms": [', b"403 Forbidden", b'{"a":1}garbage', b"\xff\xfe"]),
)
answers = st.tuples(
    st.sampled_from(STATUSES),
    st.sampled_from(CONTENT_TYPES),
    bodies,
    st.none() | st.sampled_from(["1", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "1e400", "nan"]),
)

_UPLOAD_DIR = tempfile.TemporaryDirectory(prefix="vmtui-fuzz-")
_TARBALL = Path(_UPLOAD_DIR.name) / "image.tar"
_TARBALL.write_bytes(b"x" * 1000)

CALLS = {
    "list_vms": lambda p: p.list_vms(),
    "list_vms_with_lineage": lambda p: p.list_vms_with_lineage(),
    "status": lambda p: p.status("vm-1"),
    "metadata": lambda p: p.metadata("vm-1"),
    "get_vm": lambda p: p.get_vm("vm-1"),
    "create_vm": lambda p: p.create_vm(VmConfig(vcpu_count=1, labels={"a": "b"}), wait_boot=True),
    "delete_vm": lambda p: p.delete_vm("vm-1"),
    "pause_vm": lambda p: p.pause_vm("vm-1"),
    "resume_vm": lambda p: p.resume_vm("vm-1"),
    "branch": lambda p: p.branch("vm-1", 3),
    "branch_vm": lambda p: p.branch_vm("vm-1", 2, keep_paused=True),
    "branch_commit": lambda p: p.branch_commit("c-1"),
    "commit": lambda p: p.commit("vm-1", name="n", description="d", keep_paused=True),
    "restore": lambda p: p.restore("c-1"),
    "from_commit_ref": lambda p: p.from_commit(ref="repo:tag"),
    "list_commits": lambda p: p.list_commits(),
    "commit_parents": lambda p: p.commit_parents("c-1"),
    "delete_commit": lambda p: p.delete_commit("c-1"),
    "ssh_key": lambda p: p.ssh_key("vm-1"),
    "exec": lambda p: p.exec("vm-1", ["true"], timeout_secs=3),
    "list_images": lambda p: p.list_images(),
    "upload_image": lambda p: p.upload_image("img", _TARBALL),
    "delete_image": lambda p: p.delete_image("img"),
    "health": lambda p: p.health(),
}


async def _no_sleep(_seconds: float) -> None:
    return None


async def _call_with_answer(call, answer) -> None:
    status, content_type, body, retry_after = answer
    headers = {"content-type": content_type} if content_type else {}
    if retry_after is not None:
        headers["retry-after"] = retry_after

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    provider = VersProvider(
        "fuzz",
        "https://api.vers.sh",
        KEY,
        transport=httpx.MockTransport(handler),
        sleep=_no_sleep,
        max_retries=1,
    )
    try:
        await call(provider)
    except ProviderError as exc:
        assert KEY not in str(exc)
        assert len(exc.message) <= 2 * SNIPPET_LIMIT + 150, exc.message
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in exc.message), exc.message
    finally:
        await provider.aclose()


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=answers)
def test_any_answer_to_any_endpoint_yields_only_provider_errors(name, answer):
    asyncio.run(_call_with_answer(CALLS[name], answer))


@settings(max_examples=300, deadline=None)
@given(value=documents)
def test_any_json_value_parses_or_fails_typed(value):
    """Every endpoint fed the same arbitrary JSON document with a success status."""
    body = _json_bytes(value)

    async def run_all() -> None:
        for call in CALLS.values():
            await _call_with_answer(call, (200, "application/json", body, None))

    asyncio.run(run_all())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_retry_after_parser_never_raises(text):
    result = parse_retry_after(text)
    assert result is None or result >= 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500), st.sampled_from(STATUSES[3:]))
def test_error_message_extraction_never_raises(body, status):
    message, _ = response_message(httpx.Response(status, content=body))
    assert isinstance(message, str) and message
    shown = snippet(message)
    assert len(shown) <= SNIPPET_LIMIT + 1
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in shown)
