"""Shared fixtures of the security tests: a real engine in a temp state dir behind its in-process API,
and real VMs (root only) with the real SSH gateway in front of them."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.ssh_helpers import GatewayBackend, GatewayProvider
from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.local.sandbox import Sandbox, SandboxSpec
from vmtui.local.sshd import Gateway, start_gateway
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession

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


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("needs root (namespaces, overlayfs, cgroups)")


@pytest_asyncio.fixture
async def boot_vm(tmp_path: Path) -> AsyncIterator[Callable]:
    """`await boot_vm(name, **spec_fields)` boots a VM that is destroyed after the test."""
    booted: list[Sandbox] = []

    async def boot(name: str, **overrides: object) -> Sandbox:
        values: dict = {
            "vm_id": f"sec-{name}-{os.getpid()}",
            "vm_dir": tmp_path / "vms" / name,
            "layers": [],
            "image": None,
            "hostname": f"vm-{name}",
            "env": {},
        }
        sandbox = await Sandbox.boot(SandboxSpec(**{**values, **overrides}))
        booted.append(sandbox)
        return sandbox

    yield boot
    for sandbox in booted:
        await sandbox.destroy()


class GatewayFixture:
    """A running gateway and the VMs it serves."""

    def __init__(self, gateway: Gateway, backend: GatewayBackend, known_hosts: TofuKnownHosts):
        self.gateway = gateway
        self.backend = backend
        self.known_hosts = known_hosts

    def connect(self, sandbox: Sandbox) -> SshSession:
        """An SshSession (use as `async with`) to `sandbox`, registered with the gateway on first use."""
        if sandbox.spec.vm_id not in self.backend.keys:
            self.backend.add(sandbox)
        provider = GatewayProvider(self.gateway, self.backend.keys[sandbox.spec.vm_id])
        return SshSession(provider, sandbox.spec.vm_id, known_hosts=self.known_hosts)


@pytest_asyncio.fixture
async def ssh_gateway(tmp_path: Path) -> AsyncIterator[GatewayFixture]:
    """The real SSH-over-TLS gateway; `ssh_gateway.connect(sandbox)` opens an SshSession to a VM."""
    backend = GatewayBackend()
    gateway = await start_gateway(backend, tmp_path / "engine", "127.0.0.1", 0)
    try:
        yield GatewayFixture(gateway, backend, TofuKnownHosts(tmp_path / "known_hosts"))
    finally:
        await gateway.close()
