"""Helpers shared by the SSH tests (client, gateway, terminal transport)."""

from __future__ import annotations

import asyncio


async def read_until(shell, marker: bytes, timeout: float = 120) -> bytes:
    """Output of an `SshShell` up to and including `marker`; fails if the shell closes first."""
    seen = b""

    async def collect() -> None:
        nonlocal seen
        while marker not in seen:
            chunk = await shell.read()
            assert chunk, f"shell closed before {marker!r}; got {seen!r}"
            seen += chunk

    await asyncio.wait_for(collect(), timeout)
    return seen
