"""The shared HTTP transport: auth, idempotency keys, retries/backoff, timeouts, error shapes, decode guards."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import sys
import time
import uuid

import httpx
import pytest

from vmtui.core.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    Conflict,
    NotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)
from vmtui.providers.http import (
    HttpClient,
    RetryPolicy,
    decode_json,
    parse_retry_after,
    snippet,
)

TOKEN = "0123abcd-0000-4000-8000-00000000beef" + "f" * 64


class Script:
    """A MockTransport handler that answers from a list of responses (or exceptions) and records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(await request.aread())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(script, *, sleeps=None, random=lambda: 0.5, max_retries=3, token=TOKEN, timeout=10.0):
    return HttpClient(
        "https://api.example.test",
        token=token,
        transport=httpx.MockTransport(script),
        retry=RetryPolicy(max_retries=max_retries),
        sleep=sleeps or Sleeps(),
        random=random,
        timeout=timeout,
    )


def ok_json(data=None, status=200):
    return httpx.Response(status, json=data if data is not None else {"ok": True})


async def test_get_sends_bearer_auth_user_agent_and_no_idempotency_key():
    script = Script(ok_json([1, 2]))
    client = make_client(script)
    assert await client.send_json("GET", "/api/v1/vms", params={"wait": True, "n": 3}) == [1, 2]
    request = script.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"].startswith("vmtui/")
    assert "x-idempotency-key" not in request.headers
    assert request.url.params["wait"] == "true" and request.url.params["n"] == "3"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_mutating_requests_carry_a_fresh_uuid4_idempotency_key(method):
    script = Script(ok_json())
    client = make_client(script)
    await client.send(method, "/x", json_body={"a": 1})
    await client.send(method, "/x", json_body={"a": 1})
    keys = [r.headers["x-idempotency-key"] for r in script.requests]
    assert uuid.UUID(keys[0]).version == 4
    assert keys[0] != keys[1], "each call gets its own key"


async def test_retry_reuses_the_idempotency_key_and_body():
    script = Script(httpx.Response(503), httpx.Response(408), ok_json({"vm_id": "v"}, 201))
    sleeps = Sleeps()
    client = make_client(script, sleeps=sleeps)
    response = await client.send("POST", "/api/v1/vm/new_root", json_body={"vm_config": {}})
    assert response.status_code == 201
    assert len(script.requests) == 3
    assert len({r.headers["x-idempotency-key"] for r in script.requests}) == 1
    assert set(script.bodies) == {b'{"vm_config":{}}'}
    assert len(sleeps.calls) == 2


async def test_retry_after_seconds_is_honoured():
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), ok_json())
    sleeps = Sleeps()
    await make_client(script, sleeps=sleeps).send("GET", "/x")
    assert sleeps.calls == [7.0]


async def test_retry_after_http_date_is_honoured():
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": when}), ok_json())
    sleeps = Sleeps()
    await make_client(script, sleeps=sleeps).send("GET", "/x")
    assert 17 <= sleeps.calls[0] <= 20


async def test_retry_after_is_capped():
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), ok_json())
    sleeps = Sleeps()
    await make_client(script, sleeps=sleeps).send("GET", "/x")
    assert sleeps.calls == [30.0]


async def test_retries_are_bounded_and_the_last_error_carries_retry_after():
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"}))
    sleeps = Sleeps()
    with pytest.raises(RateLimited) as info:
        await make_client(script, sleeps=sleeps, max_retries=2).send("DELETE", "/x")
    assert len(script.requests) == 3
    assert sleeps.calls == [2.0, 2.0]
    assert info.value.retry_after == 2.0
    assert info.value.message == "slow down"
    assert len({r.headers["x-idempotency-key"] for r in script.requests}) == 1


async def test_backoff_is_exponential_with_full_jitter_and_capped():
    script = Script(httpx.Response(503))
    sleeps = Sleeps()
    client = HttpClient(
        "https://h.test",
        transport=httpx.MockTransport(script),
        retry=RetryPolicy(max_retries=6, base_delay=0.5, max_delay=4.0),
        sleep=sleeps,
        random=lambda: 1.0,
    )
    with pytest.raises(Unavailable):
        await client.send("GET", "/x")
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    zero = Sleeps()
    client = HttpClient(
        "https://h.test", transport=httpx.MockTransport(script), sleep=zero, random=lambda: 0.0
    )
    with pytest.raises(Unavailable):
        await client.send("GET", "/x")
    assert zero.calls == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500])
async def test_other_statuses_are_not_retried(status):
    script = Script(httpx.Response(status, text="nope"))
    with pytest.raises(ProviderError):
        await make_client(script).send("POST", "/x")
    assert len(script.requests) == 1


async def test_connect_errors_are_retried_for_keyed_requests_with_the_same_key():
    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok_json({"vm_id": "v"}))
    response = await make_client(script).send("POST", "/x", json_body={})
    assert response.status_code == 200
    assert len({r.headers["x-idempotency-key"] for r in script.requests}) == 1
    assert len(script.requests) == 3


async def test_a_dropped_keep_alive_is_retried_for_keyed_posts_with_the_same_key():
    script = Script(httpx.ReadError("reset"), httpx.RemoteProtocolError("closed"), ok_json({"vm_id": "v"}))
    response = await make_client(script).send("POST", "/x", json_body={})
    assert response.status_code == 200
    assert len(script.requests) == 3
    assert len({r.headers["x-idempotency-key"] for r in script.requests}) == 1


async def test_read_timeout_retried_for_get_but_not_for_post():
    script = Script(httpx.ReadTimeout("slow"), ok_json())
    assert (await make_client(script).send("GET", "/x")).status_code == 200
    assert len(script.requests) == 2

    script = Script(httpx.ReadTimeout("slow"), ok_json())
    with pytest.raises(Unavailable, match="did not answer within 10 s"):
        await make_client(script).send("POST", "/x")
    assert len(script.requests) == 1


async def test_real_read_timeout_becomes_unavailable():
    """A real loopback server that accepts and never answers: the client gives up and hangs up."""
    hung_up = asyncio.Event()

    async def silent(reader, writer):
        await reader.read()  # returns when the client closes the connection
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", timeout=1.0, retry=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(Unavailable, match="did not answer within 1 s"):
            await client.send("POST", "/api/v1/vm/new_root", json_body={})
        await asyncio.wait_for(hung_up.wait(), 60)
    finally:
        server.close()
        await client.aclose()


async def test_real_connection_refused_becomes_unavailable_after_bounded_retries():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = HttpClient(
        f"http://127.0.0.1:{port}", token=TOKEN, sleep=sleeps, retry=RetryPolicy(max_retries=2)
    )
    with pytest.raises(Unavailable, match="cannot connect to 127.0.0.1") as info:
        await client.send("GET", "/api/v1/vms")
    await client.aclose()
    assert len(sleeps.calls) == 2
    assert TOKEN not in str(info.value)


ERROR_SHAPES = [
    (httpx.Response(404, json={"success": False, "error": "vm not found"}), NotFound, "vm not found"),
    (
        httpx.Response(401, json={"success": False, "error": "Invalid bearer token"}),
        AuthError,
        "Invalid bearer token",
    ),
    (httpx.Response(403, content=b"403 Forbidden"), AuthError, "403 Forbidden"),
    (httpx.Response(403), AuthError, "403 Forbidden"),
    (
        httpx.Response(403, json={"success": False, "error": "vCPU limit exceeded: org is using 4/4 vCPUs"}),
        QuotaExceeded,
        "vCPU limit exceeded: org is using 4/4 vCPUs",
    ),
    (
        httpx.Response(400, text="Failed to parse the request body as JSON: expected value"),
        BadRequest,
        "Failed to parse the request body as JSON: expected value",
    ),
    (
        httpx.Response(422, text="Failed to deserialize the JSON body into the target type: state"),
        BadRequest,
        "Failed to deserialize the JSON body into the target type: state",
    ),
    (
        httpx.Response(409, json={"success": False, "error": "commit still has 1 active VM(s)"}),
        Conflict,
        "commit still has 1 active VM(s)",
    ),
    (
        httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "field required"}]}),
        BadRequest,
        "field required",
    ),
    (httpx.Response(404, json={"detail": "User not found"}), NotFound, "User not found"),
    (httpx.Response(502, content=b""), Unavailable, "502 Bad Gateway"),
    (httpx.Response(500, json={"success": False}), Unavailable, "500 Internal Server Error"),
]


@pytest.mark.parametrize(("response", "cls", "message"), ERROR_SHAPES)
async def test_error_shapes_map_to_typed_errors_with_server_message(response, cls, message):
    with pytest.raises(cls) as info:
        await make_client(Script(response), max_retries=0).send("GET", "/x")
    assert type(info.value) is cls
    assert info.value.message == message
    assert info.value.status == response.status_code


async def test_error_message_is_a_short_escaped_snippet():
    body = "\x1b[31mboom\x07" + "x" * 1000
    with pytest.raises(BadRequest) as info:
        await make_client(Script(httpx.Response(400, text=body))).send("GET", "/x")
    assert "\x1b" not in info.value.message and "\\x1b[31mboom\\x07" in info.value.message
    assert len(info.value.message) <= 201


async def test_token_never_appears_in_errors_or_reprs():
    echoing = httpx.Response(401, json={"error": f"bad key {TOKEN}"})
    client = make_client(Script(echoing))
    with pytest.raises(AuthError) as info:
        await client.send("GET", "/x")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert "***" in info.value.message
    assert TOKEN not in repr(client)

    bad_json = httpx.Response(
        200, content=f'{{"oops": "{TOKEN}"'.encode(), headers={"content-type": "application/json"}
    )
    with pytest.raises(BadResponse) as info:
        await make_client(Script(bad_json)).send_json("GET", "/x")
    assert TOKEN not in str(info.value)


async def test_token_with_header_breaking_characters_is_refused_without_echoing_it():
    with pytest.raises(AuthError) as info:
        HttpClient("https://h.test", token="secret\r\nX-Evil: 1")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("url", ["ftp://h", "not a url", "", "http://"])
def test_bad_base_url_is_a_clear_error(url):
    with pytest.raises(BadRequest, match="not an http"):
        HttpClient(url)


def _response(content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.Response(200, content=content, headers=headers)


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"<html>maintenance</html>", "text/html", "expected JSON, got text/html: <html>maintenance</html>"),
        (b'{"a": 1}', None, "expected JSON, got no content type"),
        (b'{"vms": [', "application/json", "malformed JSON"),
        (b"\xff\xfe\x00garbage", "application/json", "malformed JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "malformed JSON"),
    ],
)
def test_decode_guard(content, content_type, fragment):
    with pytest.raises(BadResponse) as info:
        decode_json(_response(content, content_type))
    assert fragment in info.value.message
    assert len(info.value.message) < 400


def test_decode_accepts_json_content_types():
    assert decode_json(_response(b'{"a": [1]}', "application/json; charset=utf-8")) == {"a": [1]}
    assert decode_json(_response(b"[]", "application/problem+json")) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None), ("inf", None)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 42, usegmt=True), now=now) == 42.0
    assert parse_retry_after(email.utils.formatdate(now - 42, usegmt=True), now=now) == 0.0


def test_snippet_bounds_and_escapes():
    assert snippet("a\nb\x9bc") == "a\\x0ab\\x9bc"
    long = snippet("y" * 500)
    assert len(long) == 200 and long.endswith("…")


async def test_streamed_body_is_recreated_for_each_attempt():
    calls = []

    def body():
        calls.append(1)

        async def gen():
            yield b"hello "
            yield b"world"

        return gen()

    script = Script(httpx.Response(503), httpx.Response(204))
    await make_client(script).send("PUT", "/api/rootfs/x", body=body)
    assert script.bodies == [b"hello world", b"hello world"]
    assert len(calls) == 2


def _self_signed(tmp_path):
    """A CA-less self-signed certificate for 127.0.0.1 (key and cert files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_real_tls_with_a_ca_bundle_path_and_verification_failure(tmp_path):
    import ssl

    cert_path, key_path = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_path, key_path)

    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    trusting = HttpClient(url, verify=str(cert_path), token=TOKEN)
    default = HttpClient(url, retry=RetryPolicy(max_retries=0))
    try:
        assert await trusting.send_json("GET", "/health") == {"ok": True}
        with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await default.send("GET", "/health")
    finally:
        await trusting.aclose()
        await default.aclose()
        server.close()


def test_snippet_escapes_bidi_overrides_line_separators_and_surrogates():
    assert snippet("a\u202eb\u2028c\ud800d\u200be") == "a\\u202eb\\u2028c\\ud800d\\u200be"
    assert snippet("héllo wörld ✓ 日本") == "héllo wörld ✓ 日本"


async def test_real_truncated_body_becomes_unavailable_after_bounded_retries():
    served = []

    async def truncating(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        served.append(1)
        writer.write(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[{"vm_id":'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(truncating, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sleeps = Sleeps()
    client = HttpClient(f"http://127.0.0.1:{port}", sleep=sleeps, retry=RetryPolicy(max_retries=2))
    try:
        with pytest.raises(Unavailable, match="connection to 127.0.0.1 failed: RemoteProtocolError"):
            await client.send_json("GET", "/api/v1/vms")
    finally:
        await client.aclose()
        server.close()
    assert len(served) == 3 and len(sleeps.calls) == 2


async def test_token_never_reaches_the_logs_even_at_debug_level(caplog):
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    client = HttpClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", token=TOKEN)
    caplog.set_level("DEBUG")
    try:
        with pytest.raises(AuthError):
            await client.send("POST", "/api/v1/vm/new_root", json_body={"vm_config": {}})
    finally:
        await client.aclose()
        server.close()
    assert "/api/v1/vm/new_root" in caplog.text, "the request was logged"
    assert TOKEN not in caplog.text and TOKEN[:36] not in caplog.text


async def test_requests_over_a_real_connection_attempt_no_import():
    """httpcore asks `sniffio` which event loop runs on every pooled request; without it installed
    each ask was a failed import, a search of sys.path (~0.4 ms, 15 % of the lineage stream's CPU)."""

    async def answer(reader, writer):
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()

    attempted: list[str] = []

    class RecordImports:
        @staticmethod
        def find_spec(name, path=None, target=None):
            attempted.append(name)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=0))
    try:
        await client.send("GET", "/warm-up")  # the first request may import what it uses once
        sys.meta_path.insert(0, RecordImports)
        try:
            for _ in range(10):
                await client.send("GET", "/api/v1/vm/x/metadata")
        finally:
            sys.meta_path.remove(RecordImports)
    finally:
        await client.aclose()
        server.close()
    assert attempted == []
