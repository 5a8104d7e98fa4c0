"""The local engine: VMs, commits and images on top of sandboxes and the SQLite store.

Layout of a state dir::

    engine.db            SQLite (WAL): VMs, commits, images, idempotency records
    vms/<vm_id>/         a VM's own directory (writable layer, mounts) owned by the sandbox
    layers/<commit_id>/  immutable layer captured by a commit
    images/default/      the default image, built once from the host at first start
    images/<name>/       uploaded root filesystems
    tmp/                 scratch space, emptied at every start
    disk-templates/      one empty ext4 image per VM disk size, copied for each new VM
    reserve.ballast      preallocated room given back when the disk fills up (see diskspace.py)

Capacity: each VM's writable layer lives on its own disk of `fs_size_mib` (vmdisk.py); below a
free-space reserve the engine refuses new VMs, commits and uploads with a 507 (diskspace.py); and at
most `max_running_vms` VMs of at most `pids_per_vm` processes run at once, all of them together held
below the host's pid_max and threads-max by their parent cgroup (cgroups.vm_pid_budget; a start
beyond the cap is a 429 with Retry-After).

A commit stacks: its layer chain is its own captured layer followed by the chain of the commit
the VM started from, so a VM started from a commit sees exactly the files at commit time.
Layers are removed only when no commit or live VM stacks on them any more.

Errors are the typed errors of `vmtui.core.errors`; the HTTP layer turns them into status codes.
Public async methods are also the seam other front ends (the Swiftor API) build on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from vmtui.core.errors import BadRequest, Conflict, NotFound, ProviderError, Unavailable
from vmtui.local import images
from vmtui.local.catalog import Catalog
from vmtui.local.cgroups import vm_pid_budget
from vmtui.local.changes import ChangeFeed
from vmtui.local.diskspace import NoSpace, StateReserve
from vmtui.local.exec_journal import ExecJournal
from vmtui.local.layer_diff import Chain, LayerDiff
from vmtui.local.orphans import find_orphan_vms, hostname_of_vm
from vmtui.local.sandbox import Sandbox, SandboxError, SandboxSpec, StorageFull, rootless
from vmtui.local.store import CommitRecord, ImageRecord, Store, VmRecord, utc_now
from vmtui.local.vmdisk import DiskError, VmDisk

log = logging.getLogger("vmtui.local.engine")

DEFAULT_IMAGE = "default"
IMAGE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_MAX_UPLOAD_BYTES = 4 * 1024**3
BRANCH_MAX = 255
"""Vers takes `count` as a u8."""
BRANCH_PARALLELISM = 4
"""VMs of one branch booted at once (each boot is mostly waiting for processes to start)."""
_RECOVERY_PARALLELISM = 4
_KILL_GRACE_SECONDS = 5.0
_EARLY_BOOT_FAILURE_SECONDS = 0.05
"""How long a non-waiting create watches its boot: checks of the host fail well within this."""
VM_ADDRESS = "127.0.0.1"
"""What the API reports as a VM's `ip`: its only interface is the loopback of its own network namespace
(VMs have no network; SSH, exec and mapped ports reach it through that namespace)."""
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
ENV_VALUE_MAX = 8192
FS_SIZE_MIN_MIB = 16
DIFF_PARALLELISM = 2
"""File diffs computed at once (each walks layers in a thread and holds up to MAX_ENTRIES paths)."""
CAPACITY_RETRY_SECONDS = 2.0
T = TypeVar("T")
"""Retry-After of a start refused because the engine runs as many VMs as the host's pids allow."""


class BranchFailed(Exception):
    """A branch that started some VMs and then failed: the caller reports both."""

    def __init__(self, created: list[VmRecord], error: Exception):
        super().__init__(str(error))
        self.created = created
        self.error = error


class Engine:
    """Owns the sandboxes of one state dir. Create with `Engine(state_dir)`, then `await start()`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        reserve_bytes: int | None = None,
    ):
        self.state_dir = state_dir
        self.max_upload_bytes = max_upload_bytes
        self._reserve_bytes = reserve_bytes
        self._reserve: StateReserve | None = None
        self.pids_per_vm, self.max_running_vms, _ = vm_pid_budget()
        self._booting: set[str] = set()
        self.ssh_port: int | None = None
        """Set by the daemon once the SSH gateway listens; reported by `GET /vm/{id}/ssh_key`."""
        self.store: Store | None = None
        self._catalog: Catalog | None = None
        self.changes = ChangeFeed()
        """Every stored change of a VM or commit, for `GET /events` subscribers."""
        self.exec_journal = ExecJournal(state_dir / "exec_logs")
        """Exec sessions that outlive their stream (attach by exec_id) and each VM's exec log."""
        self._sandboxes: dict[str, Sandbox] = {}
        self._boot_tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._owner_id = ""
        self._created_at = ""
        self._default_image: Path | None = None
        self._default_image_size = 0
        self._pending_layers: set[str] = set()
        """Layers being captured or not yet recorded: the layer collector must leave them alone."""
        self._diffs = asyncio.Semaphore(DIFF_PARALLELISM)
        self._diff_layers: collections.Counter[str] = collections.Counter()
        """Layers a diff is reading: the layer collector leaves them alone."""
        self._launching: collections.Counter[str] = collections.Counter()
        """Commits with branch VMs still waiting to start."""
        self._listed: dict[str | None, tuple[Store, int, list[VmRecord]]] = {}
        """Per owner: the last VM list and the store and table generation it was read at."""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and bring the state dir back to a consistent picture (see `_recover`)."""
        for sub in ("vms", "layers", "images", "tmp"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self._reserve = StateReserve(self.state_dir, self._reserve_bytes)
        self._room.give_back()
        self.store = Store(self.state_dir / "engine.db")
        self.store.on_change = self.changes.publish
        self._catalog = Catalog(self.state_dir / "engine.db")
        self._owner_id = self.store.owner_id()
        self._created_at = self.store.created_at()
        await self._build_default_image()
        await self._recover()
        self._room.refill()
        if not rootless():  # only a root engine's VMs have loop devices (`orphans`)
            for orphan in await asyncio.to_thread(find_orphan_vms):
                log.warning(orphan.warning())

    async def close(self) -> None:
        """Stop serving. Running VMs keep running; a later `start()` adopts them."""
        self.changes.close()
        await self.exec_journal.close()
        tasks = list(self._boot_tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    @property
    def owner_id(self) -> str:
        return self._owner_id

    @property
    def created_at(self) -> str:
        """When the state dir was first started (the built-in image and the account date from it)."""
        return self._created_at

    @property
    def db(self) -> Store:
        if self.store is None:
            raise Unavailable("engine is not started")
        return self.store

    @property
    def catalog(self) -> Catalog:
        """Commit tags, repositories and domains (today's Vers API)."""
        if self._catalog is None:
            raise Unavailable("engine is not started")
        return self._catalog

    # -- queries ------------------------------------------------------------------------------

    def list_vms(self, owner: str | None = None) -> list[VmRecord]:
        """Listed VMs of one owner (None = the Vers API's own VMs), oldest first. Kept between calls
        while the VM table is unchanged, so polling a big fleet reads no rows; do not modify them."""
        store = self.db
        generation = store.vms_generation  # read first: a write during the read makes the next call reread
        kept = self._listed.get(owner)
        if kept is None or kept[0] is not store or kept[1] != generation:
            kept = (store, generation, store.list_vms(owner=owner))
            self._listed[owner] = kept
        return list(kept[2])

    def get_vm(self, vm_id: str, owner: str | None = None) -> VmRecord:
        vm = self.db.get_vm(vm_id)
        if vm is None or vm.phase != "ready" or vm.owner != owner:
            raise NotFound("vm not found")
        return vm

    def vm_state(self, vm: VmRecord) -> str:
        """The state to report: the recorded one, or `dead` when its init vanished."""
        if vm.state in ("running", "paused") and vm.id not in self._boot_tasks:
            sandbox = self._sandboxes.get(vm.id)
            if sandbox is None or not sandbox.running:
                return "dead"
        return vm.state

    def enforced_limits(self, vm_id: str) -> list[str] | None:
        """Which resource limits ("cpu", "memory", "pids", "freeze") the host really applies to a
        live VM; None when the VM has no sandbox now. Limits not listed are recorded, not enforced."""
        sandbox = self._sandboxes.get(vm_id)
        return sorted(sandbox.enforced) if sandbox is not None else None

    def vm_usage(self, vm_id: str, owner: str | None = None) -> tuple[int | None, int | None]:
        """(CPU microseconds used, memory bytes in use) of a VM's cgroup; (None, None) when the VM
        has no sandbox now (stopped, dead) or the host accounts neither."""
        self.get_vm(vm_id, owner)
        sandbox = self._sandboxes.get(vm_id)
        return sandbox.cgroup.usage() if sandbox is not None else (None, None)

    def get_commit(self, commit_id: str, owner: str | None = None) -> CommitRecord:
        commit = self.db.get_commit(commit_id)
        if commit is None or commit.owner != owner:
            raise NotFound("commit not found")
        return commit

    def list_commits(
        self, *, owner: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[CommitRecord], int]:
        return self.db.list_commits(owner=owner, limit=limit, offset=offset)

    def commit_parents(self, commit_id: str, owner: str | None = None) -> list[CommitRecord]:
        """The commit and its ancestors up to the root (skipping deleted ones)."""
        chain = [self.get_commit(commit_id, owner)]
        seen = {commit_id}
        next_id = chain[0].grandparent_commit_id
        while next_id and next_id not in seen:
            seen.add(next_id)
            parent = self.db.get_commit(next_id)
            if parent is None:
                break
            chain.append(parent)
            next_id = parent.grandparent_commit_id
        return chain

    def ssh_private_key(self, vm_id: str, owner: str | None = None) -> str:
        return self.get_vm(vm_id, owner).ssh_private_key

    def ssh_public_key(self, vm_id: str) -> str:
        """The OpenSSH public key the SSH gateway accepts for this VM (any owner)."""
        vm = self.db.get_vm(vm_id)
        if vm is None or vm.phase != "ready":
            raise NotFound("vm not found")
        return vm.ssh_public_key

    async def sandbox_for(self, vm_id: str) -> Sandbox:
        """The live sandbox of a VM (any owner), waiting for a boot, commit or pause in progress.

        Raises NotFound for unknown/deleted VMs and Conflict for paused, stopped or dead ones."""
        vm = self.db.get_vm(vm_id)
        if vm is None or vm.phase != "ready":
            raise NotFound("vm not found")
        async with self._lock(vm_id):  # let a commit or pause in progress finish first
            await self._wait_booted(vm_id)
            vm = self.db.get_vm(vm_id)
        if vm is None or vm.phase != "ready":
            raise NotFound("vm not found")
        state = self.vm_state(vm)
        if state != "running":
            raise Conflict(f"vm is {state}, not running")
        return self._sandboxes[vm_id]

    # -- VM lifecycle -------------------------------------------------------------------------

    async def create_vm(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        vcpu_count: int = 1,
        mem_size_mib: int = 512,
        fs_size_mib: int = 1024,
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
        owner: str | None = None,
        wait_boot: bool = True,
    ) -> VmRecord:
        """Create a VM on an image. `start=False` leaves it `stopped`; `wait_boot=False` returns
        at once with the VM `booting` while it boots in the background."""
        self._image_spec_path(image)
        if fs_size_mib < FS_SIZE_MIN_MIB:
            raise BadRequest(f"fs_size_mib must be at least {FS_SIZE_MIN_MIB}")
        vm = self._new_vm_record(
            owner=owner,
            image=image,
            labels=labels or {},
            env=self._env_for(owner, env),
            vcpu_count=vcpu_count,
            mem_size_mib=mem_size_mib,
            fs_size_mib=fs_size_mib,
        )
        return await self._launch(vm, start=start, wait_boot=wait_boot)

    async def from_commit(
        self, commit_id: str, *, owner: str | None = None, env: dict[str, str] | None = None
    ) -> VmRecord:
        """Start a fresh VM on a commit's filesystem (memory is not captured: it boots fresh)."""
        commit = self.get_commit(commit_id, owner)
        return await self._launch(
            self._vm_from_commit(commit, owner, self._env_for(owner, env)), start=True, wait_boot=True
        )

    async def branch(
        self,
        source_id: str,
        count: int = 1,
        *,
        keep_paused: bool = False,
        owner: str | None = None,
        source_kind: str = "any",
    ) -> list[VmRecord]:
        """Start `count` VMs from a VM (committing it first) or from a commit.

        `source_kind` is "vm", "commit", or "any" (look the id up as a VM, then as a commit)."""
        if not 0 <= count <= BRANCH_MAX:
            raise BadRequest(f"count must be between 0 and {BRANCH_MAX}")
        vm = self.db.get_vm(source_id) if source_kind in ("vm", "any") else None
        if vm is not None and vm.phase == "ready" and vm.owner == owner:
            commit = await self.commit_vm(source_id, keep_paused=keep_paused, owner=owner)
        elif source_kind == "vm":
            raise NotFound("parent vm not found")
        else:
            commit = self.get_commit(source_id, owner)
        gate = asyncio.Semaphore(BRANCH_PARALLELISM)

        async def launch() -> VmRecord:
            async with gate:
                return await self._launch(
                    self._vm_from_commit(commit, owner, self._env_for(owner, None)),
                    start=True,
                    wait_boot=True,
                )

        self._launching[commit.id] += count  # the commit must not be deleted under the waiting launches
        try:
            results = await asyncio.gather(*(launch() for _ in range(count)), return_exceptions=True)
        finally:
            self._launching[commit.id] -= count
            if not self._launching[commit.id]:
                del self._launching[commit.id]
        created = [result for result in results if isinstance(result, VmRecord)]
        failure = next((result for result in results if isinstance(result, BaseException)), None)
        if failure is None:
            return created
        if not created or not isinstance(failure, Exception):
            raise failure
        raise BranchFailed(created, failure) from failure

    async def commit_vm(
        self,
        vm_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        keep_paused: bool = False,
        commit_id: str | None = None,
        owner: str | None = None,
    ) -> CommitRecord:
        """Capture the VM's filesystem as an immutable commit. The VM is frozen while its
        writable layer is copied and resumed afterwards unless `keep_paused` (or it was paused)."""
        self.get_vm(vm_id, owner)
        try:
            new_id = str(uuid.UUID(commit_id)) if commit_id else str(uuid.uuid4())
        except ValueError:
            raise BadRequest(f"commit_id must be a UUID, not {commit_id!r}") from None
        if self.db.get_commit(new_id) is not None or new_id in self._pending_layers:
            raise Conflict(f"commit already exists: {new_id}")
        async with self._lock(vm_id):
            await self._wait_booted(vm_id)
            vm = self.get_vm(vm_id, owner)
            sandbox = self._live_sandbox(vm)
            layer_size = await asyncio.to_thread(images.image_size, self._vm_dir(vm_id) / "disk" / "upper")
            self._require_room(layer_size, "commit this VM")
            was_paused = sandbox.paused
            self._pending_layers.add(new_id)
            try:
                with _sandbox_errors():
                    if not was_paused:
                        await sandbox.pause()
                    try:
                        await sandbox.capture(self.state_dir / "layers" / new_id)
                    finally:
                        if not (was_paused or keep_paused):
                            await sandbox.resume()
            except BaseException:
                self._pending_layers.discard(new_id)
                raise
            self.db.update_vm(vm_id, state="paused" if sandbox.paused else "running")
            commit = CommitRecord(
                id=new_id,
                owner=owner,
                description=description or None,
                name=name or f"commit: of_vm={vm_id} timestamp={utc_now()}",
                parent_vm_id=vm_id,
                grandparent_commit_id=vm.parent_commit_id,
                layers=[new_id, *vm.layers],
                image=vm.image,
            )
            self.db.insert_commit(commit)
            self._pending_layers.discard(new_id)
        log.info("committed vm %s as %s", vm_id, new_id)
        return commit

    async def set_paused(self, vm_id: str, paused: bool, *, owner: str | None = None) -> None:
        """Freeze or thaw every process of the VM (no-op when already in that state)."""
        self.get_vm(vm_id, owner)
        async with self._lock(vm_id):
            await self._wait_booted(vm_id)
            sandbox = self._live_sandbox(self.get_vm(vm_id, owner))
            with _sandbox_errors():
                if paused and not sandbox.paused:
                    await sandbox.pause()
                elif not paused and sandbox.paused:
                    await sandbox.resume()
            self.db.update_vm(vm_id, state="paused" if paused else "running")

    async def resize_disk(self, vm_id: str, fs_size_mib: int, *, owner: str | None = None) -> None:
        """Grow the VM's disk to `fs_size_mib` (strictly larger than now; `PATCH /vm/{id}/disk`), live
        while the VM runs. A VM without a disk image (rootless engine: no quota) gets the new size
        recorded only."""
        vm = self.get_vm(vm_id, owner)
        if fs_size_mib <= vm.fs_size_mib:
            raise BadRequest(f"fs_size_mib must be larger than the current {vm.fs_size_mib} MiB")
        host_mib = shutil.disk_usage(self.state_dir).total // 2**20
        if fs_size_mib > host_mib:
            raise BadRequest(f"fs_size_mib {fs_size_mib} is larger than the host's disk ({host_mib} MiB)")
        async with self._lock(vm_id):
            await self._wait_booted(vm_id)
            vm = self.get_vm(vm_id, owner)
            disk = VmDisk(self._vm_dir(vm.id), vm.fs_size_mib, self.state_dir / "disk-templates")
            if disk.image.exists():
                try:
                    await asyncio.to_thread(disk.grow, fs_size_mib)
                except DiskError as exc:
                    raise Conflict(str(exc)) from exc
            self.db.update_vm(vm_id, fs_size_mib=fs_size_mib)
        log.info("vm %s disk grown to %d MiB", vm_id, fs_size_mib)

    async def start_vm(
        self, vm_id: str, env: dict[str, str] | None = None, *, owner: str | None = None
    ) -> None:
        """Boot a stopped VM from its writable layer (with new environment variables if given)."""
        vm = self.get_vm(vm_id, owner)
        async with self._lock(vm_id):
            vm = self.get_vm(vm_id, owner)
            if self.vm_state(vm) in ("running", "paused", "booting"):
                raise Conflict(f"vm is already {vm.state}")
            if env is not None:
                self.db.update_vm(vm_id, env=env)
                vm.env = env
            self._sandboxes.pop(vm_id, None)
            with _sandbox_errors():
                await asyncio.to_thread(Sandbox.cleanup_stale, self._vm_dir(vm_id))
            await self._boot(vm)

    async def stop_vm(self, vm_id: str, *, owner: str | None = None) -> None:
        """Stop every process of the VM but keep its writable layer (start_vm boots it again)."""
        self.get_vm(vm_id, owner)
        async with self._lock(vm_id):
            await self._wait_booted(vm_id)
            self._room.give_back()
            sandbox = self._sandboxes.pop(vm_id, None)
            if sandbox is not None:
                with _sandbox_errors():
                    await sandbox.stop()
            self.db.update_vm(vm_id, state="stopped", init_pid=None)

    async def delete_vm(self, vm_id: str, *, owner: str | None = None) -> None:
        """Destroy the VM: every process stops, its writable layer is removed. Commits remain."""
        self.get_vm(vm_id, owner)
        async with self._lock(vm_id):
            task = self._boot_tasks.get(vm_id)
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
            vm = self.get_vm(vm_id, owner)
            self._room.give_back()  # the writes below must fit even when something filled the disk
            # Recorded first: a crash while the directory is half removed must finish the delete on
            # restart, never boot the remains again.
            self.db.update_vm(vm.id, phase="deleting")
            sandbox = self._sandboxes.pop(vm.id, None)
            try:
                with _sandbox_errors():
                    if sandbox is not None:
                        await sandbox.destroy()
                    else:
                        await asyncio.to_thread(Sandbox.cleanup_stale, self._vm_dir(vm.id))
            except BaseException:
                if sandbox is not None:
                    self._sandboxes[vm.id] = sandbox
                self.db.update_vm(vm.id, phase="ready")
                raise
            self.db.update_vm(
                vm.id, phase="deleted", deleted_at=utc_now(), init_pid=None, ssh_private_key="", env={}
            )
            await asyncio.to_thread(shutil.rmtree, self._vm_dir(vm.id), True)
        self._locks.pop(vm_id, None)
        await self._collect_layers()
        self._room.refill()
        self.catalog.forget_vm(vm_id)
        self.exec_journal.forget_vm(vm_id)
        log.info("deleted vm %s", vm_id)

    async def set_labels(self, vm_id: str, labels: dict[str, str], *, owner: str | None = None) -> None:
        """The VM's labels become exactly `labels` (`PUT /vm/{id}/labels`)."""
        self.get_vm(vm_id, owner)
        self.db.update_vm(vm_id, labels=labels)

    async def upsert_labels(self, vm_id: str, labels: dict[str, str], *, owner: str | None = None) -> None:
        """Add or overwrite `labels`, keep the others (`PATCH /vm/{id}/label`). Read and write have no
        await between them, so concurrent upserts on the event loop cannot lose each other's labels."""
        vm = self.get_vm(vm_id, owner)
        self.db.update_vm(vm_id, labels={**vm.labels, **labels})

    async def delete_label(self, vm_id: str, name: str, *, owner: str | None = None) -> None:
        """Remove one label (`DELETE /vm/{id}/label/{name}`); NotFound when the VM has no such label."""
        vm = self.get_vm(vm_id, owner)
        if name not in vm.labels:
            raise NotFound(f"label not found: {name}")
        self.db.update_vm(vm_id, labels={k: v for k, v in vm.labels.items() if k != name})

    async def exec(
        self,
        vm_id: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        owner: str | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run a command inside the VM and collect (exit code, stdout, stderr). A command still
        running after `timeout` seconds is killed (ProviderError 408)."""
        output: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        code = -1
        async for kind, data in self.exec_stream(
            vm_id, argv, env=env, cwd=cwd, stdin=stdin, timeout=timeout, owner=owner
        ):
            if isinstance(data, int):
                code = data
            else:
                output[kind].append(data)
        return code, b"".join(output["stdout"]), b"".join(output["stderr"])

    async def exec_stream(
        self,
        vm_id: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        owner: str | None = None,
    ) -> AsyncIterator[tuple[str, bytes | int]]:
        """Run a command inside the VM and yield its output as it comes: ("stdout"|"stderr", data)
        chunks, then ("exit", code). Past `timeout` seconds the command is killed and
        ProviderError(408) raised; closing the iterator early kills it too."""
        self.get_vm(vm_id, owner)
        sandbox = await self.sandbox_for(vm_id)
        where = {"cwd": cwd} if cwd else {}
        proc = await asyncio.create_subprocess_exec(
            *sandbox.enter_argv(argv, env=env, **where),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        async def pump(name: str, pipe: asyncio.StreamReader) -> None:
            while chunk := await pipe.read(65536):
                await queue.put((name, chunk))

        async def feed() -> None:
            assert proc.stdin is not None
            if stdin:
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()

        assert proc.stdout is not None and proc.stderr is not None
        workers = [
            asyncio.create_task(pump("stdout", proc.stdout)),
            asyncio.create_task(pump("stderr", proc.stderr)),
        ]
        if stdin is not None:
            workers.append(asyncio.create_task(feed()))
        done = asyncio.gather(*workers)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            while not (done.done() and queue.empty()):
                left = None if deadline is None else deadline - asyncio.get_running_loop().time()
                if left is not None and left <= 0:
                    raise ProviderError(f"command timed out after {timeout:g} s and was killed", status=408)
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait([getter, done], timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            yield "exit", await proc.wait()
        finally:
            if proc.returncode is None:
                proc.terminate()  # the helper forwards it to the command and escalates to SIGKILL
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), _KILL_GRACE_SECONDS)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(done, return_exceptions=True)

    async def read_file(self, vm_id: str, path: str, *, owner: str | None = None) -> bytes:
        """The content of an absolute path inside the VM (read with the VM's own `cat`)."""
        _check_vm_path(path)
        code, out, err = await self.exec(vm_id, ["cat", "--", path], owner=owner)
        if code != 0:
            raise NotFound(f"cannot read {path}: {_last_line(err)}")
        return out

    async def write_file(
        self,
        vm_id: str,
        path: str,
        content: bytes,
        *,
        mode: int = 0o644,
        create_dirs: bool = False,
        owner: str | None = None,
    ) -> None:
        """Write an absolute path inside the VM (with the VM's own shell tools), then set its mode."""
        _check_vm_path(path)
        if not 0 <= mode <= 0o7777:
            raise BadRequest(f"mode must be between 0 and 0o7777, not {mode}")
        script = (
            'set -e; if [ "$2" = 1 ]; then mkdir -p -- "$(dirname -- "$1")"; fi; cat > "$1"; chmod "$3" "$1"'
        )
        argv = ["sh", "-c", script, "sh", path, "1" if create_dirs else "0", format(mode, "o")]
        code, _, err = await self.exec(vm_id, argv, stdin=content, owner=owner)
        if code != 0:
            raise BadRequest(f"cannot write {path}: {_last_line(err)}")

    # -- account environment (Vers `/env_vars`) ----------------------------------------------

    def env_vars(self) -> dict[str, str]:
        """Variables every new Vers VM gets in its environment (set at creation, like Vers at boot)."""
        return self.db.env_vars()

    def set_env_vars(self, values: dict[str, str], *, replace: bool = False) -> dict[str, str]:
        for key, value in values.items():
            if not ENV_KEY_RE.match(key):
                raise BadRequest(
                    f"invalid variable name {key[:64]!r}: use letters, digits and '_', "
                    "not starting with a digit, at most 256 characters"
                )
            if len(value) > ENV_VALUE_MAX:
                raise BadRequest(f"value of {key} is longer than {ENV_VALUE_MAX} characters")
        self.db.set_env_vars(values, replace=replace)
        return self.db.env_vars()

    def delete_env_var(self, key: str) -> None:
        if not self.db.delete_env_var(key):
            raise NotFound(f"env var not found: {key}")

    # -- commits ------------------------------------------------------------------------------

    async def delete_commit(self, commit_id: str, *, owner: str | None = None) -> None:
        self.get_commit(commit_id, owner)
        users = self.db.count_vms_on_commit(commit_id) + self._launching[commit_id]
        if users:
            raise Conflict(f"commit still has {users} active VM(s)")
        self.db.delete_commit(commit_id)
        await self._collect_layers()

    def update_commit(
        self,
        commit_id: str,
        *,
        is_public: bool,
        name: str | None = None,
        description: str | None = None,
        owner: str | None = None,
    ) -> CommitRecord:
        self.get_commit(commit_id, owner)
        changes: dict[str, object] = {"is_public": is_public}
        if name:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        self.db.update_commit(commit_id, **changes)
        return self.get_commit(commit_id, owner)

    # -- file diffs (vmtui's own routes) --------------------------------------------------------

    def commit_diff(self, before_id: str, after_id: str, *, owner: str | None = None) -> LayerDiff:
        """What changed in the files from commit `before_id` to commit `after_id`."""
        before, after = self.get_commit(before_id, owner), self.get_commit(after_id, owner)
        return LayerDiff(self._chain(before.image, before.layers), self._chain(after.image, after.layers))

    def vm_diff(self, vm_id: str, *, owner: str | None = None) -> LayerDiff:
        """What changed in a VM's files since the commit it started from (or since its image)."""
        vm = self.get_vm(vm_id, owner)
        disk = self._vm_dir(vm_id) / "disk"
        unmounted = (self._vm_dir(vm_id) / "disk.img").exists() and not os.path.ismount(disk)
        if vm.phase != "ready" or unmounted or not (disk / "upper").is_dir():
            raise Conflict(f"the files of VM {vm_id} are not readable now; start it to compare them")
        return LayerDiff(
            self._chain(vm.image, vm.layers), self._chain(vm.image, vm.layers, top=disk / "upper")
        )

    async def in_diff_thread(self, diff: LayerDiff, work: Callable[[], T]) -> T:
        """Run a blocking step of `diff` off the event loop, at most DIFF_PARALLELISM at once; its
        layers stay on disk meanwhile, even if their commits are deleted."""
        layers = diff.layer_names()
        self._diff_layers.update(layers)
        try:
            async with self._diffs:
                return await asyncio.to_thread(work)
        finally:
            self._diff_layers.subtract(layers)
            self._diff_layers = +self._diff_layers  # drop the zero counts

    def _chain(self, image_name: str, layers: list[str], *, top: Path | None = None) -> Chain:
        image_dir = self._image_spec_path(image_name)
        if image_dir is None:
            raise Unavailable("the default image is not built yet")
        image = images.open_image(image_dir)
        dirs = [self.state_dir / "layers" / layer for layer in layers]
        return Chain.of([top, *dirs] if top is not None else dirs, image.rootfs, image.host_usr)

    # -- images -------------------------------------------------------------------------------

    def list_images(self) -> list[ImageRecord]:
        """The built-in default image first, then uploaded ones by name."""
        default = ImageRecord(
            name=DEFAULT_IMAGE,
            path=str(self._default_image or ""),
            size_bytes=self._default_image_size,
            created_at=self._created_at,
        )
        return [default, *self.db.list_images()]

    def image_usage(self, name: str) -> tuple[int, int]:
        return self.db.image_usage(name)

    async def import_image(self, name: str, chunks: AsyncIterator[bytes]) -> ImageRecord:
        """Store an uploaded rootfs tarball (streamed, size-capped) as image `name`."""
        _check_image_name(name)
        if name == DEFAULT_IMAGE:
            raise Conflict("the default image is built in and cannot be replaced")
        if self.db.get_image(name) is not None and any(self.db.image_usage(name)):
            raise Conflict(f"image {name} is in use; delete its VMs and commits first")
        work = self.state_dir / "tmp" / f"upload-{uuid.uuid4().hex}"
        work.mkdir(parents=True)
        try:
            tarball = work / "rootfs.tar"
            await self._receive_upload(tarball, chunks)
            tree = work / "tree"
            try:
                size = await asyncio.to_thread(images.import_rootfs_tarball, tarball, tree)
            except (SandboxError, ValueError, OSError) as exc:
                raise BadRequest(f"rejected rootfs tarball: {exc}") from exc
            dest = self.state_dir / "images" / name
            if dest.exists():
                await asyncio.to_thread(shutil.rmtree, dest)
            os.rename(tree, dest)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        record = ImageRecord(name=name, path=str(dest), size_bytes=size)
        self.db.insert_image(record)
        log.info("imported image %s (%d bytes)", name, size)
        return record

    async def delete_image(self, name: str) -> None:
        _check_image_name(name)
        if name == DEFAULT_IMAGE:
            raise Conflict("the default image is built in and cannot be deleted")
        image = self.db.get_image(name)
        if image is None:
            raise NotFound(f"image not found: {name}")
        vms, commits = self.db.image_usage(name)
        if vms or commits:
            raise Conflict(f"image {name} is in use by {vms} VM(s) and {commits} commit(s)")
        self.db.delete_image(name)
        await asyncio.to_thread(shutil.rmtree, image.path, True)

    # -- internals ----------------------------------------------------------------------------

    def _lock(self, vm_id: str) -> asyncio.Lock:
        return self._locks.setdefault(vm_id, asyncio.Lock())

    def _env_for(self, owner: str | None, env: dict[str, str] | None) -> dict[str, str]:
        """A new VM's environment: the Vers account variables (Vers VMs only), then `env`."""
        account = self.db.env_vars() if owner is None else {}
        return {**account, **(env or {})}

    def _vm_dir(self, vm_id: str) -> Path:
        return self.state_dir / "vms" / vm_id

    def _image_spec_path(self, name: str) -> Path | None:
        """The image directory for a SandboxSpec (None = the built-in default image)."""
        if name == DEFAULT_IMAGE:
            return self._default_image
        image = self.db.get_image(name) if IMAGE_NAME_RE.match(name) else None
        if image is None:
            raise NotFound(f"image not found: {name}")
        return Path(image.path)

    def _spec(self, vm: VmRecord) -> SandboxSpec:
        return SandboxSpec(
            vm_id=vm.id,
            vm_dir=self._vm_dir(vm.id),
            layers=[self.state_dir / "layers" / layer for layer in vm.layers],
            image=self._image_spec_path(vm.image),
            hostname=hostname_of_vm(vm.id),
            env=dict(vm.env),
            vcpu_count=vm.vcpu_count,
            mem_size_mib=vm.mem_size_mib,
            pids_max=self.pids_per_vm,
            disk_mib=vm.fs_size_mib,
            disk_templates=self.state_dir / "disk-templates",
        )

    def _new_vm_record(self, **fields: Any) -> VmRecord:
        """A VM row with a fresh id and its own Ed25519 key pair (branches get new keys too)."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        return VmRecord(
            id=str(uuid.uuid4()),
            ssh_private_key=key.export_private_key("openssh").decode(),
            ssh_public_key=key.export_public_key("openssh").decode().strip(),
            **fields,
        )

    def _vm_from_commit(self, commit: CommitRecord, owner: str | None, env: dict[str, str]) -> VmRecord:
        """A VM on the commit's filesystem with the sizes of the VM it was committed from (as a
        branch on Vers keeps its parent's vCPUs, memory and disk), even if that VM is deleted."""
        source = self.db.get_vm(commit.parent_vm_id, include_deleted=True) if commit.parent_vm_id else None
        sizes = (
            {
                "vcpu_count": source.vcpu_count,
                "mem_size_mib": source.mem_size_mib,
                "fs_size_mib": source.fs_size_mib,
            }
            if source is not None
            else {}
        )
        return self._new_vm_record(
            owner=owner,
            image=commit.image,
            layers=list(commit.layers),
            env=env,
            parent_commit_id=commit.id,
            grandparent_vm_id=commit.parent_vm_id,
            **sizes,
        )

    async def _launch(self, vm: VmRecord, *, start: bool, wait_boot: bool) -> VmRecord:
        """Insert the row as `creating`, make the VM's dir, boot. A failure removes every trace.

        Without `wait_boot` the boot goes on in the background, but a boot that fails at once
        (sandboxes cannot run on this host) is still this call's error, not a dead VM."""
        self._require_room(0, "create a VM")
        vm.state = "booting" if start else "stopped"
        self.db.insert_vm(vm)
        self._vm_dir(vm.id).mkdir(parents=True)
        boot: asyncio.Task[None] | None = None
        try:
            if start and wait_boot:
                await self._boot(vm)
            elif start:
                boot = asyncio.create_task(self._boot(vm))
                await asyncio.wait({boot}, timeout=_EARLY_BOOT_FAILURE_SECONDS)
                if boot.done():
                    boot.result()
        except BaseException:
            await self._discard(vm.id)
            raise
        self.db.update_vm(vm.id, phase="ready")
        vm.phase = "ready"
        if boot is not None and not boot.done():
            self._boot_tasks[vm.id] = asyncio.create_task(self._finish_boot(vm, boot))
        log.info("created vm %s (image %s, %d layer(s))", vm.id, vm.image, len(vm.layers))
        return self.db.get_vm(vm.id) or vm

    async def _finish_boot(self, vm: VmRecord, boot: asyncio.Task[None]) -> None:
        """Wait for a background boot; a failure leaves the VM listed as `dead`."""
        try:
            await boot
        except Exception as exc:  # noqa: BLE001 - whatever broke, the VM must not stay "booting"
            log.warning("vm %s failed to boot: %s", vm.id, exc)
            if self.store is not None:
                self.db.update_vm(vm.id, state="dead")
        finally:
            self._boot_tasks.pop(vm.id, None)

    async def _boot(self, vm: VmRecord) -> None:
        self._require_capacity()
        self._booting.add(vm.id)
        try:
            sandbox = await Sandbox.boot(self._spec(vm))
        except SandboxError as exc:
            raise Unavailable(f"cannot start a sandbox here: {exc}") from exc
        finally:
            self._booting.discard(vm.id)
        self._sandboxes[vm.id] = sandbox
        self.db.update_vm(vm.id, state="running", init_pid=sandbox.init_pid)

    @property
    def _room(self) -> StateReserve:
        if self._reserve is None:
            raise Unavailable("engine is not started")
        return self._reserve

    def _require_room(self, needed: int, what: str) -> None:
        try:
            self._room.require(needed, what)
        except NoSpace as exc:
            raise ProviderError(str(exc), status=507) from exc

    def _require_capacity(self) -> None:
        """429 when one more running VM would take the VMs' pids past the host's budget."""
        running = sum(1 for sandbox in self._sandboxes.values() if sandbox.running) + len(self._booting)
        if running >= self.max_running_vms:
            raise ProviderError(
                f"this engine already runs {running} VMs, the most the host's pid_max and threads-max "
                "allow; stop or delete a VM first",
                status=429,
                retry_after=CAPACITY_RETRY_SECONDS,
            )

    async def _discard(self, vm_id: str) -> None:
        sandbox = self._sandboxes.pop(vm_id, None)
        try:
            if sandbox is not None:
                await sandbox.destroy()
            else:
                await asyncio.to_thread(Sandbox.cleanup_stale, self._vm_dir(vm_id))
        finally:
            await asyncio.to_thread(shutil.rmtree, self._vm_dir(vm_id), True)
            self.db.purge_vm(vm_id)

    async def _wait_booted(self, vm_id: str) -> None:
        task = self._boot_tasks.get(vm_id)
        if task is not None:
            await asyncio.shield(task)

    def _live_sandbox(self, vm: VmRecord) -> Sandbox:
        state = self.vm_state(vm)
        if state not in ("running", "paused"):
            raise Conflict(f"vm is {state}")
        return self._sandboxes[vm.id]

    async def _build_default_image(self) -> None:
        """Build the default image once per state dir (VMs share it as their read-only bottom layer)."""
        path = self.state_dir / "images" / DEFAULT_IMAGE
        if not path.exists():
            try:
                await asyncio.to_thread(images.build_default_image, path)
            except (OSError, ValueError) as exc:
                log.warning("cannot build the default image (each VM will try again): %s", exc)
                return
        self._default_image = path
        self._default_image_size = await asyncio.to_thread(images.image_size, path)

    async def _receive_upload(self, dest: Path, chunks: AsyncIterator[bytes]) -> None:
        received = 0
        out = await asyncio.to_thread(dest.open, "wb")
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > self.max_upload_bytes:
                    raise BadRequest(f"upload larger than {self.max_upload_bytes} bytes", status=413)
                self._require_room(len(chunk), "store this upload")
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        if received == 0:
            raise BadRequest("empty upload: send the rootfs tarball as the request body")

    async def _collect_layers(self, *, sweep_partial: bool = False) -> None:
        """Remove layer dirs that no commit or live VM stacks on any more. Captures in progress
        (pending ids, hidden `.partial` dirs) are only swept at start, when none can be running."""
        keep = self.db.referenced_layers() | self._pending_layers | set(self._diff_layers)
        for path in (self.state_dir / "layers").iterdir():
            if path.name not in keep and (sweep_partial or not path.name.startswith(".")):
                await asyncio.to_thread(shutil.rmtree, path, True)

    async def _recover(self) -> None:
        """After a restart or crash: drop half-created VMs and their leftovers, adopt VMs whose
        init still runs, boot again those that should run but died, and sweep scratch space."""
        store = self.db
        tmp = self.state_dir / "tmp"
        for leftover in tmp.iterdir():
            await asyncio.to_thread(shutil.rmtree, leftover, True)
        phases = ("creating", "ready", "deleting", "deleted")
        known = {vm.id: vm for vm in store.list_vms(all_owners=True, phases=phases)}
        for vm in known.values():
            if vm.phase == "creating":
                log.info("removing half-created vm %s", vm.id)
                await self._discard(vm.id)
        for path in (self.state_dir / "vms").iterdir():
            vm = known.get(path.name)
            if vm is None or vm.phase != "ready":
                try:
                    await asyncio.to_thread(Sandbox.cleanup_stale, path)
                except SandboxError as exc:
                    log.warning(
                        "cannot clean up leftovers of %s (kept for the next start): %s", path.name, exc
                    )
                    continue
                await asyncio.to_thread(shutil.rmtree, path, True)
        for vm in known.values():
            if vm.phase == "deleting":
                log.info("finishing the interrupted delete of vm %s", vm.id)
                store.update_vm(
                    vm.id, phase="deleted", deleted_at=utc_now(), init_pid=None, ssh_private_key="", env={}
                )
        await self._collect_layers(sweep_partial=True)
        limit = asyncio.Semaphore(_RECOVERY_PARALLELISM)

        async def revive(vm: VmRecord) -> None:
            async with limit:
                await self._revive(vm)

        await asyncio.gather(
            *(
                revive(vm)
                for vm in known.values()
                if vm.phase == "ready" and vm.state in ("booting", "running", "paused")
            )
        )

    async def _revive(self, vm: VmRecord) -> None:
        spec = self._spec(vm)
        try:
            sandbox = Sandbox.adopt(spec, vm.init_pid) if vm.init_pid else None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("cannot adopt vm %s (%s); booting it again", vm.id, exc)
            sandbox = None
        if sandbox is not None:
            self._sandboxes[vm.id] = sandbox
            # Re-assert the recorded state: a crash mid-commit can leave a running VM frozen, and
            # a signal-paused VM is not visibly paused to a new Sandbox object.
            try:
                if vm.state == "paused":
                    await sandbox.pause()
                else:
                    await sandbox.resume()
            except SandboxError as exc:
                log.warning("adopted vm %s but cannot restore its %s state: %s", vm.id, vm.state, exc)
            self.db.update_vm(vm.id, state="paused" if vm.state == "paused" else "running")
            log.info("adopted %s vm %s (init pid %d)", vm.state, vm.id, sandbox.init_pid)
            return
        try:
            await asyncio.to_thread(Sandbox.cleanup_stale, spec.vm_dir)
            await self._boot(vm)
            if vm.state == "paused":
                await self._sandboxes[vm.id].pause()
                self.db.update_vm(vm.id, state="paused")
            log.info("booted vm %s again from its filesystem", vm.id)
        except Exception as exc:  # noqa: BLE001 - one broken VM must not stop the others' recovery
            log.warning("vm %s could not be restarted: %s", vm.id, exc)
            self.db.update_vm(vm.id, state="dead", init_pid=None)


@contextlib.contextmanager
def _sandbox_errors() -> Iterator[None]:
    """A sandbox that refuses an operation (not running, processes that will not die...) is a
    409 with the sandbox's own message, not an internal error; a full disk is 507."""
    try:
        yield
    except StorageFull as exc:
        raise ProviderError(str(exc), status=507) from exc
    except SandboxError as exc:
        raise Conflict(str(exc)) from exc


def _check_vm_path(path: str) -> None:
    if not path.startswith("/") or "\0" in path:
        raise BadRequest(f"path must be absolute: {path!r}")


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "failed"


def _check_image_name(name: str) -> None:
    if not IMAGE_NAME_RE.match(name):
        raise BadRequest(
            "invalid image name: use 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'"
        )
