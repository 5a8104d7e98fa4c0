"""Provider-neutral domain models: what the UI and services reason about.

Wire formats live in the providers; they convert to these models at their boundary.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import is_not
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_new_object = object.__new__
_set_attribute = object.__setattr__
"""How pydantic's own `model_construct` fills a frozen model, without its per-field Python loop."""


class VmState(enum.StrEnum):
    BOOTING = "booting"
    RUNNING = "running"
    PAUSED = "paused"
    SLEEPING = "sleeping"
    STOPPED = "stopped"
    DEAD = "dead"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> VmState:
        """Normalise every spelling the APIs have used (current lowercase, older
        `Running`/`Paused`/`Not started`/`not_started`) into one state."""
        if isinstance(raw, VmState):
            return raw
        if not isinstance(raw, str):
            return cls.UNKNOWN
        exact = _STATE_ALIASES.get(raw)  # today's words as sent: one lookup, no normalising
        if exact is not None:
            return exact
        key = raw.strip().lower().replace(" ", "_").replace("-", "_")
        return _STATE_ALIASES.get(key, cls.UNKNOWN)

    @property
    def is_transitional(self) -> bool:
        return self is VmState.BOOTING

    @property
    def is_paused(self) -> bool:
        """Paused (the seed's word) or sleeping (today's Vers): frozen, resumable, treated alike."""
        return self in (VmState.PAUSED, VmState.SLEEPING)

    @property
    def is_live(self) -> bool:
        """A VM whose processes exist (it can be paused or resumed, committed, branched or entered)."""
        return self in (VmState.RUNNING, VmState.BOOTING) or self.is_paused


_STATE_ALIASES: dict[str, VmState] = {
    "booting": VmState.BOOTING,
    "starting": VmState.BOOTING,
    "running": VmState.RUNNING,
    "paused": VmState.PAUSED,
    "sleeping": VmState.SLEEPING,
    "dead": VmState.DEAD,
    "stopped": VmState.STOPPED,
    "not_started": VmState.STOPPED,
    "notstarted": VmState.STOPPED,
}


class Capabilities(BaseModel):
    """What a provider (or a provider for one VM) can do; the UI greys out the rest."""

    model_config = ConfigDict(frozen=True)

    can_create: bool = True
    can_delete: bool = True
    can_branch: bool = False
    can_commit: bool = False
    can_restore: bool = False
    can_pause: bool = False
    can_start_stop: bool = False
    has_ssh: bool = False
    has_exec: bool = False
    has_secrets: bool = False
    has_networking: bool = False
    has_images: bool = False
    has_metrics: bool = False
    """CPU and memory use per VM (`Provider.vm_metrics`)."""
    has_file_diff: bool = False
    """The platform compares file trees itself (`FileDiffApi`); others need temporary branches."""
    has_labels: bool = False
    """Labels editable after creation (`LabelsApi`); the `name` label is the display name."""
    can_resize: bool = False
    """A VM's disk can grow (`DiskApi`)."""
    has_environment: bool = False
    """Account-wide environment variables every new VM gets (`EnvVarsApi`)."""
    memory_snapshots: bool = False
    has_tags: bool = False
    """Commit tags: names that point at commits, moved and deleted (`CommitTagsApi`)."""
    has_account: bool = False
    """Who the key belongs to, the server's version and health (`AccountApi`)."""
    event_stream: bool = False
    """The provider pushes changes (`events()`): the poller follows them instead of polling."""

    def reason_missing(self, flag: str, provider_kind: str) -> str | None:
        """Why an action is unavailable, or None when it is available."""
        if getattr(self, flag, False):
            return None
        what = flag.removeprefix("can_").removeprefix("has_").replace("_", "/")
        return (
            f"{provider_kind} VMs cannot {what}"
            if flag.startswith("can_")
            else f"{provider_kind} has no {what}"
        )


class VmSpecs(BaseModel):
    model_config = ConfigDict(frozen=True)

    vcpu_count: int | None = None
    mem_size_mib: int | None = None
    fs_size_mib: int | None = None
    persistent_storage: bool | None = None


def shown_name(label: str | None, labels: Mapping[str, str], alias: str | None, vm_id: str) -> str:
    """A VM's name as shown: its label, else its `name` label, else the user's alias, else its id."""
    return label or labels.get("name") or alias or vm_id


class Vm(BaseModel):
    """One VM as the UI shows it, from any provider."""

    model_config = ConfigDict(frozen=True)

    provider: str = Field(description="Profile name the VM came from (row key together with id).")
    provider_kind: str = "vers"
    id: str
    state: VmState = VmState.UNKNOWN
    label: str | None = None
    owner_id: str | None = None
    created_at: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    alias: str | None = None
    """The user's local name for the VM (vers-cli's `~/.vers/aliases.json`), after its `name` label."""
    parent_commit_id: str | None = None
    grandparent_vm_id: str | None = None
    ip: str | None = None
    region: str | None = None
    image: str | None = None
    specs: VmSpecs = Field(default_factory=VmSpecs)
    extra: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_checked(cls, values: dict[str, Any]) -> Vm:
        """A Vm holding `values`, every field in field order, each already of its declared type (the
        caller checked them), without pydantic's validation: ~1 µs instead of ~4 µs a VM, most of what
        parsing a 100,000-VM list cost. Equal to `Vm(**values)`; `values` becomes the VM's own. Every
        such VM shares one fields-set: pydantic only copies a frozen model's (`model_copy`), never adds."""
        vm = _new_object(cls)
        _set_attribute(vm, "__dict__", values)
        _set_attribute(vm, "__pydantic_fields_set__", _ALL_VM_FIELDS)
        _set_attribute(vm, "__pydantic_extra__", None)
        _set_attribute(vm, "__pydantic_private__", None)
        return vm

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.id)

    @property
    def display_name(self) -> str:
        return shown_name(self.label, self.labels, self.alias, self.id)

    def info(self) -> dict[str, str | int | None]:
        """What `vers info` shows (None where the platform did not say): the describe view's header
        and `vmtui info`."""
        return {
            "id": self.id,
            "name": self.display_name,
            "state": self.state.value,
            "ip": self.ip,
            "vcpu": self.specs.vcpu_count,
            "memory_mib": self.specs.mem_size_mib,
            "disk_mib": self.specs.fs_size_mib,
            "parent_commit": self.parent_commit_id,
            "grandparent_vm": self.grandparent_vm_id,
        }


_ALL_VM_FIELDS = set(Vm.model_fields)


def replaced_in_place(before: Sequence[Vm], after: Sequence[Vm]) -> list[int] | None:
    """The positions where `after` holds another `Vm` object than `before` for the same VM (provider and
    id), when that is all that differs (a poll where a few VMs changed); None when a VM was added,
    removed or moved. Compared by identity first: C calls, not a Python step per VM (100,000 VMs)."""
    if len(before) != len(after):
        return None
    positions = list(compress(range(len(after)), map(is_not, before, after)))
    for position in positions:
        was, vm = before[position], after[position]
        if was.id != vm.id or was.provider != vm.provider:
            return None
    return positions


class Commit(BaseModel):
    """An immutable snapshot of a VM (Vers commit)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    id: str
    name: str | None = None
    description: str | None = None
    owner_id: str | None = None
    created_at: datetime | None = None
    parent_vm_id: str | None = None
    grandparent_commit_id: str | None = None
    is_public: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.id)

    @property
    def title(self) -> str | None:
        """The name a person gave it; None for none, or for the name Vers gives an unnamed commit
        (`commit: of_vm=<vm> timestamp=<time>`: the lineage and the age already say as much)."""
        if self.name is None or _AUTOMATIC_COMMIT_NAME.fullmatch(self.name):
            return None
        return self.name

    @property
    def display_name(self) -> str:
        """Its title, else its id: what names it in a sentence (a dialog's title, the palette)."""
        return self.title or self.id


_AUTOMATIC_COMMIT_NAME = re.compile(r"commit: of_vm=\S+ timestamp=.+")


class CommitTag(BaseModel):
    """A name pointing at one commit (a Vers org commit tag); moving it repoints the name."""

    model_config = ConfigDict(frozen=True)

    provider: str
    name: str
    commit_id: str
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VmConfig(BaseModel):
    """Input of a new root VM (Vers `vm_config`); every field optional as in the API."""

    model_config = ConfigDict(frozen=True)

    vcpu_count: int | None = Field(default=None, ge=1, le=64)
    mem_size_mib: int | None = Field(default=None, ge=64, le=1_048_576)
    fs_size_mib: int | None = Field(default=None, ge=64, le=16_777_216)
    image_name: str | None = None
    kernel_name: str | None = None
    labels: dict[str, str] | None = None


class VmMetrics(BaseModel):
    """One reading of a VM's resource use; CPU is cumulative, so a rate needs two readings."""

    model_config = ConfigDict(frozen=True)

    cpu_usage_usec: int | None
    memory_current_bytes: int | None
    memory_limit_bytes: int
    vcpu_count: int
    sampled_at: float
    """The server's monotonic clock, in seconds."""


class FileChange(BaseModel):
    """One path that differs between two file trees (sizes of regular files only)."""

    model_config = ConfigDict(frozen=True)

    path: str
    change: Literal["added", "removed", "changed"]
    kind: Literal["file", "dir", "symlink", "other"]
    size_before: int | None = None
    size_after: int | None = None


class FileDiff(BaseModel):
    """What changed from `before` (a commit; None: the image) to `after` (a commit or a VM)."""

    model_config = ConfigDict(frozen=True)

    before: str | None
    after: str
    changes: list[FileChange]
    truncated: bool = False


class FileTexts(BaseModel):
    """Both sides of one file for a text diff; None where it does not exist. `binary`: either side is
    not text (or too large), so neither is given."""

    model_config = ConfigDict(frozen=True)

    path: str
    before: str | None = None
    after: str | None = None
    binary: bool = False


class Image(BaseModel):
    """A root filesystem image a VM can be created from."""

    model_config = ConfigDict(frozen=True)

    name: str
    id: str | None = None
    """Today's Vers `base_image_id` (its delete route takes the id); None where images go by name."""
    size_bytes: int | None = None
    in_use: int = 0
    created_at: datetime | None = None


class SshKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    private_key_pem: str = Field(repr=False)
    port: int | None = None


class ExecResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    exit_code: int
    stdout: str = ""
    stderr: str = ""


class ExecEvent(BaseModel):
    """One event of a streamed exec: an output `chunk`, the `exit`, or an `error` the server reports
    instead of an exit (`code` and `message`). `cursor` orders them; re-attaching resumes after one."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["chunk", "exit", "error"]
    exec_id: str | None = None
    cursor: int | None = None
    stream: Literal["stdout", "stderr"] | None = None
    data: bytes = b""
    exit_code: int | None = None
    code: str = ""
    message: str = ""


class ExecLogEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    exec_id: str | None
    stream: Literal["stdout", "stderr"]
    data: bytes
    timestamp: str


class ExecLogPage(BaseModel):
    """Part of a VM's exec log; read on from `next_offset` until `eof`."""

    model_config = ConfigDict(frozen=True)

    entries: tuple[ExecLogEntry, ...]
    next_offset: int
    eof: bool


class Fleet(BaseModel):
    """One provider's state at one moment, as the poller hands it to the UI."""

    model_config = ConfigDict(frozen=True)

    provider: str
    vms: tuple[Vm, ...] = ()
    commits: tuple[Commit, ...] = ()
    tags: tuple[CommitTag, ...] = ()
    commits_total: int = 0
    """Commits the platform has: more than `commits` while only the first pages are fetched."""
    fetched_at: float = 0.0


class SshEndpoint(BaseModel):
    """Where and how to open SSH-over-TLS to one VM: TCP address plus the TLS server name (SNI)."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    server_name: str
    ca_path: str | None = None
    """CA bundle to verify the TLS certificate with; None means the system store."""
    insecure_tls: bool = False


class PortMapping(BaseModel):
    """A networking mapping: `name` subdomain → `port` inside the VM, served at `url`."""

    model_config = ConfigDict(frozen=True)

    vmid: str
    name: str
    port: int = Field(ge=1, le=65535)
    url: str | None = None


@dataclass(frozen=True)
class DesktopRequest:
    """A validated request for a new desktop VM (Swiftor's create form)."""

    label: str
    region: str
    distribution: str
    desktop: str | None
    cpu: int
    ram_gb: int
    password: SecretStr = field(repr=False)
    storage_type: str = "ephemeral"
