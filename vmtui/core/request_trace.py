"""The HTTP requests one action made, for the action log's `curl` export.

`Actions` opens a trace around each change (`tracing()`); the HTTP client records every request it
sends while one is open (`record`). Secret fields of a JSON body are masked here, before the request
is kept anywhere, and the token never is: a traced request only says that it was authenticated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from vmtui.core.redact import MASK

STREAMED = "<binary upload>"

SECRET_FIELDS = frozenset({"value", "password", "token", "secret", "api_key", "private_key", "vars"})
"""Keys whose whole value is masked (`vars`: the env-var map of `PUT /env_vars`)."""
"""JSON body fields whose value is masked (a Swiftor secret's value, a desktop password)."""


@dataclass(frozen=True)
class TracedRequest:
    method: str
    url: str
    """Absolute URL with the query string."""
    body: str | None
    """JSON text with secret fields masked; `<binary upload>` for a streamed body; None without one."""
    status: int | None
    """The final status, None when the server was not reached."""
    auth_scheme: str | None
    """`Bearer`, … when the request carried the token; None without one."""


_CURRENT: ContextVar[list[TracedRequest] | None] = ContextVar("vmtui_request_trace", default=None)


@contextmanager
def tracing() -> Iterator[list[TracedRequest]]:
    """Collect the requests sent in this context (this task and those it starts) into the list."""
    requests: list[TracedRequest] = []
    token = _CURRENT.set(requests)
    try:
        yield requests
    finally:
        _CURRENT.reset(token)


@contextmanager
def paused() -> Iterator[None]:
    """Leave the requests of this block out of the trace (progress polling is not part of a change)."""
    token = _CURRENT.set(None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def mask_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_FIELDS else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def active() -> bool:
    """A trace is open here: callers skip building what `record` would keep (a URL per request)."""
    return _CURRENT.get() is not None


def record(
    method: str,
    url: str,
    *,
    json_body: Any,
    streamed: bool,
    status: int | None,
    auth_scheme: str | None,
) -> None:
    """Keep one sent request in the open trace (nothing when none is open)."""
    requests = _CURRENT.get()
    if requests is None:
        return
    if streamed:
        body: str | None = STREAMED
    elif json_body is not None:
        body = json.dumps(mask_secrets(json_body), separators=(",", ":"), sort_keys=True)
    else:
        body = None
    requests.append(TracedRequest(method, url, body, status, auth_scheme))
