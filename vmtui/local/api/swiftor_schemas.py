"""Request bodies and response models of the local Swiftor API: seed 003's bodies to the letter."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from vmtui.local.swiftor_store import SwiftorVm

LIVE_STATES = ("booting", "running", "paused")

# -- request bodies ---------------------------------------------------------------------------


class Code(BaseModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class CreateConfig(BaseModel):
    vmlabel: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    region: Code
    password: SecretStr = Field(min_length=1, max_length=256)
    storageType: str | None = Field(default=None, max_length=32)


class CreateOs(BaseModel):
    distribution: Code
    desktop: str | None = Field(default=None, max_length=32)
    cpu: int = Field(ge=1, le=64)
    ram: int = Field(ge=1, le=256, description="GB")


class CreateBody(BaseModel):
    config: CreateConfig
    os: CreateOs


class SecretBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    value: SecretStr = Field(max_length=65536)


class ExecBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    command: list[str] | str = Field(min_length=1, description="argv, or a string run by /bin/sh -c")
    timeout_secs: int | None = Field(default=None, ge=1, le=3600)


class MappingBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    internal_port: int = Field(ge=1, le=65535)


# -- responses --------------------------------------------------------------------------------


class AccountOut(BaseModel):
    username: str
    plan: str
    roles: list[str]


class SwiftorVmOs(BaseModel):
    distribution: str
    desktop: str | None


class SwiftorVmSpecs(BaseModel):
    cpu: int
    ram: int = Field(description="GB")
    storage: bool = Field(description="persistent /config")


class SwiftorVmOut(BaseModel):
    id: str
    vmlabel: str
    region: str
    os: SwiftorVmOs
    specs: SwiftorVmSpecs
    enabled: bool

    @classmethod
    def of(cls, vm: SwiftorVm, state: str) -> SwiftorVmOut:
        return cls(
            id=vm.id,
            vmlabel=vm.label,
            region=vm.region,
            os=SwiftorVmOs(distribution=vm.distribution, desktop=vm.desktop),
            specs=SwiftorVmSpecs(cpu=vm.cpu, ram=vm.ram_gb, storage=vm.persistent),
            enabled=state in LIVE_STATES,
        )


class CreatedVmOut(SwiftorVmOut):
    user_id: str


class VmListOut(BaseModel):
    vms: list[SwiftorVmOut]


class VmCreatedOut(BaseModel):
    message: str
    vm: CreatedVmOut


class MessageOut(BaseModel):
    message: str


class SwiftorExecOut(BaseModel):
    exit_code: int
    stdout: str
    stderr: str


class SwiftorSshKeyOut(BaseModel):
    ssh_private_key: str
    ssh_port: int | None


class SecretsOut(BaseModel):
    secrets: dict[str, dict[str, str]] = Field(description="VM id → name → value")


class SecretChangedOut(BaseModel):
    message: str
    vmid: str
    key: str


class MappingOut(BaseModel):
    subdomain: str = Field(description="the chosen name")
    internal_port: int


class MappingsOut(BaseModel):
    networking: dict[str, dict[str, MappingOut]] = Field(description="VM id → name → mapping")


class MappingAddedOut(BaseModel):
    message: str
    subdomain: str = Field(description="the host that serves it: `{name}-{vmid}.<domain>`")
    internal_port: int


class MappingDeletedOut(BaseModel):
    message: str
    vmid: str
    name: str
