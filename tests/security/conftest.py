"""Shared fixtures of the security tests: a real engine in a temp state dir behind its in-process API."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine

TOKEN = "security-token-" + "x" * 32
V1 = "/api/v1"


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(tmp_path / "state")
    await engine.start()
    yield engine
    for vm in engine.db.list_vms(all_owners=True, phases=("ready",)):
        await engine.delete_vm(vm.id, owner=vm.owner)
    await engine.close()


@pytest_asyncio.fixture
async def api(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://engine.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    ) as client:
        yield client


def tarball(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A gzipped tar archive of exactly these members (data None: no content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info


async def sh(api: httpx.AsyncClient, vm_id: str, script: str) -> dict:
    """Run `sh -c script` in a VM through the API; the request itself must succeed."""
    answer = await api.post(f"{V1}/vm/{vm_id}/exec", json={"command": ["sh", "-c", script]})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def new_vm(api: httpx.AsyncClient, **config: object) -> str:
    answer = await api.post(f"{V1}/vm/new_root?wait_boot=true", json={"vm_config": config})
    assert answer.status_code == 201, answer.text
    return answer.json()["vm_id"]


def upper_root(vm_dir: Path) -> Path:
    """The VM's writable root layer on the host (disk/upper/root; upper/root before disk quotas)."""
    return next(p for p in (vm_dir / "disk/upper/root", vm_dir / "upper/root") if p.is_dir())
