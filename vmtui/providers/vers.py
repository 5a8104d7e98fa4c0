"""Vers API client (api.vers.sh and the local engine `vmtui serve`, which speaks the same API).

It speaks both contracts: the seed's (docs/seeds/000: `GET /vms`, `{"state": "Paused"}`, `/api/rootfs`)
and today's (vers-sdk 1.20.0: `GET /vm`, `{"state": "Sleeping"}`, `/images`, label upsert/replace/delete).
Where they differ it tries today's route or word first, falls back on the seed's when the server refuses
it, and remembers the one that worked for this profile, so later calls cost one request.

Wire models below mirror the API (current shapes plus the older ones: cluster-era `id`/`alias`/`ip_address`
and the `{"data": ...}` envelope, a branch answering one `{"vm_id"}`, capitalised states); they are turned
into core models at this boundary. Transport, retries and error mapping live in `providers/http.py`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import heapq
import json
import operator
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from vmtui.core.collector import collector
from vmtui.core.errors import BadRequest, BadResponse, Conflict, NotFound, ProviderError, Unsupported
from vmtui.core.models import (
    Capabilities,
    Commit,
    CommitTag,
    ExecEvent,
    ExecLogEntry,
    ExecLogPage,
    ExecResult,
    FileDiff,
    FileTexts,
    Image,
    SshEndpoint,
    SshKey,
    Vm,
    VmConfig,
    VmMetrics,
    VmSpecs,
    VmState,
    shown_name,
)
from vmtui.core.vm_order import SORT_VALUES
from vmtui.providers.base import FirstRows, ProgressCallback, Provider
from vmtui.providers.http import (
    HttpClient,
    RetryPolicy,
    error_for_status,
    snippet,
    validate,
)

API = "/api/v1"
PAGE_SIZE = 100
MAX_PAGES = 1000
METADATA_CONCURRENCY = 8
PARSE_SLICE = 10_000
"""VM list items converted per turn of the event loop (~30 ms)."""
SLICE_AFTER_FIRST_ROWS = 2_000
"""Items per turn once a big list's first rows are handed on (5-15 ms): drawing them takes Textual a
few turns of the loop, each of which would wait for a slice."""
FIRST_ROWS_FROM = 2_000
"""Lists longer than this hand their first rows on early when asked (`list_vms_first`); a shorter one
is converted in the time a frame takes (at 10,000 VMs converting first cost 50-100 ms of the first rows)."""
FIRST_ROWS_SHOWN_WAIT = 1.0
"""Seconds a big list's rest waits at most for its first rows to be on screen (`FirstRows.deliver`)."""
LONG_TIMEOUT = 130.0
"""Commit, branch, boot-waiting create: the server's own request timeout is 120 s."""
UPLOAD_CHUNK = 256 * 1024
_MISSING_ROUTE = (404, 405)
_REFUSED_VALUE = (400, 422)
PAUSE_WORDS = ("Sleeping", "Paused")
"""Today's pause state (vers-sdk 1.20.0 `VmUpdateStateEnum`), then the seed's."""
_NOT_MODIFIED = frozenset({304})

W = TypeVar("W")
_NO_SPECS = VmSpecs()
EVENT_READ_TIMEOUT = 45.0
_LINEAGE_FIELDS = frozenset({"parent_commit_id", "grandparent_vm_id"})
"""List items carrying both keys (values may be null) need no metadata request for lineage."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WireVm(_Wire):
    """A VM from `GET /vms`, `/vm/{id}/status` or `/vm/{id}/metadata` (metadata adds ip and lineage)."""

    vm_id: str = Field(min_length=1, validation_alias=AliasChoices("vm_id", "id"))
    owner_id: str | None = None
    created_at: datetime | None = None
    state: str | None = None
    labels: dict[str, str] | None = None
    alias: str | None = None
    ip: str | None = Field(default=None, validation_alias=AliasChoices("ip", "ip_address"))
    parent_commit_id: str | None = None
    grandparent_vm_id: str | None = None
    vcpu_count: int | None = None
    mem_size_mib: int | None = None
    fs_size_mib: int | None = None
    image_name: str | None = None
    """Not in the current Vers API; the local engine and the cluster-era API report it."""

    def to_vm(self, provider: str, aliases: Mapping[str, str]) -> Vm:
        """`aliases`: the user's local names by VM id (vers-cli's alias file)."""
        return Vm(
            provider=provider,
            provider_kind="vers",
            id=self.vm_id,
            state=VmState.parse(self.state),
            label=self.alias,
            owner_id=self.owner_id,
            created_at=self.created_at,
            labels=self.labels or {},
            alias=aliases.get(self.vm_id),
            parent_commit_id=self.parent_commit_id,
            grandparent_vm_id=self.grandparent_vm_id,
            ip=self.ip,
            image=self.image_name,
            specs=self._specs(),
        )

    def _specs(self) -> VmSpecs:
        if self.vcpu_count is None and self.mem_size_mib is None and self.fs_size_mib is None:
            return _NO_SPECS  # the current API never sends specs: share one frozen instance (10k-VM lists)
        return VmSpecs(
            vcpu_count=self.vcpu_count, mem_size_mib=self.mem_size_mib, fs_size_mib=self.fs_size_mib
        )


def checked_list_item(raw: Any, provider: str, aliases: Mapping[str, str]) -> Vm | None:
    """A list item of the usual shape (`vm_id`, strings or null, ISO time, string labels, integer sizes)
    as a `Vm`, checked field by field without pydantic: ~2 µs instead of ~9 µs a VM. None for any other
    shape (the older `id`/`ip_address` names, a number where a string belongs, ...): the caller then
    validates it with `WireVm`, which accepts what pydantic accepts and names the field that is wrong."""
    if type(raw) is not dict or "id" in raw or "ip_address" in raw:
        return None
    get = raw.get
    vm_id, state, label, owner, ip = get("vm_id"), get("state"), get("alias"), get("owner_id"), get("ip")
    parent, grandparent, image = get("parent_commit_id"), get("grandparent_vm_id"), get("image_name")
    if type(vm_id) is not str or not vm_id:
        return None
    for text in (state, label, owner, ip, parent, grandparent, image):
        if text is not None and type(text) is not str:
            return None
    created = get("created_at")
    if created is not None:
        if type(created) is not str:
            return None
        try:
            created = datetime.fromisoformat(created)
        except ValueError:
            return None
    labels = get("labels")
    if labels is None:
        labels = {}
    elif type(labels) is not dict:
        return None
    elif labels:
        for key, value in labels.items():
            if type(key) is not str or type(value) is not str:
                return None
        labels = dict(labels)
    else:
        labels = {}
    sizes = (get("vcpu_count"), get("mem_size_mib"), get("fs_size_mib"))
    if sizes == (None, None, None):
        specs = _NO_SPECS
    elif all(size is None or type(size) is int for size in sizes):
        specs = _specs_of(*sizes)
    else:
        return None
    return Vm.from_checked(
        {
            "provider": provider,
            "provider_kind": "vers",
            "id": vm_id,
            "state": VmState.parse(state),
            "label": label,
            "owner_id": owner,
            "created_at": created,
            "labels": labels,
            "alias": aliases.get(vm_id),
            "parent_commit_id": parent,
            "grandparent_vm_id": grandparent,
            "ip": ip,
            "region": None,
            "image": image,
            "specs": specs,
            "extra": {},
        }
    )


class _RawSortFields:
    """A raw list item of the usual shape read as the fields the VM list sorts by (`vmtui.core.vm_order`),
    each as `checked_list_item` converts it: the item's sort value without converting it. An item of
    another shape raises, or gives a value `_deliver_first` cannot order."""

    __slots__ = ("aliases", "provider", "raw")

    def __init__(self, raw: Any, provider: str, aliases: Mapping[str, str]):
        self.raw, self.provider, self.aliases = raw, provider, aliases

    @property
    def display_name(self) -> str:
        raw = self.raw
        vm_id = raw["vm_id"]
        return shown_name(raw.get("alias"), raw.get("labels") or {}, self.aliases.get(vm_id), vm_id)

    @property
    def state(self) -> VmState:
        return VmState.parse(self.raw.get("state"))

    @property
    def created_at(self) -> datetime | None:
        created = self.raw.get("created_at")
        return datetime.fromisoformat(created) if created is not None else None

    @property
    def parent_commit_id(self) -> str | None:
        parent = self.raw.get("parent_commit_id")
        return parent if isinstance(parent, str) else None

    @property
    def labels(self) -> Mapping[str, str]:
        return self.raw.get("labels") or {}


def _raw_sort_value(column: str, provider: str, aliases: Mapping[str, str]) -> Callable[[Any], Any] | None:
    """The VM list's sort value of `column` read off a raw list item, equal to that of the `Vm` it converts
    to; None for the parent column, which lineage enrichment may fill in after the list."""
    if column == "parent":
        return None
    sort_value = SORT_VALUES[column]
    return lambda raw: sort_value(_RawSortFields(raw, provider, aliases))


_UTC_LAYOUT = ("-", "-", "T", ":", ":", "Z")
_UTC_LAYOUT_AT = operator.itemgetter(4, 7, 10, 13, 16, -1)


def _newest_by_text(items: list[Any], count: int, oldest: bool) -> list[int] | None:
    """The indexes of the items that can be among the `count` newest (`oldest`: oldest) by `created_at`,
    found without parsing a time: UTC times written in one layout and length
    (`2026-04-01T12:00:00[.ffffff]Z`) sort as text in time order, so only the items at or past the
    `count`-th text need their sort value (at 100,000 VMs: 10 ms instead of 130). None when the times
    are not all written so."""
    texts = [raw.get("created_at") for raw in items]
    if len(items) <= count or set(map(type, texts)) != {str} or len(set(map(len, texts))) != 1:
        return None
    if set(map(_UTC_LAYOUT_AT, texts)) != {_UTC_LAYOUT}:
        return None
    if oldest:
        last = heapq.nsmallest(count, texts)[-1]
        return [index for index, text in enumerate(texts) if text <= last]
    last = heapq.nlargest(count, texts)[-1]
    return [index for index, text in enumerate(texts) if text >= last]


async def _until_shown(shown: Awaitable[object]) -> None:
    """Wait for a big list's first rows to be on screen, at most `FIRST_ROWS_SHOWN_WAIT` (a screen
    that is slow to draw must not hold the whole list back for long)."""
    try:
        await asyncio.wait_for(shown, FIRST_ROWS_SHOWN_WAIT)
    except TimeoutError:
        pass


@functools.lru_cache(maxsize=256)
def _specs_of(vcpu_count: int | None, mem_size_mib: int | None, fs_size_mib: int | None) -> VmSpecs:
    """One shared (frozen) instance per VM size: a fleet has few sizes."""
    return VmSpecs(vcpu_count=vcpu_count, mem_size_mib=mem_size_mib, fs_size_mib=fs_size_mib)


class WireVmId(_Wire):
    vm_id: str = Field(min_length=1, validation_alias=AliasChoices("vm_id", "id"))


class WireBranch(_Wire):
    """Current `{"vms":[{"vm_id"}]}`, older `{"vm_id"}`; `error` only on (partial) failures."""

    vms: list[WireVmId] | None = None
    vm_id: str | None = Field(default=None, min_length=1)
    error: str | None = None


class WireCommitId(_Wire):
    commit_id: str = Field(min_length=1, validation_alias=AliasChoices("commit_id", "id"))


class WireCommit(_Wire):
    """CommitInfo (`GET /commits`) and VmCommitEntity (`/vm/commits/{id}/parents`, id field `id`)."""

    commit_id: str = Field(min_length=1, validation_alias=AliasChoices("commit_id", "id"))
    name: str | None = None
    description: str | None = None
    owner_id: str | None = None
    created_at: datetime | None = None
    is_public: bool | None = None
    parent_vm_id: str | None = None
    grandparent_commit_id: str | None = None

    def to_commit(self, provider: str) -> Commit:
        return Commit(
            provider=provider,
            id=self.commit_id,
            name=self.name,
            description=self.description,
            owner_id=self.owner_id,
            created_at=self.created_at,
            parent_vm_id=self.parent_vm_id,
            grandparent_commit_id=self.grandparent_commit_id,
            is_public=bool(self.is_public),
        )


class WireTag(_Wire):
    """TagInfo of `GET /commit_tags` (vers-sdk 1.20.0)."""

    tag_name: str = Field(min_length=1)
    commit_id: str = Field(min_length=1)
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_tag(self, provider: str) -> CommitTag:
        return CommitTag(
            provider=provider,
            name=self.tag_name,
            commit_id=self.commit_id,
            description=self.description,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class WireTags(_Wire):
    tags: list[WireTag]


class WireImage(_Wire):
    """A rootfs of the local engine / cluster-era API, or a BaseImageInfo of `/api/v1/images`."""

    name: str = Field(
        min_length=1, validation_alias=AliasChoices("name", "image_name", "rootfs_name", "rootfs_id")
    )
    base_image_id: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    size_mib: int | None = Field(default=None, ge=0)
    in_use: int = Field(default=0, validation_alias=AliasChoices("in_use", "vm_count", "used_by"))
    created_at: datetime | None = None

    def to_image(self) -> Image:
        size = (
            self.size_bytes
            if self.size_bytes is not None
            else (self.size_mib * 1024 * 1024 if self.size_mib is not None else None)
        )
        return Image(
            name=self.name,
            id=self.base_image_id,
            size_bytes=size,
            in_use=max(self.in_use, 0),
            created_at=self.created_at,
        )


class WireSshKey(_Wire):
    ssh_private_key: str = Field(
        min_length=1, validation_alias=AliasChoices("ssh_private_key", "private_key")
    )
    ssh_port: int | None = None


class WireExec(_Wire):
    exit_code: int
    stdout: str = ""
    stderr: str = ""


class WireExecEvent(_Wire):
    type: Literal["chunk", "exit", "error"]
    exec_id: str | None = None
    cursor: int | None = None
    stream: Literal["stdout", "stderr"] | None = None
    data_b64: str | None = None
    exit_code: int | None = None
    code: str | None = None
    message: str | None = None


class WireExecLogEntry(_Wire):
    exec_id: str | None = None
    stream: Literal["stdout", "stderr"]
    data_b64: str
    timestamp: str = ""


class WireExecLog(_Wire):
    entries: list[WireExecLogEntry]
    next_offset: int
    eof: bool


_VMS = TypeAdapter(list[WireVm])
_VM = TypeAdapter(WireVm)
_VM_ID = TypeAdapter(WireVmId)
_BRANCH = TypeAdapter(WireBranch)
_COMMIT_ID = TypeAdapter(WireCommitId)
_COMMITS = TypeAdapter(list[WireCommit])
_COMMIT = TypeAdapter(WireCommit)
_TAGS = TypeAdapter(WireTags)
_IMAGES = TypeAdapter(list[str | WireImage])
_SSH_KEY = TypeAdapter(WireSshKey)
_METRICS = TypeAdapter(VmMetrics)
_EXEC = TypeAdapter(WireExec)
_FILE_DIFF = TypeAdapter(FileDiff)
_FILE_TEXTS = TypeAdapter(FileTexts)
_EXEC_EVENT = TypeAdapter(WireExecEvent)
_EXEC_LOG = TypeAdapter(WireExecLog)
_TOTAL = TypeAdapter(int | None)
_JSON_OBJECT = TypeAdapter(dict[str, Any])
_ENV_VARS = TypeAdapter(dict[str, str])


def vers_error(status: int, message: str, body: Any, retry_after: float | None) -> ProviderError:
    """Default mapping plus the ids a failed branch did create (`{"vms":[...],"error":...}`)."""
    created = _created_vm_ids(body)
    if created:
        message = snippet(f"{message} (created before the failure: {', '.join(created)})")
    error = error_for_status(status, message, retry_after)
    error.created_ids = created
    return error


def _created_vm_ids(body: Any) -> tuple[str, ...]:
    if not isinstance(body, dict) or not isinstance(body.get("vms"), list):
        return ()
    ids = (item.get("vm_id") for item in body["vms"] if isinstance(item, dict))
    return tuple(i for i in ids if isinstance(i, str) and i)


def _unwrap(body: Any) -> Any:
    """Drop the cluster-era envelope `{"data": ..., "operation_id": ..., "duration_ns": ...}`."""
    if isinstance(body, dict) and "data" in body and ("operation_id" in body or "duration_ns" in body):
        return body["data"]
    return body


def _segment(value: str, what: str) -> str:
    """One URL path segment; refuses empty and dot segments so an id can never address another route."""
    if not isinstance(value, str) or not value.strip() or value in (".", ".."):
        raise BadRequest(f"{what} is empty or invalid")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid text") from None


def _api_root(base_url: str) -> str:
    root = base_url.strip().rstrip("/")
    return root.removesuffix(API)


def derive_vm_domain(base_url: str) -> str:
    """`api.X` -> `vm.X` (as the Vers CLI does); loopback -> `vm.localhost`; other hosts -> `vm.<host>`."""
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL:
        host = ""
    if host in ("", "localhost", "127.0.0.1", "::1") or host.endswith(".localhost"):
        return "vm.localhost"
    return "vm." + host.removeprefix("api.")


class VersProvider(Provider):
    """Client for the Vers API; also the UI's client for the local engine (`memory_snapshots=False`)."""

    kind = "vers"
    capabilities = Capabilities(
        can_create=True,
        can_delete=True,
        can_branch=True,
        can_commit=True,
        can_restore=True,
        can_pause=True,
        has_ssh=True,
        has_exec=True,
        has_images=True,
        has_tags=True,
        has_labels=True,
        can_resize=True,
        has_environment=True,
        has_account=True,
        memory_snapshots=True,
    )

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        vm_domain: str | None = None,
        ssh_address: tuple[str, int] | None = None,
        ca_path: str | None = None,
        insecure_tls: bool = False,
        memory_snapshots: bool = True,
        metrics: bool = False,
        event_stream: bool = False,
        file_diff: bool = False,
        max_retries: int = 3,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        aliases: Mapping[str, str] | None = None,
    ):
        super().__init__(name)
        self.aliases: Mapping[str, str] = aliases or {}
        """The user's local names by VM id (vers-cli's alias file), shown when a VM has no name label."""
        root = _api_root(base_url)
        self.http = HttpClient(
            root,
            token=api_key,
            verify=verify,
            transport=transport,
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries),
            error_factory=vers_error,
            sleep=sleep,
        )
        self.vm_domain = vm_domain or derive_vm_domain(root)
        self.ssh_address = ssh_address
        self.ca_path = ca_path
        self.insecure_tls = insecure_tls
        if not memory_snapshots or metrics or event_stream or file_diff:
            self.capabilities = self.capabilities.model_copy(
                update={
                    "memory_snapshots": memory_snapshots,
                    "has_metrics": metrics,
                    "event_stream": event_stream,
                    "has_file_diff": file_diff,
                }
            )
        self._vms_route = f"{API}/vm"
        self._pause_word: str | None = None
        self._exec_streams: bool | None = None
        """Whether the server has `/exec/stream` (None: not known yet)."""
        self._images_route: str | None = None
        self._branch_commit_by_id = False
        """True once the server refused `/vm/branch/by_commit` (the seed's API): branch via `/vm/{id}/branch`."""
        self._image_ids: dict[str, str] = {}
        self._metadata: dict[str, WireVm] = {}
        self._parsed: dict[str, tuple[Any, Vm]] = {}
        self._merged: dict[str, tuple[Vm, WireVm | None, Vm]] = {}
        self._last_list: list[Vm] | None = None
        self._list_body = b""
        self._commit_pages: dict[tuple[int, int], tuple[bytes, str | None, list[Commit], int]] = {}
        """Each commits page's last body, its `ETag` and what it gave: a 304 or the same bytes again give
        the same objects."""
        self._list_etag: str | None = None
        self._listed_lineage: set[str] = set()

    def __repr__(self) -> str:
        return f"VersProvider({self.name!r}, {self.http.base_url!r})"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _unwrap(await self.http.send_json(method, path, **kwargs))

    # --- VMs -------------------------------------------------------------------------------------------

    async def list_vms(self) -> list[Vm]:
        """`GET /vm` (vers-sdk 1.20.0), falling back (once, then remembered) to the seed's `GET /vms`.

        Unchanged costs nothing: the request carries `If-None-Match` when the server gave an `ETag`, and
        a 304 or a body with the same bytes as the last one returns the previous list object itself
        (callers compare by identity to skip their own work; they must not mutate it)."""
        return await self._list_vms(None)

    async def list_vms_first(self, first: FirstRows) -> list[Vm]:
        """`list_vms`, handing a list of more than `FIRST_ROWS_FROM` items' first rows to `first` before
        the rest is converted (`FirstRows`)."""
        return await self._list_vms(first)

    async def _list_vms(self, first: FirstRows | None) -> list[Vm]:
        try:
            response = await self._list_response()
        except ProviderError as exc:
            if exc.status not in _MISSING_ROUTE or self._vms_route.endswith("/vms"):
                raise
            self._vms_route = f"{API}/vms"
            response = await self._list_response()
        if self._last_list is not None and (
            response.status_code == 304 or response.content == self._list_body
        ):
            return self._last_list  # compared as bytes: no hash to compute, and unequal lengths end at once
        with collector.paused():
            body = _unwrap(self.http.decode(response))
            if isinstance(body, dict) and "vms" in body:
                body = body["vms"]
            early = first if isinstance(body, list) and len(body) > FIRST_ROWS_FROM else None
            shown = self._deliver_first(body, early) if early is not None else None
        if not isinstance(body, list):
            return [
                wire.to_vm(self.name, self.aliases) for wire in validate(_VMS, body, "VM list")
            ]  # raises BadResponse
        if shown is not None:
            with collector.paused():  # a collection meanwhile would walk the whole decoded body
                await _until_shown(shown)
        self._last_list = await self._parse_vm_list(
            body, PARSE_SLICE if early is None else SLICE_AFTER_FIRST_ROWS
        )
        self._list_body = response.content
        self._list_etag = response.headers.get("etag")
        return self._last_list

    async def _list_response(self) -> httpx.Response:
        etag = self._list_etag if self._last_list is not None else None
        return await self.http.send(
            "GET",
            self._vms_route,
            headers={"If-None-Match": etag} if etag else None,
            accept=_NOT_MODIFIED,
        )

    async def _parse_vm_list(self, items: list[Any], slice_items: int) -> list[Vm]:
        """Check and convert each item, reusing the previous call's `Vm` for an item whose JSON is
        unchanged: a repoll of 10,000 mostly unchanged VMs then costs little more than `json.loads`.
        Works `slice_items` items at a time and lets the event loop run in between (100,000 VMs take
        ~0.3 s), with the garbage collector paused until the last slice: re-enabled between slices,
        it ran a collection after each (they walk every VM held, 0.1-0.3 s for a full one at
        100,000 VMs, and free nothing)."""
        vms: list[Vm] = []
        parsed: dict[str, tuple[Any, Vm]] = {}
        with_lineage: set[str] = set()
        with collector.paused():
            for start in range(0, len(items), slice_items):
                if start or len(items) > slice_items:  # a big list's decoding was a turn of its own
                    await asyncio.sleep(0)
                for index in range(start, min(start + slice_items, len(items))):
                    record = self._parsed_record(items[index], index)
                    raw, vm = record
                    parsed[vm.id] = record
                    vms.append(vm)
                    if _LINEAGE_FIELDS <= raw.keys():
                        with_lineage.add(vm.id)
        self._parsed = parsed
        self._listed_lineage = with_lineage
        return vms

    def _deliver_first(self, items: list[Any], first: FirstRows) -> Awaitable[object] | None:
        """Convert the items that come first in the table's order and hand them to `first`, returning
        what it returned (awaited before the rest is converted); they join the memo `_parse_vm_list`
        consults, so they are converted once. Nothing is delivered when the order cannot be read off
        the raw items (an item of another shape, or the parent column, which lineage enrichment may
        fill in): the whole list then comes as usual. Runs with the collector paused (the caller's)."""
        column, reverse = first.order()
        sort_value = _raw_sort_value(column, self.name, self.aliases)
        if sort_value is None:
            return None
        try:
            candidates = _newest_by_text(items, first.count, reverse) if column == "age" else None
            indexes = range(len(items)) if candidates is None else candidates
            ranks = [(sort_value(items[index]), items[index]["vm_id"]) for index in indexes]
            ranked = (heapq.nlargest if reverse else heapq.nsmallest)(
                first.count, range(len(ranks)), key=ranks.__getitem__
            )
            top = [indexes[rank] for rank in ranked]
        except (TypeError, KeyError, ValueError, AttributeError):
            return None  # an item of another shape: `_parse_vm_list` names it, or converts it the long way
        records = [self._parsed_record(items[index], index) for index in top]
        self._parsed.update((record[1].id, record) for record in records)
        return first.deliver([vm for _, vm in records], len(items))

    def _parsed_record(self, raw: Any, index: int) -> tuple[Any, Vm]:
        """(raw item, its `Vm`): the previous list's own record when the item is unchanged, so an
        unchanged item leaves nothing new behind (the new body's copy goes with the body) and a poll
        adds only its changed items to what the garbage collector walks."""
        raw_id = raw.get("vm_id", raw.get("id")) if isinstance(raw, dict) else None
        known = self._parsed.get(raw_id) if isinstance(raw_id, str) else None
        if known is not None and known[0] == raw:
            return known
        vm = checked_list_item(raw, self.name, self.aliases) or validate(
            _VM, raw, f"VM list item {index}"
        ).to_vm(self.name, self.aliases)
        return raw, vm

    def listed_lineage(self, vm_id: str) -> bool:
        """The last list gave this VM's lineage itself (the local engine does; Vers needs its metadata)."""
        return vm_id in self._listed_lineage

    async def list_vms_with_lineage(self) -> list[Vm]:
        """`list_vms` with ip, parent_commit_id and grandparent_vm_id filled in from `/vm/{id}/metadata`.

        Lineage never changes for a VM, so metadata is fetched once per VM id (at most
        `METADATA_CONCURRENCY` at a time) and cached; the poller can call this every tick and pays
        only for new VMs. A VM whose metadata fetch fails is returned without lineage and retried next call.
        """
        vms = await self.list_vms()
        current = {vm.id for vm in vms}
        for gone in self._metadata.keys() - current:
            del self._metadata[gone]
        missing = [vm.id for vm in vms if vm.id not in self._metadata]
        if missing:
            gate = asyncio.Semaphore(METADATA_CONCURRENCY)

            async def fetch(vm_id: str) -> None:
                async with gate:
                    try:
                        self._metadata[vm_id] = await self._metadata_wire(vm_id)
                    except ProviderError:
                        pass  # VM deleted meanwhile, or a transient error: retried on the next call

            await asyncio.gather(*(fetch(vm_id) for vm_id in missing))
        result: list[Vm] = []
        merged: dict[str, tuple[Vm, WireVm | None, Vm]] = {}
        for vm in vms:
            meta = self._metadata.get(vm.id)
            known = self._merged.get(vm.id)
            if known is not None and known[0] is vm and known[1] is meta:
                out = known[2]  # same parsed VM, same metadata: skip the (slow) model_copy
            else:
                out = self._with_metadata(vm, meta)
            merged[vm.id] = (vm, meta, out)
            result.append(out)
        self._merged = merged
        return result

    @staticmethod
    def _with_metadata(vm: Vm, meta: WireVm | None) -> Vm:
        if meta is None:
            return vm
        update: dict[str, object] = {
            "ip": meta.ip,
            "parent_commit_id": meta.parent_commit_id,
            "grandparent_vm_id": meta.grandparent_vm_id,
        }
        if meta.image_name is not None:
            update["image"] = meta.image_name
        specs = meta._specs()
        if specs is not _NO_SPECS:
            update["specs"] = specs
        return vm.model_copy(update=update)

    async def events(self) -> AsyncIterator[dict[str, str]]:
        """The local engine's change stream (`GET /events`, Server-Sent Events): `{"kind": "connected"}`
        once it is open, then one `{"kind", "id", "change"}` per change of a VM or commit. Ends or raises
        a `ProviderError` when the stream drops; a stream silent for `EVENT_READ_TIMEOUT` (three missed
        keep-alives) counts as dropped."""
        data: list[str] = []
        async for line in self.http.stream_lines(f"{API}/events", read_timeout=EVENT_READ_TIMEOUT):
            if line.startswith(": connected"):
                yield {"kind": "connected"}
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
            elif not line and data:
                event = json.loads("\n".join(data))
                data.clear()
                if isinstance(event, dict):
                    yield {key: str(value) for key, value in event.items()}

    async def status(self, vm_id: str) -> Vm:
        """`GET /vm/{id}/status` (409 `Conflict` while the VM sleeps)."""
        body = await self._json("GET", f"{API}/vm/{_segment(vm_id, 'VM id')}/status")
        return validate(_VM, body, "VM status").to_vm(self.name, self.aliases)

    async def _metadata_wire(self, vm_id: str, retries: int | None = None) -> WireVm:
        body = await self._json("GET", f"{API}/vm/{_segment(vm_id, 'VM id')}/metadata", retries=retries)
        return validate(_VM, body, "VM metadata")

    async def metadata(self, vm_id: str, *, retries: int | None = None) -> Vm:
        """`GET /vm/{id}/metadata`: state, ip, parent_commit_id, grandparent_vm_id (no labels).

        `retries=0` leaves a 429 to the caller (the lineage stream paces itself with its own budget)."""
        return (await self._metadata_wire(vm_id, retries)).to_vm(self.name, self.aliases)

    async def get_vm(self, vm_id: str) -> Vm:
        """Status (labels, live state) merged with metadata (ip, lineage); a sleeping VM gets metadata only,
        and a server without metadata (the seed's API) status only."""
        status, meta = await asyncio.gather(
            self.status(vm_id), self._metadata_wire(vm_id), return_exceptions=True
        )
        if isinstance(meta, ProviderError) and meta.status in _MISSING_ROUTE and isinstance(status, Vm):
            return status  # the seed's API has no metadata route
        if isinstance(meta, BaseException):
            raise meta
        if isinstance(status, Conflict):
            return meta.to_vm(self.name, self.aliases)
        if isinstance(status, BaseException):
            raise status
        return self._with_metadata(status, meta)

    async def create_vm(self, config: VmConfig, *, wait_boot: bool = False) -> str:
        """`POST /vm/new_root` with every set `vm_config` field; returns the new VM id."""
        body = await self._json(
            "POST",
            f"{API}/vm/new_root",
            params={"wait_boot": wait_boot},
            json_body={"vm_config": config.model_dump(exclude_none=True)},
            timeout=LONG_TIMEOUT if wait_boot else None,
        )
        return validate(_VM_ID, body, "new VM").vm_id

    async def delete_vm(self, vm_id: str) -> None:
        """`DELETE /vm/{id}`. Note Vers answers 403 "Forbidden" (AuthError) for an unknown or foreign VM."""
        await self.http.send("DELETE", f"{API}/vm/{_segment(vm_id, 'VM id')}")
        self._metadata.pop(vm_id, None)

    async def pause_vm(self, vm_id: str) -> None:
        """`{"state": "Sleeping"}`, or the seed's `"Paused"` on a server that refuses it (remembered)."""
        if self._pause_word is not None:
            await self._set_state(vm_id, self._pause_word)
            return
        for word in PAUSE_WORDS:
            try:
                await self._set_state(vm_id, word)
            except ProviderError as exc:
                if exc.status not in _REFUSED_VALUE or word == PAUSE_WORDS[-1]:
                    raise
                continue
            self._pause_word = word
            return

    async def resume_vm(self, vm_id: str) -> None:
        """`{"state": "Running"}`: the same word in both contracts, for a paused or a sleeping VM."""
        await self._set_state(vm_id, "Running")

    async def _set_state(self, vm_id: str, state: str) -> None:
        await self.http.send(
            "PATCH", f"{API}/vm/{_segment(vm_id, 'VM id')}/state", json_body={"state": state}
        )

    # --- labels (vers-sdk 1.20.0) -----------------------------------------------------------------------

    async def upsert_labels(self, vm_id: str, labels: dict[str, str]) -> None:
        """`PATCH /vm/{id}/label`: add or overwrite these labels, keep the others."""
        await self.http.send(
            "PATCH", f"{API}/vm/{_segment(vm_id, 'VM id')}/label", json_body={"labels": dict(labels)}
        )

    async def replace_labels(self, vm_id: str, labels: dict[str, str]) -> None:
        """`PUT /vm/{id}/labels`: the VM's labels become exactly these (`{}` clears them)."""
        await self.http.send(
            "PUT", f"{API}/vm/{_segment(vm_id, 'VM id')}/labels", json_body={"labels": dict(labels)}
        )

    async def delete_label(self, vm_id: str, name: str) -> None:
        """`DELETE /vm/{id}/label/{name}`: remove one label."""
        await self.http.send(
            "DELETE", f"{API}/vm/{_segment(vm_id, 'VM id')}/label/{_segment(name, 'label name')}"
        )

    # --- disk and environment (vers-sdk 1.20.0) ----------------------------------------------------------

    async def resize_disk(self, vm_id: str, fs_size_mib: int) -> None:
        """`PATCH /vm/{id}/disk`: grow the VM's disk to `fs_size_mib` (the server refuses shrinking)."""
        if isinstance(fs_size_mib, bool) or not isinstance(fs_size_mib, int) or fs_size_mib < 1:
            raise BadRequest("the new disk size must be a whole number of MiB")
        try:
            await self.http.send(
                "PATCH",
                f"{API}/vm/{_segment(vm_id, 'VM id')}/disk",
                json_body={"fs_size_mib": fs_size_mib},
                timeout=LONG_TIMEOUT,
            )
        except ProviderError as exc:
            if exc.status == 405:
                raise Unsupported("this Vers server cannot resize disks", status=exc.status) from None
            raise

    async def list_env_vars(self) -> dict[str, SecretStr]:
        """`GET /env_vars`: the account's variables, values hidden in reprs."""
        try:
            body = await self._json("GET", f"{API}/env_vars")
        except ProviderError as exc:
            if exc.status in _MISSING_ROUTE:
                raise Unsupported(
                    "this Vers server has no environment variables", status=exc.status
                ) from None
            raise
        if not isinstance(body, dict):
            raise BadResponse("unexpected env_vars response: not an object")
        values = validate(_ENV_VARS, body.get("vars"), "env_vars")
        return {key: SecretStr(value) for key, value in values.items()}

    async def set_env_var(self, key: str, value: SecretStr | str) -> None:
        """`PUT /env_vars` with one variable, keeping the others (`replace: false`)."""
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        await self.http.send("PUT", f"{API}/env_vars", json_body={"vars": {key: plain}, "replace": False})

    async def delete_env_var(self, key: str) -> None:
        """`DELETE /env_vars/{key}` (404 when there is no such variable)."""
        await self.http.send("DELETE", f"{API}/env_vars/{_segment(key, 'variable name')}")

    # --- branch, commit, restore ------------------------------------------------------------------------

    async def branch(self, source_id: str, count: int = 1, *, keep_paused: bool = False) -> list[str]:
        """`POST /vm/{vm_or_commit_id}/branch?count=N`: the server decides whether the id is a VM or a commit."""
        return await self._branch(
            f"{API}/vm/{_segment(source_id, 'VM or commit id')}/branch", count, keep_paused
        )

    async def branch_vm(self, vm_id: str, count: int = 1, *, keep_paused: bool = False) -> list[str]:
        return await self._branch(f"{API}/vm/branch/by_vm/{_segment(vm_id, 'VM id')}", count, keep_paused)

    async def branch_commit(self, commit_id: str, count: int = 1) -> list[str]:
        """`POST /vm/branch/by_commit/{id}`; a server without that route (the seed's) gets the generic
        `/vm/{id}/branch`, which takes a commit id too (remembered)."""
        segment = _segment(commit_id, "commit id")
        if not self._branch_commit_by_id:
            try:
                return await self._branch(f"{API}/vm/branch/by_commit/{segment}", count, False)
            except ProviderError as exc:
                if exc.status not in _MISSING_ROUTE:
                    raise
                self._branch_commit_by_id = True
        return await self._branch(f"{API}/vm/{segment}/branch", count, False)

    async def branch_tag(self, name: str, count: int = 1) -> list[str]:
        """`POST /vm/branch/by_tag/{tag}`: `count` new VMs from the commit the tag points at."""
        return await self._branch(f"{API}/vm/branch/by_tag/{_segment(name, 'tag name')}", count, False)

    async def _branch(self, path: str, count: int, keep_paused: bool) -> list[str]:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 255:
            raise BadRequest("branch count must be a whole number from 1 to 255")
        params: dict[str, str | int | bool] = {"count": count}
        if keep_paused:
            params["keep_paused"] = True
        body = await self._json("POST", path, params=params, timeout=LONG_TIMEOUT)
        answer = validate(_BRANCH, body, "branch")
        ids = [vm.vm_id for vm in answer.vms] if answer.vms is not None else []
        if answer.vms is None and answer.vm_id:
            ids = [answer.vm_id]
        if answer.error:
            raise BadResponse(snippet(f"branch reported an error: {answer.error}"), created_ids=tuple(ids))
        if answer.vms is None and not answer.vm_id:
            raise BadResponse("unexpected branch response: neither `vms` nor `vm_id`")
        return ids

    async def commit(
        self,
        vm_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        keep_paused: bool = False,
    ) -> str:
        """`POST /vm/{id}/commit` with `{name, description}` (`{}` when both are empty: today's API
        requires a body); returns the commit id."""
        fields = {k: v for k, v in (("name", name), ("description", description)) if v}
        body = await self._json(
            "POST",
            f"{API}/vm/{_segment(vm_id, 'VM id')}/commit",
            params={"keep_paused": True} if keep_paused else None,
            json_body=fields,
            timeout=LONG_TIMEOUT,
        )
        return validate(_COMMIT_ID, body, "commit").commit_id

    async def restore(self, commit_id: str) -> str:
        return await self.from_commit(commit_id=commit_id)

    async def from_commit(
        self, *, commit_id: str | None = None, tag_name: str | None = None, ref: str | None = None
    ) -> str:
        """`POST /vm/from_commit` with exactly one of commit_id, tag_name (org tag) or ref (`repo:tag`)."""
        given = {k: v for k, v in (("commit_id", commit_id), ("tag_name", tag_name), ("ref", ref)) if v}
        if len(given) != 1:
            raise BadRequest("give exactly one of commit id, tag name or repo:tag reference")
        body = await self._json("POST", f"{API}/vm/from_commit", json_body=given, timeout=LONG_TIMEOUT)
        return validate(_VM_ID, body, "new VM").vm_id

    # --- commits ----------------------------------------------------------------------------------------

    async def list_commits(self) -> list[Commit]:
        """Every commit of the key's owner (`GET /commits`, all pages). Servers without the route give []."""
        try:
            wires = await self._paged(f"{API}/commits", "commits", _COMMITS, lambda c: c.commit_id)
        except ProviderError as exc:
            if exc.status in _MISSING_ROUTE:
                return []
            raise
        return [wire.to_commit(self.name) for wire in wires]

    async def commits_page(self, offset: int, limit: int = PAGE_SIZE) -> tuple[list[Commit], int]:
        """One page of `GET /commits` and the total. A server without the route has none; an
        unpaginated (older) answer is every commit. A page that did not change since it was last
        fetched (a 304 to the `If-None-Match` sent when the server gave an `ETag`, or the same bytes)
        returns the previous list itself (callers must not mutate it)."""
        known = self._commit_pages.get((offset, limit))
        etag = known[1] if known is not None else None
        try:
            response = await self.http.send(
                "GET",
                f"{API}/commits",
                params={"limit": limit, "offset": offset},
                headers={"If-None-Match": etag} if etag else None,
                accept=_NOT_MODIFIED if etag else frozenset(),
            )
        except ProviderError as exc:
            if exc.status in _MISSING_ROUTE:
                return [], 0
            raise
        if known is not None and (response.status_code == 304 or known[0] == response.content):
            return known[2], known[3]
        page, total = self._parse_commits(_unwrap(self.http.decode(response)), offset, limit)
        self._commit_pages[(offset, limit)] = (response.content, response.headers.get("etag"), page, total)
        return page, total

    def _parse_commits(self, body: Any, offset: int, limit: int) -> tuple[list[Commit], int]:
        if isinstance(body, list):
            every = [wire.to_commit(self.name) for wire in validate(_COMMITS, body, "commits")]
            return every[offset : offset + limit], len(every)
        if not isinstance(body, dict):
            raise BadResponse("unexpected commits response: not an object")
        page = [wire.to_commit(self.name) for wire in validate(_COMMITS, body.get("commits"), "commits")]
        total = validate(_TOTAL, body.get("total"), "commits")
        return page, total if total is not None else offset + len(page)

    async def commit_parents(self, commit_id: str) -> list[Commit]:
        """`GET /vm/commits/{id}/parents`: the commit and its ancestors up to the root."""
        body = await self._json("GET", f"{API}/vm/commits/{_segment(commit_id, 'commit id')}/parents")
        return [wire.to_commit(self.name) for wire in validate(_COMMITS, body, "commit parents")]

    async def delete_commit(self, commit_id: str) -> None:
        """`DELETE /commits/{id}` (409 `Conflict` while VMs still use it)."""
        await self.http.send("DELETE", f"{API}/commits/{_segment(commit_id, 'commit id')}")

    async def update_commit(
        self, commit_id: str, *, is_public: bool, name: str | None = None, description: str | None = None
    ) -> Commit:
        """`PATCH /commits/{id}` with `is_public` (required) and the name and description when given."""
        fields: dict[str, Any] = {"is_public": bool(is_public)}
        fields.update({k: v for k, v in (("name", name), ("description", description)) if v is not None})
        body = await self._json(
            "PATCH", f"{API}/commits/{_segment(commit_id, 'commit id')}", json_body=fields
        )
        return validate(_COMMIT, body, "commit").to_commit(self.name)

    # --- commit tags (vers-sdk 1.20.0) ------------------------------------------------------------------

    async def list_tags(self) -> list[CommitTag]:
        """`GET /commit_tags`: every tag of the organisation."""
        body = _unwrap(self.http.decode(await self._tags_call("GET", f"{API}/commit_tags")))
        return [wire.to_tag(self.name) for wire in validate(_TAGS, body, "commit tags").tags]

    async def create_tag(self, name: str, commit_id: str, description: str | None = None) -> None:
        """`POST /commit_tags` (409 `Conflict` when the name is taken)."""
        _segment(name, "tag name")  # refuses empty names and ids before any request
        _segment(commit_id, "commit id")
        fields = {"tag_name": name, "commit_id": commit_id}
        if description:
            fields["description"] = description
        await self._tags_call("POST", f"{API}/commit_tags", fields)

    async def move_tag(self, name: str, commit_id: str) -> None:
        """`PATCH /commit_tags/{tag}` with the new commit (the description is left as it is)."""
        _segment(commit_id, "commit id")
        await self._tags_call(
            "PATCH", f"{API}/commit_tags/{_segment(name, 'tag name')}", {"commit_id": commit_id}
        )

    async def delete_tag(self, name: str) -> None:
        """`DELETE /commit_tags/{tag}`; the commit stays."""
        await self._tags_call("DELETE", f"{API}/commit_tags/{_segment(name, 'tag name')}")

    async def _tags_call(
        self, method: str, path: str, json_body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """One tag request; a server without tag routes (the seed's API) is `Unsupported`, not a 404."""
        try:
            return await self.http.send(method, path, json_body=json_body)
        except ProviderError as exc:
            if exc.status == 405 or (exc.status == 404 and method == "GET"):
                raise Unsupported("this Vers server has no commit tags") from None
            raise

    async def _paged(
        self, path: str, key: str, adapter: TypeAdapter[list[W]], id_of: Callable[[W], Hashable]
    ) -> list[W]:
        """Follow limit/offset until `total`; a bare list is an unpaginated (older) answer."""
        items: list[W] = []
        seen: set[Hashable] = set()
        offset = 0
        for _ in range(MAX_PAGES):
            body = await self._json("GET", path, params={"limit": PAGE_SIZE, "offset": offset})
            if isinstance(body, list):
                return validate(adapter, body, key)
            if not isinstance(body, dict):
                raise BadResponse(f"unexpected {key} response: not an object")
            page = validate(adapter, body.get(key), key)
            total = validate(_TOTAL, body.get("total"), key)
            fresh = [item for item in page if id_of(item) not in seen]
            seen.update(id_of(item) for item in fresh)
            items.extend(fresh)
            offset += len(page)
            if (
                not fresh
                or (total is not None and offset >= total)
                or (total is None and len(page) < PAGE_SIZE)
            ):
                break
        return items

    # --- SSH and exec -----------------------------------------------------------------------------------

    async def ssh_key(self, vm_id: str) -> SshKey:
        body = await self._json("GET", f"{API}/vm/{_segment(vm_id, 'VM id')}/ssh_key")
        wire = validate(_SSH_KEY, body, "SSH key")
        return SshKey(private_key_pem=wire.ssh_private_key, port=wire.ssh_port)

    async def vm_metrics(self, vm_id: str) -> VmMetrics:
        """The local engine's `/vm/{id}/metrics` (Vers itself has no such route: `metrics=False`)."""
        if not self.capabilities.has_metrics:
            raise self._unsupported("report CPU and memory use")
        body = await self._json("GET", f"{API}/vm/{_segment(vm_id, 'VM id')}/metrics")
        return validate(_METRICS, body, "VM metrics")

    async def diff_commits(self, before_id: str, after_id: str) -> FileDiff:
        """The local engine's `/vm/commits/{a}/diff/{b}` (Vers has none: `file_diff=False`)."""
        before, after = _segment(before_id, "commit id"), _segment(after_id, "commit id")
        return await self._file_diff(f"{API}/vm/commits/{before}/diff/{after}")

    async def diff_vm(self, vm_id: str) -> FileDiff:
        return await self._file_diff(f"{API}/vm/{_segment(vm_id, 'VM id')}/diff")

    async def diff_commits_text(self, before_id: str, after_id: str, path: str) -> FileTexts:
        before, after = _segment(before_id, "commit id"), _segment(after_id, "commit id")
        return await self._file_texts(f"{API}/vm/commits/{before}/diff/{after}/text", path)

    async def diff_vm_text(self, vm_id: str, path: str) -> FileTexts:
        return await self._file_texts(f"{API}/vm/{_segment(vm_id, 'VM id')}/diff/text", path)

    async def _file_diff(self, route: str) -> FileDiff:
        if not self.capabilities.has_file_diff:
            raise self._unsupported("compare files itself")
        return validate(_FILE_DIFF, await self._json("GET", route, timeout=LONG_TIMEOUT), "file diff")

    async def _file_texts(self, route: str, path: str) -> FileTexts:
        if not self.capabilities.has_file_diff:
            raise self._unsupported("compare files itself")
        return validate(_FILE_TEXTS, await self._json("GET", route, params={"path": path}), "file texts")

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint:
        """Vers: `<vm_id>.<vm_domain>:443`; local engine: `ssh_address` with the same SNI."""
        server_name = f"{_segment(vm_id, 'VM id')}.{self.vm_domain}"
        host, port = self.ssh_address or (server_name, 443)
        return SshEndpoint(
            host=host,
            port=port,
            server_name=server_name,
            ca_path=self.ca_path,
            insecure_tls=self.insecure_tls,
        )

    async def exec(self, vm_id: str, command: list[str], *, timeout_secs: int | None = None) -> ExecResult:
        """`POST /vm/{id}/exec` (runs to completion; `timeout_secs` is the in-VM limit, 0/None = server default)."""
        if not command or not all(isinstance(part, str) for part in command):
            raise BadRequest("command must be a non-empty list of strings")
        payload: dict[str, Any] = {"command": list(command)}
        if timeout_secs:
            payload["timeout_secs"] = timeout_secs
        body = await self._json(
            "POST",
            f"{API}/vm/{_segment(vm_id, 'VM id')}/exec",
            json_body=payload,
            timeout=(timeout_secs + 10.0) if timeout_secs else LONG_TIMEOUT,
        )
        wire = validate(_EXEC, body, "exec")
        return ExecResult(exit_code=wire.exit_code, stdout=wire.stdout, stderr=wire.stderr)

    async def exec_stream(
        self,
        vm_id: str,
        command: list[str],
        *,
        exec_id: str | None = None,
        timeout_secs: int | None = None,
    ) -> AsyncIterator[ExecEvent]:
        """`POST /vm/{id}/exec/stream`: output chunks as the command writes them, then its exit (or an
        error event). The command runs on if the stream breaks: `exec_attach` with its `exec_id`. A server
        without the stream route (404/405) gets the synchronous `/exec`, replayed as chunks and an exit."""
        if not command or not all(isinstance(part, str) for part in command):
            raise BadRequest("command must be a non-empty list of strings")
        payload: dict[str, Any] = {"command": list(command)}
        if exec_id:
            payload["exec_id"] = exec_id
        if timeout_secs:
            payload["timeout_secs"] = timeout_secs
        if self._exec_streams is not False:
            try:
                async for event in self._ndjson(f"{API}/vm/{_segment(vm_id, 'VM id')}/exec/stream", payload):
                    self._exec_streams = True
                    yield event
                return
            except ProviderError as exc:
                if self._exec_streams or exc.status not in _MISSING_ROUTE:
                    raise
        async for event in super().exec_stream(vm_id, command, exec_id=exec_id, timeout_secs=timeout_secs):
            self._exec_streams = False  # the stream route is missing, not the VM: sync exec answered
            yield event

    async def exec_attach(
        self, vm_id: str, exec_id: str, *, cursor: int | None = None, from_latest: bool = False
    ) -> AsyncIterator[ExecEvent]:
        """`POST /vm/{id}/exec/stream/attach`: a streamed exec's events after `cursor` (its whole
        retained backlog when None; only new ones with `from_latest`), then live ones until it ends."""
        if self._exec_streams is False:
            raise self._unsupported("re-attach to commands (this server has no exec stream)")
        payload: dict[str, Any] = {"exec_id": _segment(exec_id, "exec id")}
        if cursor is not None:
            payload["cursor"] = cursor
        if from_latest:
            payload["from_latest"] = True
        async for event in self._ndjson(f"{API}/vm/{_segment(vm_id, 'VM id')}/exec/stream/attach", payload):
            yield event

    async def exec_logs(
        self, vm_id: str, *, offset: int = 0, max_entries: int = 1000, stream: str | None = None
    ) -> ExecLogPage:
        """`GET /vm/{id}/logs`: the VM's exec output log from byte `offset`."""
        params: dict[str, str | int | bool] = {"offset": offset, "max_entries": max_entries}
        if stream is not None:
            params["stream"] = stream
        try:
            body = await self._json("GET", f"{API}/vm/{_segment(vm_id, 'VM id')}/logs", params=params)
        except ProviderError as exc:
            if exc.status == 405:
                raise self._unsupported("show exec logs (no /logs route)") from None
            raise
        wire = validate(_EXEC_LOG, body, "exec log")
        return ExecLogPage(
            entries=tuple(
                ExecLogEntry(
                    exec_id=entry.exec_id,
                    stream=entry.stream,
                    data=_b64(entry.data_b64),
                    timestamp=entry.timestamp,
                )
                for entry in wire.entries
            ),
            next_offset=wire.next_offset,
            eof=wire.eof,
        )

    async def _ndjson(self, path: str, payload: dict[str, Any]) -> AsyncIterator[ExecEvent]:
        lines = self.http.stream_lines(
            path, read_timeout=None, method="POST", json_body=payload, accept="application/x-ndjson"
        )
        async for line in lines:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                raise BadResponse(f"exec stream sent a line that is not JSON: {snippet(line)}") from None
            wire = validate(_EXEC_EVENT, raw, "exec stream event")
            yield ExecEvent(
                kind=wire.type,
                exec_id=wire.exec_id,
                cursor=wire.cursor,
                stream=wire.stream,
                data=_b64(wire.data_b64) if wire.data_b64 else b"",
                exit_code=wire.exit_code,
                code=wire.code or "",
                message=wire.message or "",
            )

    # --- images -----------------------------------------------------------------------------------------

    async def list_images(self) -> list[Image]:
        """The seed's `GET /api/rootfs` (local engine: it adds sizes and use counts), else today's paginated
        `GET /api/v1/images`; the route that answered is remembered, so each later list is one request."""
        if self._images_route is None:
            try:
                images = await self._list_rootfs()
            except ProviderError as exc:
                if exc.status not in _MISSING_ROUTE:
                    raise
                images = await self._list_base_images()
                self._images_route = "images"
            else:
                self._images_route = "rootfs"
        elif self._images_route == "rootfs":
            images = await self._list_rootfs()
        else:
            images = await self._list_base_images()
        self._image_ids = {image.name: image.id for image in images if image.id}
        return images

    async def _list_rootfs(self) -> list[Image]:
        body = await self._json("GET", "/api/rootfs")
        wires = validate(_IMAGES, _image_list(body), "image list")
        return [Image(name=w) if isinstance(w, str) else w.to_image() for w in wires]

    async def _list_base_images(self) -> list[Image]:
        wires = await self._paged(f"{API}/images", "images", _IMAGES, _image_name)
        return [Image(name=w) if isinstance(w, str) else w.to_image() for w in wires]

    async def upload_image(self, name: str, tarball: Path, progress: ProgressCallback | None = None) -> None:
        """`PUT /api/rootfs/{name}` streaming the tarball from disk, reporting (bytes_done, bytes_total)."""
        segment = _segment(name, "image name")
        path = Path(tarball)
        if not path.is_file():
            raise BadRequest(snippet(f"{path} is not a readable file"))
        try:
            (await asyncio.to_thread(path.open, "rb")).close()
            total = path.stat().st_size
        except OSError as exc:
            raise BadRequest(snippet(f"cannot read {path}: {exc.strerror or exc}")) from None

        async def chunks() -> AsyncIterator[bytes]:
            done = 0
            try:
                with await asyncio.to_thread(path.open, "rb") as handle:
                    while done < total:
                        chunk = await asyncio.to_thread(handle.read, min(UPLOAD_CHUNK, total - done))
                        if not chunk:
                            break
                        yield chunk
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                    grew = bool(handle.read(1))
            except OSError as exc:
                raise BadRequest(snippet(f"cannot read {path}: {exc.strerror or exc}")) from None
            if done != total or grew:
                raise BadRequest(
                    snippet(f"{path} changed while uploading; the upload was aborted, try again")
                )

        try:
            await self.http.send(
                "PUT",
                f"/api/rootfs/{segment}",
                body=chunks,
                headers={"Content-Type": "application/x-tar", "Content-Length": str(total)},
                timeout=LONG_TIMEOUT,
            )
        except ProviderError as exc:
            if exc.status in _MISSING_ROUTE:
                raise Unsupported(
                    "this Vers server has no rootfs upload (PUT /api/rootfs)", status=exc.status
                ) from None
            raise

    async def delete_image(self, name: str) -> None:
        """The seed's `DELETE /api/rootfs/{name}`, or today's `DELETE /api/v1/images/images/{base_image_id}`
        with the id the last list gave for `name` (409 `Conflict` while VMs use it)."""
        segment = _segment(name, "image name")
        if self._images_route is None or (self._images_route == "images" and name not in self._image_ids):
            await self.list_images()
        if self._images_route == "rootfs":
            await self.http.send("DELETE", f"/api/rootfs/{segment}")
            return
        image_id = self._image_ids.get(name)
        if image_id is None:
            raise NotFound(snippet(f"no image named {name!r} on this server"), status=404)
        await self.http.send("DELETE", f"{API}/images/images/{_segment(image_id, 'image id')}")
        self._image_ids.pop(name, None)

    # --- account, version, health -----------------------------------------------------------------------

    async def whoami(self) -> dict[str, Any]:
        """`GET /whoami`: the key's user, organisation and key id (never the key)."""
        return validate(_JSON_OBJECT, await self._json("GET", f"{API}/whoami"), "whoami")

    async def version(self) -> dict[str, Any]:
        """`GET /system/version`: the server's name, version and build."""
        return validate(_JSON_OBJECT, await self._json("GET", f"{API}/system/version"), "version")

    async def health(self) -> dict[str, Any]:
        """The server's health document: `GET /health` (edge proxy, local engine), else `/api/health`."""
        try:
            body = await self._json("GET", "/health")
        except NotFound:
            body = await self._json("GET", "/api/health")
        return validate(_JSON_OBJECT, body, "health")


def _b64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise BadResponse(f"exec output is not valid base64: {snippet(data)}") from None


def _image_name(image: str | WireImage) -> str:
    return image if isinstance(image, str) else image.name


def _image_list(body: Any) -> Any:
    """The list inside the rootfs answers seen: a bare list, or under `rootfs`/`images`/`rootfs_names`."""
    if isinstance(body, dict):
        for key in ("rootfs", "images", "rootfs_names", "names"):
            if key in body:
                return body[key]
    return body
