"""Swiftor client (https://api.swiftor.io, or the local engine's `/swiftor` API).

Contract: the Swiftor VM API document (docs/seeds/003), every request and response body to the
letter. HS256 JWT bearer auth, FastAPI errors `{"detail": ...}` (a string, or a 422 validation list),
state changes over GET, no status endpoint: `enabled` is the only state (running or stopped).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from vmtui.core.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    NotFound,
    ProviderError,
    QuotaExceeded,
    Unsupported,
)
from vmtui.core.models import (
    Capabilities,
    ExecResult,
    PortMapping,
    SshEndpoint,
    SshKey,
    Vm,
    VmConfig,
    VmSpecs,
    VmState,
)
from vmtui.core.redact import redact
from vmtui.core.swiftor_plans import Plan, distribution_problem, plan_for
from vmtui.providers.base import Provider
from vmtui.providers.http import HttpClient, RetryPolicy, error_for_status, snippet, validate

_LIMIT_WORDING = re.compile(r"\b(plan|limits?|quota|exceed(s|ed)?)\b", re.IGNORECASE)
_EXEC_DEFAULT_TIMEOUT = 300
# The docs' examples send it, and the legacy backend's CORS allows only this origin.
_HEADERS = {"Origin": "https://swiftor.io"}


class _Specs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cpu: int | None = Field(default=None, ge=0, le=4096)
    ram: float | None = Field(default=None, ge=0, le=1_048_576)
    storage: bool | int | str | None = None


class _Os(BaseModel):
    model_config = ConfigDict(extra="ignore")

    distribution: str | dict[str, Any] | None = None
    desktop: str | None = None


class _WireVm(BaseModel):
    """A VM as `GET /vms` lists it (D-vms); `region` may also come as `{"code": ...}`."""

    model_config = ConfigDict(extra="ignore")

    id: str
    vmlabel: str | None = None
    region: str | dict[str, Any] | None = None
    os: _Os = Field(default_factory=_Os)
    specs: _Specs = Field(default_factory=_Specs)
    enabled: bool = False
    user_id: str | None = None
    """Only in create's answer."""


class _WireMapping(BaseModel):
    """One mapping of `GET /vms/networking`: `{"subdomain": <name>, "internal_port": <port>}`."""

    model_config = ConfigDict(extra="ignore")

    subdomain: str
    internal_port: int = Field(ge=1, le=65535)


class _WireMappingAdded(BaseModel):
    """`POST /vms/networking`'s answer: `message`, `subdomain` (`name.vmid.swiftor.io` in the seed's
    example, though its URLs are `name-vmid.swiftor.io`) and `internal_port`."""

    model_config = ConfigDict(extra="ignore")

    message: str
    internal_port: int = Field(ge=1, le=65535)


class _WireCreated(BaseModel):
    """`POST /vms/create`'s answer: `{"message", "vm": {..., "user_id"}}`."""

    model_config = ConfigDict(extra="ignore")

    message: str
    vm: dict[str, Any]


class _WireSshKey(BaseModel):
    ssh_private_key: str = Field(repr=False)
    ssh_port: int | None = None


_VM_ADAPTER = TypeAdapter(_WireVm)
_SSH_KEY_ADAPTER = TypeAdapter(_WireSshKey)
_EXEC_ADAPTER = TypeAdapter(ExecResult)
_MAPPINGS_ADAPTER = TypeAdapter(dict[str, dict[str, _WireMapping]])
_MAPPING_ADDED_ADAPTER = TypeAdapter(_WireMappingAdded)
_CREATED_ADAPTER = TypeAdapter(_WireCreated)


def _code(value: str | dict[str, Any] | None) -> str | None:
    if isinstance(value, dict):
        code = value.get("code")
        return str(code) if code is not None else None
    return value


def _persistent(storage: bool | int | str | None) -> bool | None:
    if storage is None:
        return None
    if isinstance(storage, str):
        return storage.strip().lower() in ("persistent", "true", "yes", "1")
    return bool(storage)


def _seg(value: str) -> str:
    """One URL path segment: an id or key can never add path components."""
    return quote(value, safe="")


def _detail_message(detail: object) -> str | None:
    """One readable sentence from FastAPI's `detail`: a string, or a validation list naming the
    fields (only field names and messages, never the rejected `input`, which may be a password)."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                continue
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
            msg = item.get("msg")
            field = ".".join(loc) or "request"
            parts.append(f"{field}: {msg}" if isinstance(msg, str) else f"{field} is invalid")
        return "invalid request: " + "; ".join(parts) if parts else None
    if isinstance(detail, dict):
        for key in ("message", "msg", "error"):
            value = detail.get(key)
            if isinstance(value, str):
                return value
    return None


class SwiftorProvider(Provider):
    kind = "swiftor"
    capabilities = Capabilities(
        can_create=True, can_delete=True, can_start_stop=True, has_secrets=True, has_networking=True
    )

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str | SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        verify: bool | str = True,
        max_retries: int = 3,
        public_domain: str | None = None,
        local_engine: bool = False,
        ssh_address: tuple[str, int] | None = None,
        ca_path: str | None = None,
        vm_domain: str = "vm.localhost",
        insecure_tls: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        """`local_engine=True` for `vmtui serve`'s Swiftor API, which adds exec and SSH keys; SSH
        then goes to `ssh_address` over TLS with SNI `<vm_id>.<vm_domain>`, verified with `ca_path`."""
        super().__init__(name)
        if local_engine:
            self.capabilities = self.capabilities.model_copy(
                update={"has_exec": True, "has_ssh": ssh_address is not None}
            )
        self.ssh_address = ssh_address
        self.ca_path = ca_path
        self.vm_domain = vm_domain
        self.insecure_tls = insecure_tls
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._http = HttpClient(
            base_url,
            token=self._token,
            verify=verify,
            transport=transport,
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries),
            error_factory=self._error_for,
            sleep=sleep,
        )
        self.base_url = self._http.base_url
        self._url_scheme, self._url_domain = self._public_host(public_domain)

    def __repr__(self) -> str:
        return f"SwiftorProvider(name={self.name!r}, base_url={self.base_url!r})"

    def _public_host(self, public_domain: str | None) -> tuple[str, str]:
        """Scheme and domain of VM URLs: `{vmid}.swiftor.io` for the platform (api.X → X), and
        `{vmid}.localhost:PORT` on the engine's own listener for a loopback base URL."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        if public_domain:
            return ("https" if parts.scheme == "https" else "http"), public_domain
        if host in ("127.0.0.1", "localhost", "::1") or host.endswith(".localhost"):
            return parts.scheme or "http", f"localhost:{parts.port}" if parts.port else "localhost"
        return "https", host.removeprefix("api.") or "swiftor.io"

    # -- transport -------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, [self._token.get_secret_value()])

    async def _send(self, method: str, path: str, *, json_body: object | None = None) -> None:
        await self._http.send(method, path, json_body=json_body, headers=_HEADERS)

    async def _send_json(self, method: str, path: str, *, json_body: object | None = None) -> object:
        return await self._http.send_json(method, path, json_body=json_body, headers=_HEADERS)

    def _error_for(self, status: int, message: str, body: object, retry_after: float | None) -> ProviderError:
        """Swiftor's refinement of the shared mapping: a 422 list names every field (never the
        rejected input, which may be a password); a 400 about plan limits is QuotaExceeded."""
        if isinstance(body, dict):
            detail = _detail_message(body.get("detail"))
            if detail:
                message = self._redact(snippet(detail))
        if status == 403:
            return AuthError(message, status=status)
        if status == 400 and _LIMIT_WORDING.search(message):
            return QuotaExceeded(message, status=status)
        return error_for_status(status, message, retry_after)

    # -- account ------------------------------------------------------------------------------

    async def account_plan(self) -> Plan:
        """The user's plan from `GET /init` (legacy `{"plan"}` or `{"user": {"plan"}}`), normalised;
        the create form checks CPU/RAM/storage against its limits."""
        answer = await self._send_json("GET", "/init")
        user = answer.get("user", answer) if isinstance(answer, dict) else None
        raw = user.get("plan") if isinstance(user, dict) else None
        if raw is not None and not isinstance(raw, str):
            raise BadResponse(f"Swiftor plan is not a string: {snippet(repr(raw))}")
        return plan_for(raw)

    # -- VMs --------------------------------------------------------------------------------

    def _to_vm(self, raw: object) -> Vm:
        wire = validate(_VM_ADAPTER, raw, "Swiftor VM")
        distribution = _code(wire.os.distribution)
        image = None
        if distribution:
            image = f"{distribution}-{wire.os.desktop}" if wire.os.desktop else distribution
        ram = wire.specs.ram
        return Vm(
            provider=self.name,
            provider_kind=self.kind,
            id=wire.id,
            state=VmState.RUNNING if wire.enabled else VmState.STOPPED,
            label=wire.vmlabel,
            owner_id=wire.user_id,
            region=_code(wire.region),
            image=image,
            specs=VmSpecs(
                vcpu_count=wire.specs.cpu,
                mem_size_mib=int(ram * 1024) if ram is not None else None,
                persistent_storage=_persistent(wire.specs.storage),
            ),
        )

    @staticmethod
    def _field(body: object, key: str) -> object:
        if not isinstance(body, dict) or key not in body:
            raise BadResponse(f"Swiftor answer lacks {key!r}: {snippet(repr(body))}")
        return body[key]

    async def list_vms(self) -> list[Vm]:
        raw = self._field(await self._send_json("GET", "/vms"), "vms")
        if not isinstance(raw, list):
            raise BadResponse(f"Swiftor 'vms' is not a list: {snippet(repr(raw))}")
        return [self._to_vm(item) for item in raw]

    async def get_vm(self, vm_id: str) -> Vm:
        for vm in await self.list_vms():
            if vm.id == vm_id:
                return vm
        raise NotFound(f"VM not found: {vm_id}", status=404)

    async def create_vm(self, config: VmConfig, *, wait_boot: bool = False) -> str:
        raise Unsupported("Swiftor VMs need a label, distribution and password: use create_desktop")

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
    ) -> Vm:
        """`POST /vms/create`: the VM is stored stopped (`enabled: false`); the password becomes its
        VM_PASSWORD secret; `storage_type="persistent"` keeps `/config` across stop/start."""
        problem = distribution_problem(distribution, desktop)
        if problem:
            raise BadRequest(problem)
        body = {
            "config": {
                "vmlabel": label,
                "region": {"code": region},
                "password": password.get_secret_value(),
                "storageType": storage_type,
            },
            "os": {"distribution": {"code": distribution}, "desktop": desktop, "cpu": cpu, "ram": ram_gb},
        }
        answer = await self._send_json("POST", "/vms/create", json_body=body)
        return self._to_vm(validate(_CREATED_ADAPTER, answer, "Swiftor create").vm)

    async def start_vm(self, vm_id: str) -> None:
        await self._send("GET", f"/vms/start/{_seg(vm_id)}")

    async def stop_vm(self, vm_id: str) -> None:
        await self._send("GET", f"/vms/stop/{_seg(vm_id)}")

    async def delete_vm(self, vm_id: str) -> None:
        await self._send("GET", f"/vms/delete/{_seg(vm_id)}")

    # -- shell access (local engine only) -------------------------------------------------------

    async def exec(self, vm_id: str, command: list[str], *, timeout_secs: int | None = None) -> ExecResult:
        """`POST /vms/exec`: run `command` in the running VM to completion."""
        if not self.capabilities.has_exec:
            raise self._unsupported("run commands")
        if not command or not all(isinstance(part, str) for part in command):
            raise BadRequest("command must be a non-empty list of strings")
        body: dict[str, Any] = {"vmid": vm_id, "command": list(command)}
        if timeout_secs:
            body["timeout_secs"] = timeout_secs
        answer = await self._http.send_json(
            "POST",
            "/vms/exec",
            json_body=body,
            headers=_HEADERS,
            timeout=(timeout_secs or _EXEC_DEFAULT_TIMEOUT) + 10.0,
        )
        return validate(_EXEC_ADAPTER, answer, "Swiftor exec")

    async def ssh_key(self, vm_id: str) -> SshKey:
        """`GET /vms/ssh_key/{vmid}` (local engine extension)."""
        if not self.capabilities.has_ssh:
            raise self._unsupported("open SSH sessions")
        answer = await self._send_json("GET", f"/vms/ssh_key/{_seg(vm_id)}")
        wire = validate(_SSH_KEY_ADAPTER, answer, "Swiftor SSH key")
        return SshKey(private_key_pem=wire.ssh_private_key, port=wire.ssh_port)

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
        if self.ssh_address is None or not self.capabilities.has_ssh:
            raise self._unsupported("open SSH sessions")
        host, port = self.ssh_address
        return SshEndpoint(
            host=host,
            port=port,
            server_name=f"{_seg(vm_id)}.{self.vm_domain}",
            ca_path=self.ca_path,
            insecure_tls=self.insecure_tls,
        )

    # -- secrets ----------------------------------------------------------------------------

    async def list_secrets(self, vmid: str) -> dict[str, SecretStr]:
        """The VM's environment variables (applied at its next start), values hidden in reprs."""
        raw = self._field(await self._send_json("GET", "/vms/secrets"), "secrets")
        found: dict[str, SecretStr] = {}
        if isinstance(raw, dict):
            per_vm = raw.get(vmid, {})
            if not isinstance(per_vm, dict):
                raise BadResponse("Swiftor secrets of a VM are not a key/value object")
            items = [(k, v) for k, v in per_vm.items()]
        elif isinstance(raw, list):
            items = [
                (item.get("key"), item.get("value"))
                for item in raw
                if isinstance(item, dict) and item.get("vmid") == vmid
            ]
        else:
            raise BadResponse("Swiftor 'secrets' is neither an object nor a list")
        for key, value in items:
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
                raise BadResponse("Swiftor returned a secret that is not a string")
            found[key] = SecretStr(str(value))
        return found

    async def set_secret(self, vmid: str, key: str, value: SecretStr | str) -> None:
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        await self._send("POST", "/vms/secrets", json_body={"vmid": vmid, "key": key, "value": plain})

    async def delete_secret(self, vmid: str, key: str) -> None:
        await self._send("DELETE", f"/vms/secrets/{_seg(vmid)}/{_seg(key)}")

    # -- networking -------------------------------------------------------------------------

    async def list_mappings(self, vmid: str) -> list[PortMapping]:
        """`GET /vms/networking` → `{"networking": {vmid: {name: {"subdomain", "internal_port"}}}}`."""
        raw = self._field(await self._send_json("GET", "/vms/networking"), "networking")
        per_vm = validate(_MAPPINGS_ADAPTER, raw, "Swiftor networking").get(vmid, {})
        return [self._mapping(vmid, name, wire.internal_port) for name, wire in per_vm.items()]

    async def add_mapping(self, vmid: str, name: str, port: int) -> PortMapping:
        """`POST /vms/networking` with `{"vmid", "name", "internal_port"}`."""
        answer = await self._send_json(
            "POST", "/vms/networking", json_body={"vmid": vmid, "name": name, "internal_port": port}
        )
        added = validate(_MAPPING_ADDED_ADAPTER, answer, "Swiftor networking")
        return self._mapping(vmid, name, added.internal_port)

    def _mapping(self, vmid: str, name: str, port: int) -> PortMapping:
        mapping = PortMapping(vmid=vmid, name=name, port=port)
        return mapping.model_copy(update={"url": self.mapping_url(mapping)})

    async def delete_mapping(self, vmid: str, name: str) -> None:
        await self._send("DELETE", f"/vms/networking/{_seg(vmid)}/{_seg(name)}")

    # -- URLs -------------------------------------------------------------------------------

    def desktop_url(self, vm_id: str) -> str:
        return f"{self._url_scheme}://{vm_id}.{self._url_domain}"

    def mapping_url(self, mapping: PortMapping) -> str:
        return f"{self._url_scheme}://{mapping.name}-{mapping.vmid}.{self._url_domain}"

    async def vm_urls(self, vm: Vm) -> list[tuple[str, str]]:
        """`("desktop", <desktop URL>)` first, then `(mapping name, URL)` per networking mapping."""
        urls = [("desktop", self.desktop_url(vm.id))]
        urls += [(m.name, m.url or self.mapping_url(m)) for m in await self.list_mappings(vm.id)]
        return urls

    async def aclose(self) -> None:
        await self._http.aclose()
