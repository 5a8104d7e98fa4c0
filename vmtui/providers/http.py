"""Provider-neutral JSON-over-HTTP transport shared by every platform client.

What it gives a provider, so each provider only describes routes and wire shapes:

* `HttpClient.send(method, path, ...)` -> `httpx.Response` (2xx only). Every non-2xx answer and every
  transport failure becomes a `ProviderError` subclass (`vmtui.core.errors`) carrying the server's own
  message. Mutating requests (POST/PUT/PATCH/DELETE) carry an `X-Idempotency-Key` (uuid4) that is the
  same on every retry of that one call, so a retried create never happens twice on a server that honours it.
* Retries: statuses in `RetryPolicy.retry_statuses` (408/429/503) and connection failures (the request never
  reached the server) are retried up to `max_retries` times with exponential backoff and full jitter;
  a `Retry-After` header (seconds or HTTP date) replaces the backoff, capped at `max_retry_after`.
  Read timeouts and broken responses are retried only for GET/HEAD. `sleep` and `random` are injectable
  so tests neither sleep nor depend on chance.
* `HttpClient.send_json(...)` / `decode_json(response)`: JSON decode guard. A body that is not JSON, has the
  wrong content type, or is not UTF-8 becomes `BadResponse` with a short escaped snippet.
* `validate(adapter, data, what)`: pydantic validation of wire models; schema drift becomes `BadResponse`.
* `error_for_status(status, message, retry_after)`: the default status -> error class mapping; providers
  pass their own `error_factory` to refine it (see `ErrorFactory`).
* Helpers: `snippet` (bounded, escaped text for one UI line), `response_message` (the server's words from
  `{"error"}`, FastAPI `{"detail"}`, `{"message"}`, plain text or an empty body), `parse_retry_after`,
  `looks_like_quota`, `check_base_url`.

The bearer token is held as `SecretStr`, sent only in the Authorization header, and scrubbed from every
error message this module builds.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import math
import random as _random
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr, TypeAdapter, ValidationError

from vmtui import __version__
from vmtui.core import request_trace
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
from vmtui.core.redact import redact
from vmtui.core.text import one_line

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = f"vmtui/{__version__}"
SNIPPET_LIMIT = 200
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_METHODS = frozenset({"GET", "HEAD"})

ErrorFactory = Callable[[int, str, Any, "float | None"], ProviderError]
"""(status, message, decoded JSON body or None, retry_after seconds) -> the error to raise."""

BodyFactory = Callable[[], AsyncIterator[bytes]]
"""Returns a fresh async byte stream for each attempt (a streamed body cannot be replayed)."""

_QUOTA_WORDS = ("limit", "quota", "exceeded", "insufficient")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_DROPPED_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
"""The connection broke before an answer: no sign the request is still running there."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    retry_statuses: frozenset[int] = frozenset({408, 429, 503})


def snippet(text: str, limit: int = SNIPPET_LIMIT) -> str:
    """At most `limit` characters of `text`, safe for one UI line (unsafe characters shown escaped)."""
    return one_line(text, limit)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def looks_like_quota(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _QUOTA_WORDS)


def error_for_status(status: int, message: str, retry_after: float | None = None) -> ProviderError:
    """Default mapping of an HTTP status to the typed hierarchy."""
    if status == 401:
        return AuthError(message, status=status)
    if status == 403:
        cls = QuotaExceeded if looks_like_quota(message) else AuthError
        return cls(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if status == 409:
        return Conflict(message, status=status)
    if status == 429:
        return RateLimited(message, status=status, retry_after=retry_after)
    if status == 408 or status >= 500:
        return Unavailable(message, status=status, retry_after=retry_after)
    return BadRequest(message, status=status)


def _default_factory(status: int, message: str, body: Any, retry_after: float | None) -> ProviderError:
    return error_for_status(status, message, retry_after)


def response_message(response: httpx.Response) -> tuple[str, Any]:
    """The server's own words from an error response (unbounded: pass through `snippet` before showing),
    and the decoded JSON body (None if not JSON).

    Understands `{"error": ...}` (Vers), `{"detail": str | [{"msg": ...}]}` (FastAPI), `{"message": ...}`,
    plain text, and an empty body (falls back to "<status> <reason>").
    """
    text = response.content.decode("utf-8", errors="replace").strip()
    body: Any = None
    message = ""
    if text[:1] in ("{", "["):
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            body = None
    if isinstance(body, dict):
        message = _message_from_dict(body)
    if not message:
        message = text if body is None else ""
    if not message:
        message = f"{response.status_code} {response.reason_phrase}".strip()
    return message, body


def _message_from_dict(body: Mapping[str, Any]) -> str:
    for key in ("error", "detail", "message"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list):
            parts = [item.get("msg") for item in value if isinstance(item, dict)]
            joined = "; ".join(str(p) for p in parts if p)
            if joined:
                return joined
        if isinstance(value, dict):
            inner = _message_from_dict(value)
            if inner:
                return inner
    return ""


def decode_json(response: httpx.Response) -> Any:
    """Decode a success body as JSON, or raise `BadResponse` (wrong content type, not UTF-8, malformed)."""
    content_type = response.headers.get("content-type", "")
    raw = response.content
    if "json" not in content_type.lower():
        raise BadResponse(
            f"expected JSON, got {snippet(content_type, 60) or 'no content type'}: {_preview(raw)}",
            status=response.status_code,
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadResponse(
            f"malformed JSON ({snippet(str(exc), 80)}): {_preview(raw)}", status=response.status_code
        ) from None


def _preview(raw: bytes) -> str:
    return snippet(raw[: SNIPPET_LIMIT * 2].decode("utf-8", errors="replace"))


def validate(adapter: TypeAdapter[T], data: Any, what: str) -> T:
    """Validate decoded JSON against a wire model; drift becomes `BadResponse` naming the field."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "body"
        raise BadResponse(
            snippet(f"unexpected {what} response: {where}: {first.get('msg', 'invalid')}")
        ) from None
    except RecursionError:
        raise BadResponse(f"unexpected {what} response: nested too deeply") from None


def check_base_url(base_url: str) -> str:
    """The URL without a trailing slash, or `BadRequest` if it is not an absolute http(s) URL."""
    try:
        parsed = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadRequest(f"not an http(s) URL: {snippet(str(base_url), 80)!r}")
    return str(parsed).rstrip("/")


@functools.cache
def system_trust() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process: building it loads the CA bundle
    (~60 ms), which every new client would otherwise pay again (the local engine's health check and
    its provider are two clients on the TUI's way to its first rows)."""
    return httpx.create_ssl_context()


def make_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx `verify`: the shared system trust, False, or a CA bundle path turned into an SSL context."""
    if verify is True:
        return system_trust()
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise BadRequest(
            snippet(f"cannot use CA bundle {verify}: {getattr(exc, 'strerror', None) or exc}")
        ) from None


class HttpClient:
    """One platform's HTTP connection pool with auth, retries and error mapping (see module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | SecretStr | None = None,
        auth_scheme: str = "Bearer",
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        error_factory: ErrorFactory = _default_factory,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ):
        self.base_url = check_base_url(base_url)
        self._token = token if isinstance(token, SecretStr) or token is None else SecretStr(token)
        if self._token is not None and not _HEADER_SAFE.fullmatch(self._token.get_secret_value()):
            raise AuthError("the API key/token is empty or contains characters not allowed in an HTTP header")
        self._auth_scheme = auth_scheme
        self.retry = retry
        self.timeout = timeout
        self._error_factory = error_factory
        self._sleep = sleep
        self._random = random
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            verify=make_verify(verify),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json_body: Any = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send one request with retries; return the 2xx response or raise a `ProviderError`.

        `retries` overrides the policy's count (0: a caller with its own request budget sees every 429);
        `accept` names non-2xx statuses returned as they are (e.g. 304 to `If-None-Match`)."""
        method = method.upper()
        request_headers = dict(headers or {})
        if self._token is not None:
            request_headers["Authorization"] = f"{self._auth_scheme} {self._token.get_secret_value()}"
        if method in MUTATING_METHODS:
            request_headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        query = {k: _query_value(v) for k, v in (params or {}).items()}
        request_timeout = httpx.Timeout(timeout if timeout is not None else self.timeout)
        max_retries = self.retry.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                response = await self._client.request(
                    method,
                    path,
                    params=query or None,
                    json=json_body,
                    content=body() if body is not None else None,
                    headers=request_headers,
                    timeout=request_timeout,
                )
            except httpx.HTTPError as exc:
                # A dropped connection (say a keep-alive the server closed as we reused it) is
                # retried when repeating is harmless: a safe method, or one with its idempotency key.
                # A timed-out write is not repeated (it may still be running there).
                retryable = (
                    isinstance(exc, _CONNECT_ERRORS)
                    or (method in SAFE_METHODS and isinstance(exc, httpx.TransportError))
                    or (IDEMPOTENCY_HEADER in request_headers and isinstance(exc, _DROPPED_ERRORS))
                )
                if retryable and attempt < max_retries:
                    await self._sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                self._trace(method, path, query, json_body, body, None)
                raise self._transport_error(exc, request_timeout) from None
            log.debug("%s %s -> %s (attempt %d)", method, path, response.status_code, attempt + 1)
            if response.is_success or response.status_code in accept:
                self._trace(method, path, query, json_body, body, response.status_code)
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if response.status_code in self.retry.retry_statuses and attempt < max_retries:
                await response.aclose()
                await self._sleep(self._backoff(attempt, retry_after))
                attempt += 1
                continue
            self._trace(method, path, query, json_body, body, response.status_code)
            raise self._status_error(response, retry_after)

    def _trace(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        json_body: Any,
        body: BodyFactory | None,
        status: int | None,
    ) -> None:
        """Keep the request in the action log's trace, if an action opened one."""
        if not request_trace.active():
            return  # the common case (polls, the lineage stream): no URL to build
        url = self._client.build_request(method, path, params=query or None).url
        request_trace.record(
            method,
            str(url),
            json_body=json_body,
            streamed=body is not None,
            status=status,
            auth_scheme=self._auth_scheme if self._token is not None else None,
        )

    async def stream_lines(
        self,
        path: str,
        *,
        read_timeout: float | None,
        method: str = "GET",
        json_body: Any = None,
        accept: str = "text/event-stream",
    ) -> AsyncIterator[str]:
        """Send one request for a long-lived text response (an event stream, NDJSON) and yield its lines
        as they arrive (`read_timeout` None: wait for output as long as it takes). No retries: when it
        ends or breaks (a `ProviderError`), the caller decides when to reconnect or re-attach."""
        headers = {"Accept": accept}
        if self._token is not None:
            headers["Authorization"] = f"{self._auth_scheme} {self._token.get_secret_value()}"
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            async with self._client.stream(
                method, path, json=json_body, headers=headers, timeout=timeout
            ) as response:
                self._trace(method, path, {}, json_body, None, response.status_code)
                if not response.is_success:
                    await response.aread()
                    raise self._status_error(response, parse_retry_after(response.headers.get("retry-after")))
                async for line in response.aiter_lines():
                    yield line
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, timeout) from None

    async def send_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`send` then `decode`."""
        return self.decode(await self.send(method, path, **kwargs))

    def decode(self, response: httpx.Response) -> Any:
        """`decode_json` with the token scrubbed from any snippet."""
        try:
            return decode_json(response)
        except BadResponse as exc:
            raise BadResponse(self._redact(exc.message), status=exc.status) from None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry.max_retry_after)
        ceiling = min(self.retry.max_delay, self.retry.base_delay * (2.0**attempt))
        return self._random() * ceiling

    def _status_error(self, response: httpx.Response, retry_after: float | None) -> ProviderError:
        message, body = response_message(response)
        return self._error_factory(response.status_code, snippet(self._redact(message)), body, retry_after)

    def _transport_error(self, exc: httpx.HTTPError, timeout: httpx.Timeout) -> ProviderError:
        host = self._client.base_url.host
        if isinstance(exc, httpx.TimeoutException):
            seconds = timeout.read if isinstance(exc, httpx.ReadTimeout) else timeout.connect
            what = "did not answer" if isinstance(exc, httpx.ReadTimeout) else "could not be reached"
            return Unavailable(f"{host} {what} within {seconds:g} s")
        if isinstance(exc, httpx.ConnectError):
            return Unavailable(snippet(self._redact(f"cannot connect to {host}: {exc}")))
        return Unavailable(snippet(self._redact(f"connection to {host} failed: {type(exc).__name__}: {exc}")))

    def _redact(self, text: str) -> str:
        if self._token is None:
            return text
        return redact(text, [self._token.get_secret_value()])


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
