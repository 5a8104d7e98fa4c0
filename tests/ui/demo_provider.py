"""An in-memory provider with a fixed clock for UI tests and the snapshot tests (never shipped).

It behaves like a small Vers account (branch, commit, restore, pause, images in use) but keeps
everything in dictionaries, so the UI can be shown and tested deterministically without a server.
`fail` injects a provider error for one method name (the error states of the UI).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmtui.core.errors import Conflict, NotFound, ProviderError
from vmtui.core.models import Capabilities, Commit, CommitTag, Image, Vm, VmConfig, VmSpecs, VmState
from vmtui.providers.base import ProgressCallback, Provider

DEMO_NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


class DemoProvider(Provider):
    kind = "demo"
    capabilities = Capabilities(
        can_branch=True,
        can_commit=True,
        can_restore=True,
        can_pause=True,
        has_ssh=True,
        has_images=True,
        has_tags=True,
    )

    def __init__(
        self,
        name: str = "local",
        *,
        vms: list[Vm] | None = None,
        commits: list[Commit] | None = None,
        images: list[Image] | None = None,
        tags: list[CommitTag] | None = None,
    ):
        super().__init__(name)
        self.vms: dict[str, Vm] = {vm.id: vm for vm in vms or []}
        self.commits: dict[str, Commit] = {c.id: c for c in commits or []}
        self.images: dict[str, Image] = {i.name: i for i in images or [Image(name="default", size_bytes=0)]}
        self.tags: dict[str, CommitTag] = {t.name: t for t in tags or []}
        self.fail: dict[str, ProviderError] = {}
        self.calls: list[tuple[str, tuple]] = []
        self._serial = 0

    def _enter(self, method: str, *args: object) -> None:
        self.calls.append((method, args))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial:04d}"

    def _created(self) -> datetime:
        return DEMO_NOW + timedelta(seconds=self._serial)

    def _vm(self, vm_id: str) -> Vm:
        try:
            return self.vms[vm_id]
        except KeyError:
            raise NotFound(f"VM {vm_id} not found", status=404) from None

    async def list_vms(self) -> list[Vm]:
        self._enter("list_vms")
        return list(self.vms.values())

    async def list_commits(self) -> list[Commit]:
        return list(self.commits.values())

    async def commit_parents(self, commit_id: str) -> list[Commit]:
        self._enter("commit_parents", commit_id)
        chain: list[Commit] = []
        while commit_id in self.commits and all(c.id != commit_id for c in chain):
            chain.append(self.commits[commit_id])
            parent_vm = self.vms.get(self.commits[commit_id].parent_vm_id or "")
            commit_id = parent_vm.parent_commit_id or "" if parent_vm else ""
        return chain

    async def list_tags(self) -> list[CommitTag]:
        return list(self.tags.values())

    async def create_tag(self, name: str, commit_id: str, description: str | None = None) -> None:
        self._enter("create_tag", name, commit_id, description)
        tag = CommitTag(provider=self.name, name=name, commit_id=commit_id, description=description)
        self.tags[name] = tag

    async def move_tag(self, name: str, commit_id: str) -> None:
        self._enter("move_tag", name, commit_id)
        self.tags[name] = self.tags[name].model_copy(update={"commit_id": commit_id})

    async def delete_tag(self, name: str) -> None:
        self._enter("delete_tag", name)
        del self.tags[name]

    async def branch_tag(self, name: str, count: int = 1) -> list[str]:
        self._enter("branch_tag", name, count)
        return [await self._start_from(self.tags[name].commit_id) for _ in range(count)]

    async def branch_commit(self, commit_id: str, count: int = 1) -> list[str]:
        self._enter("branch_commit", commit_id, count)
        return [await self._start_from(commit_id) for _ in range(count)]

    async def get_vm(self, vm_id: str) -> Vm:
        self._enter("get_vm", vm_id)
        return self._vm(vm_id)

    async def create_vm(self, config: VmConfig, *, wait_boot: bool = False) -> str:
        self._enter("create_vm", config, wait_boot)
        if config.image_name and config.image_name not in self.images:
            raise NotFound(f"image '{config.image_name}' does not exist", status=404)
        vm_id = self._next_id("vm")
        specs = VmSpecs(
            vcpu_count=config.vcpu_count or 1,
            mem_size_mib=config.mem_size_mib or 512,
            fs_size_mib=config.fs_size_mib or 1024,
        )
        self.vms[vm_id] = Vm(
            provider=self.name,
            provider_kind=self.kind,
            id=vm_id,
            state=VmState.RUNNING,
            created_at=self._created(),
            labels=config.labels or {},
            image=config.image_name or "default",
            specs=specs,
        )
        return vm_id

    async def delete_vm(self, vm_id: str) -> None:
        self._enter("delete_vm", vm_id)
        self._vm(vm_id)
        del self.vms[vm_id]

    async def pause_vm(self, vm_id: str) -> None:
        self._enter("pause_vm", vm_id)
        self.vms[vm_id] = self._vm(vm_id).model_copy(update={"state": VmState.PAUSED})

    async def resume_vm(self, vm_id: str) -> None:
        self._enter("resume_vm", vm_id)
        self.vms[vm_id] = self._vm(vm_id).model_copy(update={"state": VmState.RUNNING})

    async def commit(
        self,
        vm_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        keep_paused: bool = False,
    ) -> str:
        self._enter("commit", vm_id, name, description)
        source = self._vm(vm_id)
        commit_id = self._next_id("c")
        self.commits[commit_id] = Commit(
            provider=self.name,
            id=commit_id,
            name=name,
            description=description,
            created_at=self._created(),
            parent_vm_id=source.id,
        )
        return commit_id

    async def branch(self, source_id: str, count: int = 1) -> list[str]:
        self._enter("branch", source_id, count)
        if source_id in self.commits:
            commit_id = source_id
        else:
            commit_id = await self.commit(source_id)
        return [await self._start_from(commit_id) for _ in range(count)]

    async def restore(self, commit_id: str) -> str:
        self._enter("restore", commit_id)
        if commit_id not in self.commits:
            raise NotFound(f"commit {commit_id} not found", status=404)
        return await self._start_from(commit_id)

    async def _start_from(self, commit_id: str) -> str:
        parent = self.commits[commit_id]
        source = self.vms.get(parent.parent_vm_id or "")
        vm_id = self._next_id("vm")
        self.vms[vm_id] = Vm(
            provider=self.name,
            provider_kind=self.kind,
            id=vm_id,
            state=VmState.RUNNING,
            created_at=self._created(),
            parent_commit_id=commit_id,
            grandparent_vm_id=parent.parent_vm_id,
            image=source.image if source else None,
            specs=source.specs if source else VmSpecs(),
        )
        return vm_id

    async def list_images(self) -> list[Image]:
        self._enter("list_images")
        in_use: dict[str, int] = {}
        for vm in self.vms.values():
            in_use[vm.image or ""] = in_use.get(vm.image or "", 0) + 1
        return [
            image.model_copy(update={"in_use": in_use.get(image.name, 0)}) for image in self.images.values()
        ]

    async def upload_image(self, name: str, tarball: Path, progress: ProgressCallback | None = None) -> None:
        self._enter("upload_image", name, tarball)
        total = tarball.stat().st_size
        if progress is not None:
            progress(total, total)
        self.images[name] = Image(name=name, size_bytes=total, created_at=self._created())

    async def delete_image(self, name: str) -> None:
        self._enter("delete_image", name)
        users = [vm.id for vm in self.vms.values() if vm.image == name]
        if users:
            raise Conflict(f"image '{name}' is in use by {len(users)} VM(s): {', '.join(users)}", status=409)
        if name not in self.images:
            raise NotFound(f"image '{name}' not found", status=404)
        del self.images[name]


def demo_provider(name: str = "local") -> DemoProvider:
    """A small account with a lineage worth looking at: a root, commits, branches, a paused VM."""

    def at(minutes: int) -> datetime:
        return DEMO_NOW - timedelta(minutes=minutes)

    specs = VmSpecs(vcpu_count=2, mem_size_mib=2048, fs_size_mib=8192)
    vms = [
        Vm(
            provider=name,
            provider_kind="demo",
            id="vm-3f2a91c0",
            label="build-base",
            state=VmState.RUNNING,
            created_at=at(300),
            labels={"env": "dev", "team": "infra"},
            image="default",
            specs=specs,
            ip="10.42.0.2",
        ),
        Vm(
            provider=name,
            provider_kind="demo",
            id="vm-8c1d77e4",
            label="ci-runner-a",
            state=VmState.RUNNING,
            created_at=at(120),
            parent_commit_id="c-5b0e3d12",
            grandparent_vm_id="vm-3f2a91c0",
            labels={"env": "ci"},
            image="default",
            specs=specs,
            ip="10.42.0.3",
        ),
        Vm(
            provider=name,
            provider_kind="demo",
            id="vm-a90b2f6d",
            label="ci-runner-b",
            state=VmState.PAUSED,
            created_at=at(118),
            parent_commit_id="c-5b0e3d12",
            grandparent_vm_id="vm-3f2a91c0",
            labels={"env": "ci"},
            image="default",
            specs=specs,
            ip="10.42.0.4",
        ),
        Vm(
            provider=name,
            provider_kind="demo",
            id="vm-d4e6f801",
            label="experiment",
            state=VmState.BOOTING,
            created_at=at(1),
            parent_commit_id="c-91aa04be",
            grandparent_vm_id="vm-8c1d77e4",
            image="default",
            specs=specs,
        ),
        Vm(
            provider=name,
            provider_kind="demo",
            id="vm-17c0ffee",
            state=VmState.DEAD,
            created_at=at(2900),
            labels={"note": "crashed"},
            image="alpine",
            specs=VmSpecs(vcpu_count=1, mem_size_mib=512),
        ),
    ]
    commits = [
        Commit(
            provider=name,
            id="c-5b0e3d12",
            name="toolchain installed",
            created_at=at(200),
            parent_vm_id="vm-3f2a91c0",
        ),
        Commit(
            provider=name,
            id="c-91aa04be",
            name="tests green",
            description="after fixing flaky test",
            created_at=at(30),
            parent_vm_id="vm-8c1d77e4",
        ),
    ]
    images = [
        Image(name="default", size_bytes=0, created_at=at(5000)),
        Image(name="alpine", size_bytes=3_407_872, created_at=at(4000)),
        Image(name="debian-12", size_bytes=52_428_800, created_at=at(3000)),
    ]
    tags = [CommitTag(provider=name, name="stable", commit_id="c-5b0e3d12", created_at=at(100))]
    return DemoProvider(name, vms=vms, commits=commits, images=images, tags=tags)
