"""Write files with known content into a VM through the API and read their hashes back."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx

API = "/api/v1"


def exec_in(client: httpx.Client, vm_id: str, script: str, stdin: str | None = None) -> dict:
    """Run `sh -c script` in the VM; the answer must be a successful exec."""
    body: dict = {"command": ["sh", "-c", script]}
    if stdin is not None:
        body["stdin"] = stdin
    response = client.post(f"{API}/vm/{vm_id}/exec", json=body)
    assert response.status_code == 200, f"exec in {vm_id}: {response.status_code} {response.text}"
    return response.json()


def write_random_file(client: httpx.Client, vm_id: str, path: str, size: int = 64 * 1024) -> str:
    """Write `size` random bytes to `path` inside the VM; returns their sha256 (computed here)."""
    data = os.urandom(size)
    result = exec_in(client, vm_id, f"base64 -d > {path} && sync", stdin=base64.b64encode(data).decode())
    assert result["exit_code"] == 0, result
    return hashlib.sha256(data).hexdigest()


def hashes_in(client: httpx.Client, vm_id: str, paths: list[str]) -> dict[str, str]:
    """sha256 of each path as the VM sees it ("missing" for a file that is not there)."""
    if not paths:
        return {}
    script = "; ".join(f"sha256sum {p} 2>/dev/null || echo missing {p}" for p in paths)
    out = exec_in(client, vm_id, script)["stdout"]
    found = {}
    for line in out.splitlines():
        digest, path = line.split(maxsplit=1)
        found[path.strip()] = digest
    return found
