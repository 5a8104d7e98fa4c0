"""Request bodies and response models of the Vers-compatible API (and `/api/rootfs`).

The response models make `/openapi.json` a real schema; their fields are exactly the wire shapes
of `docs/research/vers-api.md` (unknown request fields are ignored, as the Vers server does).
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vmtui.local import layer_diff
from vmtui.local.catalog import ORG_NAME, Domain, Repository, Tag
from vmtui.local.engine import DEFAULT_IMAGE, VM_ADDRESS, Engine
from vmtui.local.store import CommitRecord, ImageRecord, VmRecord

# -- request bodies -----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class VmConfigIn(_Body):
    vcpu_count: int | None = Field(default=None, ge=1, le=64)
    mem_size_mib: int | None = Field(default=None, ge=16, le=1_048_576)
    fs_size_mib: int | None = Field(default=None, ge=16, le=16_777_216)
    kernel_name: str | None = None
    image_name: str | None = None
    labels: dict[str, str] | None = None


class NewRootIn(_Body):
    vm_config: VmConfigIn


class StateIn(_Body):
    state: Literal["Sleeping", "Paused", "Running"] = Field(
        description="`Sleeping` (vers-sdk 1.20.0) and `Paused` (the API introduction) both pause the VM"
    )


class LabelsIn(_Body):
    labels: dict[str, str] | None = Field(
        default=None, description="required: a body without it is a 400 (an empty map is explicit)"
    )


class DiskIn(_Body):
    fs_size_mib: int = Field(ge=16, le=16_777_216, description="larger than the VM's current disk")


class ExecAttachIn(_Body):
    exec_id: str = Field(min_length=1)
    cursor: int | None = Field(default=None, ge=0)
    from_latest: bool = False


class TagIn(_Body):
    tag_name: str
    commit_id: str
    description: str | None = None


class TagPatchIn(_Body):
    """`description` absent: unchanged; `null`: cleared; text: set."""

    commit_id: str | None = None
    description: str | None = None


class RepositoryIn(_Body):
    name: str
    description: str | None = None


class VisibilityIn(_Body):
    is_public: bool


class ForkIn(_Body):
    source_org: str
    source_repo: str
    source_tag: str
    repo_name: str | None = None
    tag_name: str | None = None


class DomainIn(_Body):
    domain: str
    vm_id: str


class ImageSourceIn(_Body):
    type: str


class CreateImageIn(_Body):
    image_name: str
    source: ImageSourceIn
    description: str | None = None
    size_mib: int | None = None


class CommitIn(_Body):
    commit_id: str | None = None
    name: str | None = None
    description: str | None = None

    @field_validator("commit_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value:
            return str(uuid.UUID(value))
        return None


class FromCommitIn(_Body):
    commit_id: str | None = None
    tag_name: str | None = None
    ref: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FromCommitIn:
        given = [name for name in ("commit_id", "tag_name", "ref") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("expected exactly one of commit_id, tag_name, ref")
        return self


class FileIn(_Body):
    path: str
    content_b64: str
    mode: int = 0o644
    create_dirs: bool = False

    @field_validator("content_b64")
    @classmethod
    def _base64(cls, value: str) -> str:
        base64.b64decode(value, validate=True)
        return value


class EnvVarsIn(_Body):
    vars: dict[str, str]
    replace: bool = False


class CommitPatchIn(_Body):
    is_public: bool
    name: str | None = None
    description: str | None = None


class ExecIn(_Body):
    command: list[str] = Field(min_length=1)
    env: dict[str, str] | None = None
    working_dir: str | None = None
    stdin: str | None = None
    timeout_secs: int | None = Field(default=None, ge=0)
    exec_id: str | None = None


# -- responses ----------------------------------------------------------------------------------


class VmOut(BaseModel):
    vm_id: str
    owner_id: str
    created_at: str
    state: str
    labels: dict[str, str]

    @classmethod
    def of(cls, engine: Engine, vm: VmRecord) -> VmOut:
        return cls(**cls.base_fields(engine, vm))

    @staticmethod
    def base_fields(engine: Engine, vm: VmRecord) -> dict[str, Any]:
        """The fields every VM answer starts with (built once, not dumped from a model and re-checked)."""
        return {
            "vm_id": vm.id,
            "owner_id": engine.owner_id,
            "created_at": vm.created_at,
            "state": engine.vm_state(vm),
            "labels": vm.labels,
        }


class VmMetadataOut(VmOut):
    deleted_at: str | None
    ip: str = Field(
        description="the VM's address inside its own network namespace: `127.0.0.1`, its only interface "
        "(VMs have no network; the engine reaches their ports through the namespace)"
    )
    parent_commit_id: str | None
    grandparent_vm_id: str | None
    image_name: str
    vcpu_count: int
    mem_size_mib: int
    fs_size_mib: int
    enforced_limits: list[str] | None = Field(
        description="limits the host really applies to the live VM; null when it has no sandbox now"
    )

    @classmethod
    def of(cls, engine: Engine, vm: VmRecord) -> VmMetadataOut:
        return cls(
            **VmOut.base_fields(engine, vm),
            deleted_at=vm.deleted_at,
            ip=VM_ADDRESS,
            parent_commit_id=vm.parent_commit_id,
            grandparent_vm_id=vm.grandparent_vm_id,
            image_name=vm.image,
            vcpu_count=vm.vcpu_count,
            mem_size_mib=vm.mem_size_mib,
            fs_size_mib=vm.fs_size_mib,
            enforced_limits=engine.enforced_limits(vm.id),
        )


class VmMetricsOut(BaseModel):
    """A VM's resource use now, from its cgroup (vmtui's own route; Vers has none). A client samples it
    twice and divides the CPU time's growth by the wall time between the samples."""

    vm_id: str
    cpu_usage_usec: int | None = Field(description="CPU time used by the VM's processes since it started")
    memory_current_bytes: int | None = Field(description="memory in use by the VM's processes")
    memory_limit_bytes: int = Field(description="the VM's memory size")
    vcpu_count: int
    sampled_at: float = Field(description="engine clock (monotonic seconds) when read")


class FileChangeOut(BaseModel):
    path: str = Field(description="absolute path; bytes that are not UTF-8 appear as \\xNN escapes")
    change: Literal["added", "removed", "changed"]
    kind: Literal["file", "dir", "symlink", "other"] = Field(
        description="what the path is now (before, if removed)"
    )
    size_before: int | None = Field(description="bytes of a regular file before, else null")
    size_after: int | None = Field(description="bytes of a regular file after, else null")


class FileDiffOut(BaseModel):
    """What changed in the files between two commits, or a VM and the commit it started from (vmtui's
    own routes; Vers has none)."""

    before: str | None = Field(description="the commit compared against (null: the VM's image)")
    after: str = Field(description="the commit or VM compared")
    changes: list[FileChangeOut]
    truncated: bool = Field(description=f"true when more than {layer_diff.MAX_ENTRIES} paths were looked at")

    @classmethod
    def of(
        cls, before: str | None, after: str, changes: list[layer_diff.Change], truncated: bool
    ) -> FileDiffOut:
        return cls(
            before=before,
            after=after,
            changes=[FileChangeOut(**dataclasses.asdict(c)) for c in changes],
            truncated=truncated,
        )


class FileTextDiffOut(BaseModel):
    """Both sides of one file for a text diff."""

    path: str
    before: str | None = Field(description="the text before (null: no such file)")
    after: str | None = Field(description="the text after (null: no such file)")
    binary: bool = Field(
        description=f"either side is not UTF-8 text, not a regular file or over {layer_diff.TEXT_MAX_BYTES} bytes"
    )


class VmListItemOut(VmOut):
    """A VM in `GET /vm`: Vers' list fields plus what Vers gives only in `/vm/{id}/metadata` (lineage,
    image and size; extra fields a Vers client ignores), so a client needs no metadata request per VM."""

    ip: str
    parent_commit_id: str | None
    grandparent_vm_id: str | None
    image_name: str
    vcpu_count: int
    mem_size_mib: int
    fs_size_mib: int

    @classmethod
    def of(cls, engine: Engine, vm: VmRecord) -> VmListItemOut:
        return cls(
            **VmOut.base_fields(engine, vm),
            ip=VM_ADDRESS,
            parent_commit_id=vm.parent_commit_id,
            grandparent_vm_id=vm.grandparent_vm_id,
            image_name=vm.image,
            vcpu_count=vm.vcpu_count,
            mem_size_mib=vm.mem_size_mib,
            fs_size_mib=vm.fs_size_mib,
        )


class VmIdOut(BaseModel):
    vm_id: str


class VmsOut(BaseModel):
    vms: list[VmIdOut]

    @classmethod
    def of(cls, vms: list[VmRecord]) -> VmsOut:
        return cls(vms=[VmIdOut(vm_id=vm.id) for vm in vms])


class CommitIdOut(BaseModel):
    commit_id: str


class _CommitFields(BaseModel):
    name: str
    owner_id: str
    created_at: str
    is_public: bool
    description: str | None
    parent_vm_id: str | None
    grandparent_commit_id: str | None

    @staticmethod
    def fields_of(engine: Engine, commit: CommitRecord) -> dict[str, object]:
        return {
            "name": commit.name,
            "owner_id": engine.owner_id,
            "created_at": commit.created_at,
            "is_public": commit.is_public,
            "description": commit.description,
            "parent_vm_id": commit.parent_vm_id,
            "grandparent_commit_id": commit.grandparent_commit_id,
        }


class CommitOut(_CommitFields):
    commit_id: str

    @classmethod
    def of(cls, engine: Engine, commit: CommitRecord) -> CommitOut:
        return cls(commit_id=commit.id, **cls.fields_of(engine, commit))  # type: ignore[arg-type]


class CommitParentOut(_CommitFields):
    """A commit in a lineage listing, where Vers names its id `id`."""

    id: str

    @classmethod
    def of(cls, engine: Engine, commit: CommitRecord) -> CommitParentOut:
        return cls(id=commit.id, **cls.fields_of(engine, commit))  # type: ignore[arg-type]


class CommitsPage(BaseModel):
    commits: list[CommitOut]
    total: int
    limit: int
    offset: int


class SshKeyOut(BaseModel):
    ssh_private_key: str
    ssh_port: int


class ExecOut(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    exec_id: str | None = Field(default=None, description="echoed when the request named one")


class FileContentOut(BaseModel):
    content_b64: str


class EnvVarsOut(BaseModel):
    vars: dict[str, str]


class BaseImageOut(BaseModel):
    base_image_id: str
    image_name: str
    owner_id: str
    is_public: bool
    size_mib: int
    source_type: Literal["builtin", "upload"]
    created_at: str
    description: str | None = None

    @classmethod
    def of(cls, engine: Engine, image: ImageRecord) -> BaseImageOut:
        builtin = image.name == DEFAULT_IMAGE
        return cls(
            base_image_id=image.name,
            image_name=image.name,
            owner_id=engine.owner_id,
            is_public=builtin,
            size_mib=image.size_bytes // 2**20,
            source_type="builtin" if builtin else "upload",
            created_at=image.created_at,
        )


class ImagesPage(BaseModel):
    images: list[BaseImageOut]
    total: int
    limit: int
    offset: int


class Capabilities(BaseModel):
    """What this engine can do; `memory_snapshots` is false because commits capture the filesystem only."""

    can_create: bool = True
    can_delete: bool = True
    can_branch: bool = True
    can_commit: bool = True
    can_restore: bool = True
    can_pause: bool = True
    can_start_stop: bool = False
    has_ssh: bool = True
    has_exec: bool = True
    has_images: bool = True
    has_secrets: bool = False
    has_networking: bool = False
    memory_snapshots: bool = False


class VersionOut(BaseModel):
    executable_name: str
    workspace_version: str
    git_hash: str
    capabilities: Capabilities


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    capabilities: Capabilities
    vms: int


class RootfsImageOut(BaseModel):
    name: str
    size_bytes: int
    in_use: int = Field(description="VMs and commits built on the image")
    created_at: str | None

    @classmethod
    def of(cls, engine: Engine, image: ImageRecord) -> RootfsImageOut:
        vms, commits = engine.image_usage(image.name)
        return cls(
            name=image.name,
            size_bytes=image.size_bytes,
            in_use=vms + commits,
            created_at=image.created_at or None,
        )


class RootfsListOut(BaseModel):
    rootfs_names: list[str]
    images: list[RootfsImageOut]


class RootfsUploadedOut(BaseModel):
    rootfs_name: str
    size_bytes: int


class RootfsNameOut(BaseModel):
    rootfs_name: str


# -- today's Vers API: exec logs, tags, repositories, domains, images, account ---------------------


class ExecLogEntryOut(BaseModel):
    exec_id: str | None
    stream: Literal["stdout", "stderr"]
    data_b64: str
    timestamp: str


class ExecLogOut(BaseModel):
    entries: list[ExecLogEntryOut]
    next_offset: int
    eof: bool


class TagOut(BaseModel):
    tag_id: str
    tag_name: str
    commit_id: str
    description: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, tag: Tag) -> TagOut:
        return cls(**vars(tag))


class TagCreatedOut(BaseModel):
    tag_id: str
    tag_name: str
    commit_id: str


class TagsOut(BaseModel):
    tags: list[TagOut]


class RepoTagOut(TagOut):
    reference: str = Field(description="`repo:tag`")

    @classmethod
    def in_repo(cls, repo: Repository, tag: Tag) -> RepoTagOut:
        return cls(**vars(tag), reference=f"{repo.name}:{tag.tag_name}")


class RepoTagCreatedOut(BaseModel):
    tag_id: str
    commit_id: str
    reference: str


class RepoTagsOut(BaseModel):
    repository: str
    tags: list[RepoTagOut]


class RepositoryOut(BaseModel):
    repo_id: str
    name: str
    description: str | None
    is_public: bool
    created_at: str

    @classmethod
    def of(cls, repo: Repository) -> RepositoryOut:
        return cls(**vars(repo))


class RepositoryCreatedOut(BaseModel):
    repo_id: str
    name: str


class RepositoriesOut(BaseModel):
    repositories: list[RepositoryOut]


class PublicRepositoryOut(BaseModel):
    repo_id: str
    name: str
    org_name: str
    full_name: str
    description: str | None
    created_at: str

    @classmethod
    def of(cls, repo: Repository) -> PublicRepositoryOut:
        return cls(
            repo_id=repo.repo_id,
            name=repo.name,
            org_name=ORG_NAME,
            full_name=repo.full_name,
            description=repo.description,
            created_at=repo.created_at,
        )


class PublicRepositoriesOut(BaseModel):
    repositories: list[PublicRepositoryOut]


class ForkOut(BaseModel):
    vm_id: str
    commit_id: str
    repo_name: str
    tag_name: str
    reference: str


class DomainOut(BaseModel):
    domain_id: str
    domain: str
    vm_id: str
    created_at: str

    @classmethod
    def of(cls, domain: Domain) -> DomainOut:
        return cls(**vars(domain))


class DomainIdOut(BaseModel):
    domain_id: str


class ImageJobOut(BaseModel):
    image_name: str
    job_id: str
    status: Literal["completed"] = Field(description="uploads are imported before the answer")


class ImageStatusOut(BaseModel):
    image_name: str
    size_mib: int
    status: Literal["completed"]
    error_message: str | None = None


class ImageDeletedOut(BaseModel):
    base_image_id: str
    deleted: bool


class WhoamiUserOut(BaseModel):
    id: str
    email: str
    user_name: str


class WhoamiOrgOut(BaseModel):
    id: str
    name: str


class WhoamiKeyOut(BaseModel):
    id: str = Field(description="a hash of the key, never the key")
    label: str
    created_at: str
    expires_at: str | None = None
    max_memory_mib: int | None = None
    max_vcpus: int | None = None


class WhoamiOut(BaseModel):
    user: WhoamiUserOut
    org: WhoamiOrgOut
    api_key: WhoamiKeyOut


class KeyValidOut(BaseModel):
    valid: bool
    message: str
