"""Shared fixtures for tests of the local engine (tests/local)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from vmtui.local.sandbox import Sandbox, SandboxSpec


def make_spec(base: Path, name: str, **overrides: object) -> SandboxSpec:
    """A SandboxSpec for VM `name` with its directory under `base`."""
    values: dict = {
        "vm_id": f"test-{name}-{os.getpid()}",
        "vm_dir": base / name,
        "layers": [],
        "image": None,
        "hostname": f"vm-{name}",
        "env": {},
    }
    values.update(overrides)
    return SandboxSpec(**values)


@pytest_asyncio.fixture
async def boot_vm(tmp_path: Path) -> AsyncIterator[Callable]:
    """`await boot_vm(name, **spec_fields)` boots a VM that is destroyed after the test."""
    booted: list[Sandbox] = []

    async def boot(name: str, **overrides: object) -> Sandbox:
        sandbox = await Sandbox.boot(make_spec(tmp_path, name, **overrides))
        booted.append(sandbox)
        return sandbox

    yield boot
    for sandbox in booted:
        await sandbox.destroy()
