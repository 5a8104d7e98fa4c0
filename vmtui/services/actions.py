"""Every VM action the UI offers, run against the right provider, with in-flight tracking.

The UI calls these from workers. While an action runs its target is listed in `pending`
(the row shows a badge, the poller goes fast); `on_change` fires when that set changes.
Each action returns an `Outcome` whose message is ready for a notification; failures are
the provider's typed errors (`vmtui.core.errors`) carrying the server's own message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from vmtui.core import request_trace
from vmtui.core.errors import NotFound, ProviderError, Unsupported
from vmtui.core.lineage import LineageNode, NodeKind, build_lineage
from vmtui.core.models import (
    Commit,
    CommitTag,
    DesktopRequest,
    Image,
    PortMapping,
    Vm,
    VmConfig,
    VmState,
)
from vmtui.core.swiftor_plans import Plan
from vmtui.providers.base import (
    CommitTagsApi,
    DesktopsApi,
    DiskApi,
    EnvVarsApi,
    LabelsApi,
    PortMappingsApi,
    ProgressCallback,
    Provider,
    SecretsApi,
)
from vmtui.services.action_log import ActionLog, describe
from vmtui.services.checkpoints import Checkpoints, checkpoint_info, checkpoint_title, checkpoints
from vmtui.services.file_diff import FileDiffer

PendingKey = tuple[str, str]
"""(profile, VM id) of a row with an action in flight; (profile, "") for profile-wide actions."""

BranchProgress = Callable[[str, VmState], None]
"""Called with (new VM id, its state) while the VMs of a multi-branch boot."""


@dataclass(frozen=True)
class Outcome:
    message: str
    ids: tuple[str, ...] = ()


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` into a dict; raises ValueError naming the bad part."""
    labels: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"label '{part}' is not key=value")
        labels[key.strip()] = value.strip()
    return labels


def dependants(vms: Iterable[Vm], commits: Iterable[Commit], item: Vm | Commit) -> list[LineageNode]:
    """What descends from a VM (its commits and everything started from them) or from a commit (the VMs
    started from it, their commits, ...), nearest first."""
    lineage = build_lineage(vms, commits)
    return lineage.descendants(NodeKind.VM if isinstance(item, Vm) else NodeKind.COMMIT, item.id)


def _few(ids: list[str]) -> str:
    """At most three ids, then "and N more": a notification stays short (the list and log have all)."""
    listed = ", ".join(ids[:3]) if ids else "none"
    return listed + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _vers_run(config: VmConfig) -> tuple[str, ...]:
    """`vers run` with the flags of the fields the form set."""
    flags = (
        ("--vcpu-count", config.vcpu_count),
        ("--mem-size", config.mem_size_mib),
        ("--fs-size-vm-mib", config.fs_size_mib),
        ("--rootfs", config.image_name),
        ("--kernel", config.kernel_name),
    )
    words = ["vers", "run"]
    for flag, value in flags:
        if value is not None:
            words += [flag, str(value)]
    return tuple(words)


class Actions:
    def __init__(
        self,
        providers: dict[str, Provider],
        on_change: Callable[[PendingKey], None] = lambda key: None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        log: ActionLog | None = None,
        checkpoint_keep: int = 5,
    ):
        self.providers: dict[str, Provider] = dict(providers)  # profiles are added as they open
        self.on_change = on_change
        self.pending: dict[PendingKey, str] = {}
        self.errors: dict[PendingKey, str] = {}
        """The last failure of an action on each target, until one succeeds (the details pane shows it)."""
        self._sleep = sleep
        self.log = log if log is not None else ActionLog()
        """Every change made through this object (the action log screen)."""
        self._differs: dict[str, FileDiffer] = {}
        self.checkpoint_keep = checkpoint_keep
        self.scratch: set[PendingKey] = set()
        """Scratch VMs of this session: deleted when their terminal tab closes."""

    def provider(self, profile: str) -> Provider:
        try:
            return self.providers[profile]
        except KeyError:
            raise NotFound(f"no profile named '{profile}' is active") from None

    def file_differ(self, profile: str) -> FileDiffer:
        """One per profile, so its cost estimate remembers the previous run."""
        if profile not in self._differs:
            self._differs[profile] = FileDiffer(profile, self.provider(profile), self.log, sleep=self._sleep)
        return self._differs[profile]

    def busy(self, profile: str | None = None) -> bool:
        return any(profile is None or key[0] == profile for key in self.pending)

    @asynccontextmanager
    async def _track(
        self, key: PendingKey, verb: str, action: str, target: str, vers: tuple[str, ...] = ()
    ) -> AsyncIterator[list[str]]:
        """`key` is pending while the block runs; its failure is kept in `errors`, a success clears it.
        The block is one entry in the action log (`action` on `target`, the `vers` CLI equivalent);
        append the ids it made to the yielded list."""
        self.pending[key] = verb
        self.on_change(key)
        try:
            with self.log.change(key[0], action, target, vers) as made:
                yield made
        except Exception as exc:
            self.errors[key] = describe(exc)
            raise
        else:
            self.errors.pop(key, None)
        finally:
            self.pending.pop(key, None)
            self.on_change(key)

    def mark(self, key: PendingKey, verb: str) -> None:
        """Show a badge before the worker starts (same frame as the key press)."""
        self.pending[key] = verb
        self.on_change(key)

    async def attempt(self, key: PendingKey, run: Callable[[], Awaitable[Outcome]]) -> Outcome:
        """Run an action marked on `key`: its failure is kept in `errors` (and raised), a success
        clears the error; either way the mark goes."""
        try:
            outcome = await run()
        except Exception as exc:
            self.errors[key] = describe(exc)
            raise
        finally:
            if self.pending.pop(key, None) is not None:
                self.on_change(key)
        self.errors.pop(key, None)
        return outcome

    def desktops_api(self, profile: str) -> DesktopsApi:
        provider = self.provider(profile)
        if isinstance(provider, DesktopsApi):
            return provider
        raise Unsupported(f"{provider.kind} has no desktops")

    def tags_api(self, profile: str) -> CommitTagsApi:
        provider = self.provider(profile)
        if isinstance(provider, CommitTagsApi) and provider.capabilities.has_tags:
            return provider
        raise Unsupported(f"{provider.kind} has no commit tags")

    def secrets_api(self, vm: Vm) -> SecretsApi:
        provider = self.provider(vm.provider)
        if isinstance(provider, SecretsApi):
            return provider
        raise Unsupported(f"{provider.kind} has no secrets")

    def mappings_api(self, vm: Vm) -> PortMappingsApi:
        """The provider's port mappings (also for its URLs, which cost no request)."""
        provider = self.provider(vm.provider)
        if isinstance(provider, PortMappingsApi):
            return provider
        raise Unsupported(f"{provider.kind} has no networking")

    def labels_api(self, vm: Vm) -> LabelsApi:
        provider = self.provider(vm.provider)
        if isinstance(provider, LabelsApi) and provider.capabilities.has_labels:
            return provider
        raise Unsupported(f"{provider.kind} cannot edit labels")

    def disk_api(self, vm: Vm) -> DiskApi:
        provider = self.provider(vm.provider)
        if isinstance(provider, DiskApi) and provider.capabilities.can_resize:
            return provider
        raise Unsupported(f"{provider.kind} cannot resize disks")

    def env_vars_api(self, profile: str) -> EnvVarsApi:
        provider = self.provider(profile)
        if isinstance(provider, EnvVarsApi) and provider.capabilities.has_environment:
            return provider
        raise Unsupported(f"{provider.kind} has no environment variables")

    async def create(self, profile: str, config: VmConfig, *, wait_boot: bool = False) -> Outcome:
        async with self._track((profile, ""), "creating", "create", profile, _vers_run(config)) as made:
            vm_id = await self.provider(profile).create_vm(config, wait_boot=wait_boot)
            made.append(vm_id)
        return Outcome(f"Created VM {vm_id}", (vm_id,))

    async def branch(self, vm: Vm, count: int = 1, progress: BranchProgress | None = None) -> Outcome:
        ids = await self._new_vms(
            vm.key, "branch", count, lambda provider: provider.branch(vm.id, count), progress
        )
        return Outcome(f"Branched {vm.id} into {_plural(len(ids), 'VM')}: {_few(ids)}", tuple(ids))

    async def _new_vms(
        self,
        source: PendingKey,
        action: str,
        count: int,
        make: Callable[[Provider], Awaitable[list[str]]],
        progress: BranchProgress | None,
    ) -> list[str]:
        """`count` new VMs from the VM or commit `source` (`make` asks its platform), logged as vers-cli's
        `branch --count`; with `progress`, each new VM's state is reported until it has booted."""
        if count < 1:
            raise ValueError("count must be at least 1")
        profile, source_id = source
        vers = ("vers", "branch", source_id, "--count", str(count))
        async with self._track(source, "branching", action, source_id, vers) as made:
            provider = self.provider(profile)
            ids = await make(provider)
            made.extend(ids)
            if progress is not None:
                with request_trace.paused():
                    await self._watch_boot(provider, ids, progress)
        return ids

    async def _watch_boot(
        self, provider: Provider, ids: list[str], progress: BranchProgress, *, timeout: float = 120.0
    ) -> None:
        """Report each new VM's state until none is booting (or the time is up)."""
        waiting = list(ids)
        waited = 0.0
        while waiting:
            for vm_id in list(waiting):
                try:
                    state = (await provider.get_vm(vm_id)).state
                except Unsupported:
                    state = VmState.UNKNOWN
                except NotFound:
                    state = VmState.DEAD
                progress(vm_id, state)
                if not state.is_transitional:
                    waiting.remove(vm_id)
            if not waiting or waited >= timeout:
                return
            await self._sleep(0.5)
            waited += 0.5

    async def commit(self, vm: Vm, *, name: str | None = None, description: str | None = None) -> Outcome:
        vers = ("vers", "commit", "create", vm.id)
        async with self._track(vm.key, "committing", "commit", vm.id, vers) as made:
            commit_id = await self.provider(vm.provider).commit(
                vm.id, name=name or None, description=description or None
            )
            made.append(commit_id)
        return Outcome(f"Committed {vm.id} as {commit_id}", (commit_id,))

    async def restore(self, commit: Commit) -> Outcome:
        vers = ("vers", "run-commit", commit.id)
        async with self._track((commit.provider, commit.id), "starting", "restore", commit.id, vers) as made:
            vm_id = await self.provider(commit.provider).restore(commit.id)
            made.append(vm_id)
        return Outcome(f"Started VM {vm_id} from commit {commit.id}", (vm_id,))

    async def branch_commit(
        self, commit: Commit, count: int = 1, progress: BranchProgress | None = None
    ) -> Outcome:
        """`count` new VMs started from `commit` (`r` with a count, `b` on a commit)."""
        ids = await self._new_vms(
            commit.key,
            "branch commit",
            count,
            lambda provider: provider.branch_commit(commit.id, count),
            progress,
        )
        return Outcome(f"Started {_plural(len(ids), 'VM')} from commit {commit.id}: {_few(ids)}", tuple(ids))

    async def delete_commit(self, commit: Commit) -> Outcome:
        vers = ("vers", "commit", "delete", commit.id)
        async with self._track(commit.key, "deleting", "delete commit", commit.id, vers):
            await self.provider(commit.provider).delete_commit(commit.id)
        return Outcome(f"Deleted commit {commit.id}", (commit.id,))

    async def publish_commit(self, commit: Commit, public: bool) -> Outcome:
        """Make a commit public (anyone may start VMs from it) or private again."""
        verb = "publish" if public else "unpublish"
        vers = ("vers", "commit", verb, commit.id)
        async with self._track(commit.key, f"{verb}ing", f"{verb} commit", commit.id, vers):
            await self.provider(commit.provider).update_commit(
                commit.id, is_public=public, name=commit.name, description=commit.description
            )
        return Outcome(f"{verb.capitalize()}ed commit {commit.id}", (commit.id,))

    async def edit_commit(self, commit: Commit, *, name: str, description: str) -> Outcome:
        """Set a commit's name and description (its visibility is kept)."""
        async with self._track(commit.key, "saving", "edit commit", commit.id):
            await self.provider(commit.provider).update_commit(
                commit.id, is_public=commit.is_public, name=name, description=description
            )
        return Outcome(f"Saved commit {commit.id}", (commit.id,))

    async def commit_history(self, commit: Commit) -> list[Commit]:
        """The commit and its ancestors up to the root, nearest first (`vers commit history`)."""
        return await self.provider(commit.provider).commit_parents(commit.id)

    async def list_tags(self, profile: str) -> list[CommitTag]:
        return await self.tags_api(profile).list_tags()

    async def create_tag(self, profile: str, name: str, commit_id: str, description: str = "") -> Outcome:
        vers = ("vers", "tag", "create", name, commit_id)
        async with self._track((profile, commit_id), "tagging", "create tag", f"{name} {commit_id}", vers):
            await self.tags_api(profile).create_tag(name, commit_id, description or None)
        return Outcome(f"Tagged commit {commit_id} as {name}", (name,))

    async def move_tag(self, profile: str, name: str, commit_id: str) -> Outcome:
        vers = ("vers", "tag", "update", name, "--commit", commit_id)
        async with self._track((profile, commit_id), "tagging", "move tag", f"{name} {commit_id}", vers):
            await self.tags_api(profile).move_tag(name, commit_id)
        return Outcome(f"Moved tag {name} to commit {commit_id}", (name,))

    async def delete_tag(self, profile: str, name: str) -> Outcome:
        vers = ("vers", "tag", "delete", name)
        async with self._track((profile, ""), "deleting tag", "delete tag", name, vers):
            await self.tags_api(profile).delete_tag(name)
        return Outcome(f"Deleted tag {name} (its commit stays)", (name,))

    async def branch_tag(self, profile: str, name: str, count: int = 1) -> Outcome:
        """`count` new VMs from the commit a tag points at."""
        vers = ("vers", "branch", name, "--count", str(count))
        async with self._track((profile, ""), "branching", "branch tag", name, vers) as made:
            ids = await self.tags_api(profile).branch_tag(name, count)
            made.extend(ids)
        listed = ", ".join(ids) if ids else "none"
        return Outcome(f"Started {_plural(len(ids), 'VM')} from tag {name}: {listed}", tuple(ids))

    async def toggle_pause(self, vm: Vm) -> Outcome:
        resume = vm.state.is_paused
        action, verb = ("resume", "resuming") if resume else ("pause", "pausing")
        async with self._track(vm.key, verb, action, vm.id, ("vers", action, vm.id)):
            provider = self.provider(vm.provider)
            await (provider.resume_vm(vm.id) if resume else provider.pause_vm(vm.id))
        return Outcome(f"{'Resumed' if resume else 'Paused'} {vm.id}", (vm.id,))

    async def start_stop(self, vm: Vm) -> Outcome:
        """Stop a live VM, start any other (a stopped Swiftor desktop)."""
        stop = vm.state.is_live
        async with self._track(
            vm.key, "stopping" if stop else "starting", "stop" if stop else "start", vm.id
        ):
            provider = self.provider(vm.provider)
            await (provider.stop_vm(vm.id) if stop else provider.start_vm(vm.id))
        return Outcome(f"{'Stopped' if stop else 'Started'} {vm.id}", (vm.id,))

    async def delete(self, vm: Vm, *, checkpoint: bool = False, prune: bool = True) -> Outcome:
        """Delete `vm`; with `checkpoint`, commit it first (a failed commit stops the delete) and, with
        `prune`, prune old checkpoints after (a bulk delete prunes once, at the end)."""
        keeper = Checkpoints(self.provider(vm.provider), self.checkpoint_keep)
        taken = ""
        if checkpoint:
            vers = ("vers", "commit", "create", vm.id)
            async with self._track(vm.key, "checkpointing", "checkpoint", vm.id, vers) as made:
                taken = await keeper.take(vm)
                made.append(taken)
        async with self._track(vm.key, "deleting", "delete", vm.id, ("vers", "delete", vm.id)):
            await keeper.provider.delete_vm(vm.id)
        if not taken:
            return Outcome(f"Deleted {vm.id}", (vm.id,))
        if prune:
            await self.prune_checkpoints(vm.provider)
        return Outcome(f"Deleted {vm.id}; checkpoint {taken} kept (u restores it)", (vm.id, taken))

    async def prune_checkpoints(self, profile: str, *, keep_at_least: int = 0) -> list[str]:
        """Delete the oldest checkpoints of `profile` beyond the configured count, or beyond
        `keep_at_least` when that is more (a bulk delete keeps every checkpoint it took)."""
        keeper = Checkpoints(self.provider(profile), max(self.checkpoint_keep, keep_at_least))
        async with self._track((profile, ""), "pruning", "prune checkpoints", profile) as made:
            made.extend(await keeper.prune())
        return made

    async def scratch_copy(self, source: Vm | Commit) -> Outcome:
        """A scratch VM branched from a VM or started from a commit (`scratch` holds it)."""
        profile = source.provider
        vers = ("vers", "branch", source.id)
        async with self._track(source.key, "branching", "scratch copy", source.id, vers) as made:
            provider = self.provider(profile)
            if isinstance(source, Commit):
                ids = [await provider.restore(source.id)]
            else:
                ids = await provider.branch(source.id, 1)
            made.extend(ids)
        if not ids:
            raise ProviderError(f"branching {source.id} made no VM")
        self.scratch.add((profile, ids[0]))
        return Outcome(f"Scratch VM {ids[0]} from {source.id}; closing its tab deletes it", (ids[0],))

    async def scratch_commits(self, key: PendingKey) -> list[Commit]:
        """Commits taken from a scratch VM (its deletion asks first when there are any)."""
        return [c for c in await self.provider(key[0]).list_commits() if c.parent_vm_id == key[1]]

    async def discard_scratch(self, key: PendingKey) -> Outcome:
        profile, vm_id = key
        async with self._track(key, "deleting", "delete scratch", vm_id, ("vers", "delete", vm_id)):
            await self.provider(profile).delete_vm(vm_id)
        self.scratch.discard(key)
        return Outcome(f"Deleted scratch VM {vm_id}", (vm_id,))

    async def undo(self, profile: str) -> Outcome:
        """A new VM from the newest checkpoint of `profile`, with the labels its VM had."""
        keeper = Checkpoints(self.provider(profile), self.checkpoint_keep)
        newest = checkpoints(await keeper.provider.list_commits())
        if not newest:
            raise NotFound("no checkpoint to restore: delete takes one (config `checkpoint`)")
        commit = newest[0]
        vers = ("vers", "run-commit", commit.id)
        async with self._track(
            (profile, commit.id), "restoring", "restore checkpoint", commit.id, vers
        ) as made:
            vm_id = await keeper.restore(commit)
            made.append(vm_id)
        what = checkpoint_title(checkpoint_info(commit))
        return Outcome(f"Restored {what} as VM {vm_id}", (vm_id,))

    async def list_images(self, profile: str) -> list[Image]:
        return await self.provider(profile).list_images()

    async def upload_image(
        self, profile: str, name: str, tarball: Path, progress: ProgressCallback | None = None
    ) -> Outcome:
        async with self._track((profile, ""), "uploading", "upload image", name):
            if not tarball.is_file():
                raise ProviderError(f"{tarball} is not a readable file")
            await self.provider(profile).upload_image(name, tarball, progress)
        return Outcome(f"Uploaded image {name}", (name,))

    async def delete_image(self, profile: str, name: str) -> Outcome:
        async with self._track((profile, ""), "deleting image", "delete image", name):
            await self.provider(profile).delete_image(name)
        return Outcome(f"Deleted image {name}", (name,))

    async def create_desktop(self, profile: str, request: DesktopRequest) -> Vm:
        """The new desktop VM (stored stopped)."""
        async with self._track((profile, ""), "creating", "create desktop", request.label) as made:
            vm = await self.desktops_api(profile).create_desktop(
                request.label,
                request.region,
                request.distribution,
                request.desktop,
                request.cpu,
                request.ram_gb,
                request.password,
                request.storage_type,
            )
            made.append(vm.id)
        return vm

    async def account_plan(self, profile: str) -> Plan:
        return await self.desktops_api(profile).account_plan()

    async def list_secrets(self, vm: Vm) -> dict[str, SecretStr]:
        return await self.secrets_api(vm).list_secrets(vm.id)

    async def set_secret(self, vm: Vm, key: str, value: SecretStr) -> Outcome:
        async with self._track(vm.key, "saving secret", "set secret", f"{vm.id} {key}"):
            await self.secrets_api(vm).set_secret(vm.id, key, value)
        return Outcome(f"Saved {key}; it applies at the VM's next start", (key,))

    async def delete_secret(self, vm: Vm, key: str) -> Outcome:
        async with self._track(vm.key, "deleting secret", "delete secret", f"{vm.id} {key}"):
            await self.secrets_api(vm).delete_secret(vm.id, key)
        return Outcome(f"Deleted {key}; the VM keeps it until its next start", (key,))

    async def list_mappings(self, vm: Vm) -> list[PortMapping]:
        return await self.mappings_api(vm).list_mappings(vm.id)

    async def add_mapping(self, vm: Vm, name: str, port: int) -> Outcome:
        async with self._track(vm.key, "mapping port", "map port", f"{vm.id} {name}:{port}"):
            await self.mappings_api(vm).add_mapping(vm.id, name, port)
        return Outcome(f"Mapped {name} to port {port}", (name,))

    async def delete_mapping(self, vm: Vm, name: str) -> Outcome:
        async with self._track(vm.key, "removing mapping", "unmap port", f"{vm.id} {name}"):
            await self.mappings_api(vm).delete_mapping(vm.id, name)
        return Outcome(f"Removed {name}", (name,))

    # ------------------------------------------------------------------ labels, disk, environment

    async def set_labels(self, vm: Vm, labels: dict[str, str], *, replace: bool = False) -> Outcome:
        """Add or overwrite `labels` (keeping the others), or with `replace` make them the only ones."""
        verb, action = ("replacing labels", "replace labels") if replace else ("labelling", "set labels")
        shown = ",".join(f"{k}={v}" for k, v in labels.items())
        async with self._track(vm.key, verb, action, f"{vm.id} {shown}"):
            api = self.labels_api(vm)
            await (api.replace_labels(vm.id, labels) if replace else api.upsert_labels(vm.id, labels))
        if replace:
            return Outcome(f"Labels of {vm.id} are now: {shown or 'none'}", (vm.id,))
        return Outcome(f"Labelled {vm.id}: {shown}", (vm.id,))

    async def vm_labels(self, vm: Vm) -> dict[str, str]:
        """The VM's labels as the server has them now (the listed row may be a poll behind)."""
        return (await self.provider(vm.provider).get_vm(vm.id)).labels

    async def delete_label(self, vm: Vm, name: str) -> Outcome:
        async with self._track(vm.key, "unlabelling", "remove label", f"{vm.id} {name}"):
            await self.labels_api(vm).delete_label(vm.id, name)
        return Outcome(f"Removed label {name} from {vm.id}", (vm.id,))

    async def rename(self, vm: Vm, name: str) -> Outcome:
        """The `name` label is the display name: set it, or remove it when `name` is empty."""
        if not name:
            return await self.delete_label(vm, "name")
        async with self._track(vm.key, "renaming", "rename", f"{vm.id} {name}"):
            await self.labels_api(vm).upsert_labels(vm.id, {"name": name})
        return Outcome(f"Renamed {vm.id} to {name}", (vm.id,))

    async def resize_disk(self, vm: Vm, fs_size_mib: int) -> Outcome:
        vers = ("vers", "resize", vm.id, "--size", str(fs_size_mib))
        async with self._track(vm.key, "resizing", "resize disk", f"{vm.id} {fs_size_mib} MiB", vers):
            await self.disk_api(vm).resize_disk(vm.id, fs_size_mib)
        return Outcome(f"Disk of {vm.id} grown to {fs_size_mib} MiB", (vm.id,))

    async def list_env_vars(self, profile: str) -> dict[str, SecretStr]:
        return await self.env_vars_api(profile).list_env_vars()

    async def set_env_var(self, profile: str, key: str, value: SecretStr) -> Outcome:
        """Only the key goes into the log and the message; the value never does."""
        async with self._track(
            (profile, ""), "saving variable", "set env var", key, ("vers", "env", "set", key)
        ):
            await self.env_vars_api(profile).set_env_var(key, value)
        return Outcome(f"Saved {key}; VMs started from now on get it", (key,))

    async def delete_env_var(self, profile: str, key: str) -> Outcome:
        vers = ("vers", "env", "delete", key)
        async with self._track((profile, ""), "deleting variable", "delete env var", key, vers):
            await self.env_vars_api(profile).delete_env_var(key)
        return Outcome(f"Deleted {key}; VMs started from now on do not get it", (key,))
