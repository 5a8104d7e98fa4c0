"""Entity tags for the list routes: unchanged lists cost a client nothing.

The tag is a hash of the response body, so it changes exactly when the bytes do (also for a state
the engine derives, such as `dead` when a VM's init vanished). A request whose `If-None-Match` names
it gets a bodiless 304.
"""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

NOT_MODIFIED = {304: {"description": "unchanged since the `ETag` named in `If-None-Match`"}}
"""The extra response of a route answered through `etagged` (for the OpenAPI)."""


def etagged(request: Request, body: bytes) -> Response:
    """`body` (JSON) with its `ETag`, or a 304 when the request already holds these bytes."""
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def _matches(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison: `*`, or any listed tag equal to ours with or without `W/`."""
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags
