"""The Provider interface every platform client implements, and the capability protocols of the
extras only some platforms have.

Each action a platform cannot do raises `Unsupported`; `capabilities` says so up front so the
UI can grey the action out with a reason instead of trying it. Extras (secrets, port mappings,
desktops) are protocols: callers ask `isinstance(provider, SecretsApi)`, never a provider's class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from vmtui.core.errors import Unsupported
from vmtui.core.models import (
    Capabilities,
    Commit,
    CommitTag,
    ExecEvent,
    ExecLogPage,
    ExecResult,
    FileDiff,
    FileTexts,
    Image,
    PortMapping,
    SshEndpoint,
    SshKey,
    Vm,
    VmConfig,
    VmMetrics,
)
from vmtui.core.swiftor_plans import Plan

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes_done, bytes_total) during uploads."""


class Provider:
    kind: str = "provider"
    capabilities: Capabilities = Capabilities()

    def __init__(self, name: str):
        self.name = name

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"{self.kind} cannot {what}")

    async def list_vms(self) -> list[Vm]:
        raise NotImplementedError

    async def list_commits(self) -> list[Commit]:
        return []

    async def commits_page(self, offset: int, limit: int) -> tuple[list[Commit], int]:
        """One page of the commits (newest first where the platform orders them) and how many there are."""
        commits = await self.list_commits()
        return commits[offset : offset + limit], len(commits)

    async def get_vm(self, vm_id: str) -> Vm:
        raise self._unsupported("show one VM")

    async def create_vm(self, config: VmConfig, *, wait_boot: bool = False) -> str:
        raise self._unsupported("create VMs")

    async def delete_vm(self, vm_id: str) -> None:
        raise self._unsupported("delete VMs")

    async def vm_metrics(self, vm_id: str) -> VmMetrics:
        """CPU time and memory in use now (when `capabilities.has_metrics`)."""
        raise self._unsupported("report CPU and memory use")

    async def pause_vm(self, vm_id: str) -> None:
        raise self._unsupported("pause VMs")

    async def resume_vm(self, vm_id: str) -> None:
        raise self._unsupported("resume VMs")

    async def start_vm(self, vm_id: str) -> None:
        raise self._unsupported("start VMs")

    async def stop_vm(self, vm_id: str) -> None:
        raise self._unsupported("stop VMs")

    async def branch(self, source_id: str, count: int = 1) -> list[str]:
        raise self._unsupported("branch")

    async def commit(
        self,
        vm_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        keep_paused: bool = False,
    ) -> str:
        raise self._unsupported("commit")

    async def restore(self, commit_id: str) -> str:
        raise self._unsupported("start VMs from commits")

    async def delete_commit(self, commit_id: str) -> None:
        raise self._unsupported("delete commits")

    async def update_commit(
        self, commit_id: str, *, is_public: bool, name: str | None = None, description: str | None = None
    ) -> Commit:
        """Publish or unpublish a commit and set its name and description."""
        raise self._unsupported("edit commits")

    async def commit_parents(self, commit_id: str) -> list[Commit]:
        """The commit and its ancestors, nearest first."""
        raise self._unsupported("show commit history")

    async def branch_commit(self, commit_id: str, count: int = 1) -> list[str]:
        """`count` new VMs started from a commit."""
        raise self._unsupported("branch from commits")

    async def ssh_key(self, vm_id: str) -> SshKey:
        raise self._unsupported("open SSH sessions")

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
        raise self._unsupported("open SSH sessions")

    async def exec(self, vm_id: str, command: list[str], *, timeout_secs: int | None = None) -> ExecResult:
        raise self._unsupported("run commands")

    async def exec_stream(
        self,
        vm_id: str,
        command: list[str],
        *,
        exec_id: str | None = None,
        timeout_secs: int | None = None,
    ) -> AsyncIterator[ExecEvent]:
        """Output chunks as the command writes them, then its exit. By default the synchronous `exec`,
        replayed as chunks and an exit once it ends (and no re-attaching)."""
        result = await self.exec(vm_id, command, timeout_secs=timeout_secs)
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                yield ExecEvent(kind="chunk", exec_id=exec_id, stream=stream, data=text.encode())
        yield ExecEvent(kind="exit", exec_id=exec_id, exit_code=result.exit_code)

    def exec_attach(
        self, vm_id: str, exec_id: str, *, cursor: int | None = None, from_latest: bool = False
    ) -> AsyncIterator[ExecEvent]:
        """A streamed exec's events after `cursor`, then live ones until it ends."""
        raise self._unsupported("re-attach to commands")

    async def exec_logs(
        self, vm_id: str, *, offset: int = 0, max_entries: int = 1000, stream: str | None = None
    ) -> ExecLogPage:
        """The VM's exec output log from byte `offset`."""
        raise self._unsupported("show exec logs")

    async def list_images(self) -> list[Image]:
        raise self._unsupported("list images")

    async def upload_image(self, name: str, tarball: Path, progress: ProgressCallback | None = None) -> None:
        raise self._unsupported("upload images")

    async def delete_image(self, name: str) -> None:
        raise self._unsupported("delete images")

    async def aclose(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class FirstRows:
    """Asks for a big list's first rows ahead of the rest: the `count` VMs that come first in the VM
    table's order, handed to `deliver` (with how many VMs the list holds) before the others are
    converted, so they can be drawn meanwhile."""

    order: Callable[[], tuple[str, bool]]
    """The table's order when the list arrives: (column key, reversed). The key is one of the VM
    table's columns (provider, name, state, age, parent, labels)."""
    deliver: Callable[[list[Vm], int], Awaitable[object] | None]
    """Takes the first rows; what it returns, when not None, ends once they are on screen: the rest is
    converted only then (converted meanwhile, it took every turn of the loop the drawing needed)."""
    count: int


@runtime_checkable
class FirstRowsList(Protocol):
    """A list that can hand on its first rows early (`FirstRows`)."""

    async def list_vms_first(self, first: FirstRows) -> list[Vm]:
        """The whole list, as `list_vms`; a list big enough that converting it takes a while hands
        `first` its first rows before the rest is converted (a smaller one, or one whose order cannot
        be read off the raw items, calls nothing)."""
        ...


@runtime_checkable
class EventStream(Protocol):
    """Changes pushed by the platform (`capabilities.event_stream`): `{"kind": "connected"}` once the
    stream is open, then one event per change; the stream ends or raises `ProviderError` when it drops."""

    def events(self) -> AsyncIterator[dict[str, str]]: ...


@runtime_checkable
class FileDiffApi(Protocol):
    """Files added, removed and changed between two commits, or a VM and the commit it started from,
    computed by the platform (when `capabilities.has_file_diff`)."""

    async def diff_commits(self, before_id: str, after_id: str) -> FileDiff: ...

    async def diff_vm(self, vm_id: str) -> FileDiff: ...

    async def diff_commits_text(self, before_id: str, after_id: str, path: str) -> FileTexts: ...

    async def diff_vm_text(self, vm_id: str, path: str) -> FileTexts: ...


@runtime_checkable
class CommitTagsApi(Protocol):
    """Names pointing at commits (`capabilities.has_tags`): list, create, move, delete; VMs from a tag."""

    async def list_tags(self) -> list[CommitTag]: ...

    async def create_tag(self, name: str, commit_id: str, description: str | None = None) -> None: ...

    async def move_tag(self, name: str, commit_id: str) -> None: ...

    async def delete_tag(self, name: str) -> None: ...

    async def branch_tag(self, name: str, count: int = 1) -> list[str]: ...


@runtime_checkable
class SecretsApi(Protocol):
    """Environment secrets per VM, applied at the VM's next start."""

    async def list_secrets(self, vmid: str) -> dict[str, SecretStr]: ...

    async def set_secret(self, vmid: str, key: str, value: SecretStr | str) -> None: ...

    async def delete_secret(self, vmid: str, key: str) -> None: ...


@runtime_checkable
class LabelsApi(Protocol):
    """A VM's labels after creation: add or overwrite some, replace them all, remove one."""

    async def upsert_labels(self, vm_id: str, labels: dict[str, str]) -> None: ...

    async def replace_labels(self, vm_id: str, labels: dict[str, str]) -> None: ...

    async def delete_label(self, vm_id: str, name: str) -> None: ...


@runtime_checkable
class DiskApi(Protocol):
    """Growing a VM's disk (never shrinking it)."""

    async def resize_disk(self, vm_id: str, fs_size_mib: int) -> None: ...


@runtime_checkable
class EnvVarsApi(Protocol):
    """Environment variables of the account, written into every VM at its boot."""

    async def list_env_vars(self) -> dict[str, SecretStr]: ...

    async def set_env_var(self, key: str, value: SecretStr | str) -> None: ...

    async def delete_env_var(self, key: str) -> None: ...


@runtime_checkable
class AccountApi(Protocol):
    """Who the key belongs to, the server's version and health, each as the server's own document."""

    async def whoami(self) -> dict[str, Any]: ...

    async def version(self) -> dict[str, Any]: ...

    async def health(self) -> dict[str, Any]: ...


@runtime_checkable
class PortMappingsApi(Protocol):
    """Public URLs for ports inside a VM, beside the VM's own desktop URL."""

    async def list_mappings(self, vmid: str) -> list[PortMapping]: ...

    async def add_mapping(self, vmid: str, name: str, port: int) -> PortMapping: ...

    async def delete_mapping(self, vmid: str, name: str) -> None: ...

    def desktop_url(self, vm_id: str) -> str: ...

    def mapping_url(self, mapping: PortMapping) -> str: ...


@runtime_checkable
class DesktopsApi(Protocol):
    """Desktop VMs made from a distribution and a plan (instead of `create_vm`); deleting one also
    deletes its storage, secrets and mappings."""

    async def account_plan(self) -> Plan: ...

    async def create_desktop(
        self,
        label: str,
        region: str,
        distribution: str,
        desktop: str | None,
        cpu: int,
        ram_gb: int,
        password: SecretStr,
        storage_type: str = "ephemeral",
    ) -> Vm: ...
