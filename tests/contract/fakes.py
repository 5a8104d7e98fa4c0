"""Two fake Vers servers for httpx.MockTransport: one speaks only the seed's contract (docs/seeds/000),
the other only today's (vers-sdk 1.20.0). Each refuses the other's routes and words the way its
real counterpart would (404 for a route it lacks, 422 for an enum word it does not know), so a client
that works against both speaks both contracts."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).parent / "data"
SEED_000 = json.loads((DATA / "vers" / "seed_000.json").read_text())
CREATED = "2026-06-19T10:00:00Z"
OWNER = "owner-1"

Handler = Callable[..., httpx.Response]


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "error": message})


@dataclass
class FakeVm:
    vm_id: str
    state: str = "running"
    labels: dict[str, str] = field(default_factory=dict)
    parent_commit_id: str | None = None
    fs_size_mib: int = 1024


@dataclass
class FakeImage:
    name: str
    base_image_id: str
    size_mib: int = 512


class FakeVers:
    """The routes both contracts share; subclasses add their own dialect."""

    PREFIX = "/api/v1"
    PAUSE_WORD = ""
    PAUSED_STATE = ""

    def __init__(self) -> None:
        self.vms: dict[str, FakeVm] = {}
        self.commits: dict[str, str] = {}
        """commit id -> VM it was taken from."""
        self.images: dict[str, FakeImage] = {}
        self.env_vars: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []

    # --- setup and inspection ------------------------------------------------------------------------

    def add_vm(self, state: str = "running", **labels: str) -> str:
        vm_id = str(uuid.uuid4())
        self.vms[vm_id] = FakeVm(vm_id, state, dict(labels))
        return vm_id

    def add_image(self, name: str) -> FakeImage:
        image = FakeImage(name, f"img-{uuid.uuid4().hex[:12]}")
        self.images[name] = image
        return image

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def paths(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]

    # --- dispatch ------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        for method, pattern, handler in self.routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return handler(request, body, *match.groups())
        return _error(404, f"no route {request.method} {path}")

    def routes(self) -> list[tuple[str, str, Handler]]:
        v1 = re.escape(self.PREFIX)
        return [
            ("POST", f"{v1}/vm/new_root", self._new_root),
            ("GET", f"{v1}/vm/([^/]+)/status", self._status),
            ("DELETE", f"{v1}/vm/([^/]+)", self._delete),
            ("PATCH", f"{v1}/vm/([^/]+)/state", self._state),
            ("POST", f"{v1}/vm/([^/]+)/branch", self._branch),
            ("POST", f"{v1}/vm/([^/]+)/commit", self._commit),
            ("POST", f"{v1}/vm/from_commit", self._from_commit),
            ("GET", f"{v1}/vm/([^/]+)/ssh_key", self._ssh_key),
        ]

    # --- shared routes -------------------------------------------------------------------------------

    def _vm(self, vm_id: str) -> FakeVm | httpx.Response:
        return self.vms.get(vm_id) or _error(404, f"VM {vm_id} not found")

    def vm_json(self, vm: FakeVm) -> dict[str, Any]:
        return {
            "vm_id": vm.vm_id,
            "owner_id": OWNER,
            "created_at": CREATED,
            "state": vm.state,
            "labels": dict(vm.labels),
        }

    def _new_root(self, request: httpx.Request, body: Any) -> httpx.Response:
        labels = (body or {}).get("vm_config", {}).get("labels") or {}
        return httpx.Response(201, json={"vm_id": self.add_vm(**labels)})

    def _status(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        return vm if isinstance(vm, httpx.Response) else httpx.Response(200, json=self.vm_json(vm))

    def _delete(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        if self.vms.pop(vm_id, None) is None:
            return _error(403, "Forbidden")
        return httpx.Response(200, json={"vm_id": vm_id})

    def _state(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        word = (body or {}).get("state")
        if word not in (self.PAUSE_WORD, "Running"):
            return httpx.Response(
                422, text=f"Failed to deserialize the JSON body: state: unknown variant `{word}`"
            )
        vm.state = self.PAUSED_STATE if word == self.PAUSE_WORD else "running"
        return httpx.Response(200)

    def _branch(self, request: httpx.Request, body: Any, source: str) -> httpx.Response:
        count = int(request.url.params.get("count", "1"))
        commit = source if source in self.commits else None
        if commit is None:
            if source not in self.vms:
                return _error(404, f"{source} is neither a VM nor a commit")
            commit = str(uuid.uuid4())
            self.commits[commit] = source
        ids = []
        for _ in range(count):
            vm_id = self.add_vm()
            self.vms[vm_id].parent_commit_id = commit
            ids.append(vm_id)
        return httpx.Response(201, json=self.branch_json(ids))

    def branch_json(self, ids: list[str]) -> Any:
        return {"vms": [{"vm_id": vm_id} for vm_id in ids]}

    def _commit(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        commit = str(uuid.uuid4())
        self.commits[commit] = vm_id
        return httpx.Response(201, json={"commit_id": commit})

    def _from_commit(self, request: httpx.Request, body: Any) -> httpx.Response:
        commit = (body or {}).get("commit_id")
        if commit not in self.commits:
            return _error(404, "commit not found")
        vm_id = self.add_vm()
        self.vms[vm_id].parent_commit_id = commit
        return httpx.Response(201, json={"vm_id": vm_id})

    def _ssh_key(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        return httpx.Response(
            200, json={"ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----", "ssh_port": 443}
        )


class SeedVers(FakeVers):
    """Only docs/seeds/000: `GET /vms`, `"Paused"`, `/api/rootfs`; no metadata, labels or `/images`."""

    PAUSE_WORD, PAUSED_STATE = SEED_000["update_vm_state"][0], "paused"

    def routes(self) -> list[tuple[str, str, Handler]]:
        v1 = re.escape(self.PREFIX)
        return [
            ("GET", f"{v1}/vms", self._list),
            ("GET", "/api/rootfs", self._list_rootfs),
            ("PUT", "/api/rootfs/([^/]+)", self._upload_rootfs),
            ("DELETE", "/api/rootfs/([^/]+)", self._delete_rootfs),
            *super().routes(),
        ]

    def branch_json(self, ids: list[str]) -> Any:
        return {"vm_id": ids[0]}  # the older single-VM answer

    def _list(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json=[self.vm_json(vm) for vm in self.vms.values()])

    def _list_rootfs(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json={"rootfs_names": list(self.images)})

    def _upload_rootfs(self, request: httpx.Request, body: Any, name: str) -> httpx.Response:
        self.add_image(name)
        return httpx.Response(201, json={"rootfs_name": name})

    def _delete_rootfs(self, request: httpx.Request, body: Any, name: str) -> httpx.Response:
        if self.images.pop(name, None) is None:
            return _error(404, f"rootfs {name} not found")
        return httpx.Response(200, json={"rootfs_name": name})


class TodayVers(FakeVers):
    """Only vers-sdk 1.20.0: `GET /vm`, `"Sleeping"`, metadata, label upsert/replace/delete, `/images`
    (delete by `base_image_id`), a commit body required, status 409 while a VM sleeps."""

    PAUSE_WORD, PAUSED_STATE = "Sleeping", "sleeping"
    IP_PREFIX = "fd00:fe11:deed::"

    def __init__(self) -> None:
        super().__init__()
        self.commit_meta: dict[str, dict[str, Any]] = {}
        """commit id -> name, description, is_public."""
        self.tags: dict[str, dict[str, Any]] = {}
        """tag name -> TagInfo."""

    def routes(self) -> list[tuple[str, str, Handler]]:
        v1 = re.escape(self.PREFIX)
        return [
            ("GET", f"{v1}/vm", self._list),
            ("GET", f"{v1}/vm/([^/]+)/metadata", self._metadata),
            ("PATCH", f"{v1}/vm/([^/]+)/label", self._upsert_labels),
            ("PUT", f"{v1}/vm/([^/]+)/labels", self._replace_labels),
            ("DELETE", f"{v1}/vm/([^/]+)/label/([^/]+)", self._delete_label),
            ("PATCH", f"{v1}/vm/([^/]+)/disk", self._resize_disk),
            ("GET", f"{v1}/env_vars", self._list_env_vars),
            ("PUT", f"{v1}/env_vars", self._set_env_vars),
            ("DELETE", f"{v1}/env_vars/([^/]+)", self._delete_env_var),
            ("GET", f"{v1}/images", self._list_images),
            ("DELETE", f"{v1}/images/images/([^/]+)", self._delete_image),
            ("GET", f"{v1}/commits", self._list_commits),
            ("PATCH", f"{v1}/commits/([^/]+)", self._update_commit),
            ("DELETE", f"{v1}/commits/([^/]+)", self._delete_commit),
            ("GET", f"{v1}/vm/commits/([^/]+)/parents", self._commit_parents),
            ("POST", f"{v1}/vm/branch/by_commit/([^/]+)", self._branch_by_commit),
            ("POST", f"{v1}/vm/branch/by_tag/([^/]+)", self._branch_by_tag),
            ("GET", f"{v1}/commit_tags", self._list_tags),
            ("POST", f"{v1}/commit_tags", self._create_tag),
            ("PATCH", f"{v1}/commit_tags/([^/]+)", self._update_tag),
            ("DELETE", f"{v1}/commit_tags/([^/]+)", self._delete_tag),
            *super().routes(),
        ]

    # --- commits and tags ----------------------------------------------------------------------------

    def commit_json(self, commit_id: str, id_key: str = "commit_id") -> dict[str, Any]:
        meta = self.commit_meta.setdefault(commit_id, {"name": "", "description": None, "is_public": False})
        parent_vm = self.commits[commit_id]
        vm = self.vms.get(parent_vm)
        return {
            id_key: commit_id,
            "owner_id": OWNER,
            "created_at": CREATED,
            "parent_vm_id": parent_vm,
            "grandparent_commit_id": vm.parent_commit_id if vm else None,
            **meta,
        }

    def _list_commits(self, request: httpx.Request, body: Any) -> httpx.Response:
        limit = int(request.url.params.get("limit", "50"))
        offset = int(request.url.params.get("offset", "0"))
        every = list(self.commits)
        page = [self.commit_json(c) for c in every[offset : offset + limit]]
        return httpx.Response(
            200, json={"commits": page, "total": len(every), "limit": limit, "offset": offset}
        )

    def _update_commit(self, request: httpx.Request, body: Any, commit_id: str) -> httpx.Response:
        if commit_id not in self.commits:
            return _error(404, "commit not found")
        if not isinstance(body, dict) or not isinstance(body.get("is_public"), bool):
            return _error(422, "Failed to deserialize the JSON body: missing field `is_public`")
        self.commit_json(commit_id)
        self.commit_meta[commit_id].update(
            {k: body[k] for k in ("is_public", "name", "description") if k in body}
        )
        return httpx.Response(200, json=self.commit_json(commit_id))

    def _delete_commit(self, request: httpx.Request, body: Any, commit_id: str) -> httpx.Response:
        if commit_id not in self.commits:
            return _error(404, "commit not found")
        if any(vm.parent_commit_id == commit_id for vm in self.vms.values()):
            return _error(409, "commit is in use by VMs")
        del self.commits[commit_id]
        return httpx.Response(204)

    def _commit_parents(self, request: httpx.Request, body: Any, commit_id: str) -> httpx.Response:
        chain: list[dict[str, Any]] = []
        while commit_id in self.commits and all(c["id"] != commit_id for c in chain):
            chain.append(self.commit_json(commit_id, "id"))
            vm = self.vms.get(self.commits[commit_id])
            commit_id = vm.parent_commit_id if vm else ""
        return httpx.Response(200, json=chain) if chain else _error(404, "commit not found")

    def _branch_by_commit(self, request: httpx.Request, body: Any, commit_id: str) -> httpx.Response:
        if commit_id not in self.commits:
            return _error(404, "commit not found")
        return self._branch(request, body, commit_id)

    def _branch_by_tag(self, request: httpx.Request, body: Any, name: str) -> httpx.Response:
        tag = self.tags.get(name)
        return self._branch(request, body, tag["commit_id"]) if tag else _error(404, "tag not found")

    def _list_tags(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json={"tags": list(self.tags.values())})

    def _create_tag(self, request: httpx.Request, body: Any) -> httpx.Response:
        name, commit_id = body.get("tag_name"), body.get("commit_id")
        if commit_id not in self.commits:
            return _error(404, "commit not found")
        if name in self.tags:
            return _error(409, f"tag {name} exists")
        self.tags[name] = {
            "tag_id": str(uuid.uuid4()),
            "tag_name": name,
            "commit_id": commit_id,
            "description": body.get("description"),
            "created_at": CREATED,
            "updated_at": CREATED,
        }
        return httpx.Response(201, json={k: self.tags[name][k] for k in ("tag_id", "tag_name", "commit_id")})

    def _update_tag(self, request: httpx.Request, body: Any, name: str) -> httpx.Response:
        if name not in self.tags:
            return _error(404, "tag not found")
        if "commit_id" in body and body["commit_id"] not in self.commits:
            return _error(404, "commit not found")
        self.tags[name].update({k: body[k] for k in ("commit_id", "description") if k in body})
        return httpx.Response(200, json=self.tags[name])

    def _delete_tag(self, request: httpx.Request, body: Any, name: str) -> httpx.Response:
        return httpx.Response(204) if self.tags.pop(name, None) else _error(404, "tag not found")

    def _list(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json=[self.vm_json(vm) for vm in self.vms.values()])

    def _status(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self.vms.get(vm_id)
        if vm is not None and vm.state == "sleeping":
            return _error(409, "VM is sleeping")
        return super()._status(request, body, vm_id)

    def _metadata(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        return httpx.Response(
            200,
            json={
                "vm_id": vm.vm_id,
                "owner_id": OWNER,
                "created_at": CREATED,
                "state": vm.state,
                "ip": self.IP_PREFIX + str(list(self.vms).index(vm_id) + 2),
                "vcpu_count": 2,
                "mem_size_mib": 1024,
                "parent_commit_id": vm.parent_commit_id,
                "grandparent_vm_id": self.commits.get(vm.parent_commit_id or ""),
                "deleted_at": None,
            },
        )

    def _labels_body(self, body: Any) -> dict[str, str] | httpx.Response:
        labels = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict):
            return _error(400, "Failed to deserialize the JSON body: missing field `labels`")
        return labels

    def _upsert_labels(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm, labels = self._vm(vm_id), self._labels_body(body)
        for answer in (vm, labels):
            if isinstance(answer, httpx.Response):
                return answer
        vm.labels.update(labels)
        return httpx.Response(200, json={})

    def _replace_labels(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm, labels = self._vm(vm_id), self._labels_body(body)
        for answer in (vm, labels):
            if isinstance(answer, httpx.Response):
                return answer
        vm.labels = dict(labels)
        return httpx.Response(200, json={})

    def _delete_label(self, request: httpx.Request, body: Any, vm_id: str, name: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        if vm.labels.pop(name, None) is None:
            return _error(404, f"label {name} not found")
        return httpx.Response(200, json={})

    def _resize_disk(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        vm = self._vm(vm_id)
        if isinstance(vm, httpx.Response):
            return vm
        size = body.get("fs_size_mib") if isinstance(body, dict) else None
        if not isinstance(size, int) or size <= vm.fs_size_mib:
            return _error(400, f"fs_size_mib must be larger than the current {vm.fs_size_mib} MiB")
        vm.fs_size_mib = size
        return httpx.Response(200)

    def _list_env_vars(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json={"vars": dict(self.env_vars)})

    def _set_env_vars(self, request: httpx.Request, body: Any) -> httpx.Response:
        values = body.get("vars") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            return _error(400, "Failed to deserialize the JSON body: missing field `vars`")
        if body.get("replace"):
            self.env_vars.clear()
        self.env_vars.update(values)
        return httpx.Response(200, json={"vars": dict(self.env_vars)})

    def _delete_env_var(self, request: httpx.Request, body: Any, key: str) -> httpx.Response:
        if self.env_vars.pop(key, None) is None:
            return _error(404, f"env var not found: {key}")
        return httpx.Response(204)

    def _commit(self, request: httpx.Request, body: Any, vm_id: str) -> httpx.Response:
        if not isinstance(body, dict):
            return _error(400, "Failed to parse the request body as JSON")
        return super()._commit(request, body, vm_id)

    def _list_images(self, request: httpx.Request, body: Any) -> httpx.Response:
        limit = int(request.url.params.get("limit", "50"))
        offset = int(request.url.params.get("offset", "0"))
        every = list(self.images.values())
        return httpx.Response(
            200,
            json={
                "images": [
                    {
                        "base_image_id": image.base_image_id,
                        "image_name": image.name,
                        "owner_id": OWNER,
                        "is_public": False,
                        "size_mib": image.size_mib,
                        "source_type": "upload",
                        "created_at": CREATED,
                        "description": None,
                    }
                    for image in every[offset : offset + limit]
                ],
                "total": len(every),
                "limit": limit,
                "offset": offset,
            },
        )

    def _delete_image(self, request: httpx.Request, body: Any, base_image_id: str) -> httpx.Response:
        name = next((n for n, i in self.images.items() if i.base_image_id == base_image_id), None)
        if name is None:
            return _error(404, f"image {base_image_id} not found")
        del self.images[name]
        return httpx.Response(200, json={"base_image_id": base_image_id, "deleted": True})
