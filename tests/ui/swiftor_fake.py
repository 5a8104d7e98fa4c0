"""A small stateful fake of Swiftor's wire API (seed 003, every body as it shows) for httpx.MockTransport,
so the Swiftor screens can be driven against a real SwiftorProvider without a network."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from textual.app import App
from textual.screen import Screen

from vmtui.paths import styles_dir
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.services.actions import Actions
from vmtui.ui.app import DIALOG_STYLES, MAIN_STYLES

VM_ID = "1aa62e52-e61c-4ae3-9ac2-c9cb1f46d25f"


def actions_for(provider: SwiftorProvider) -> Actions:
    """The Actions service over one provider, as the app builds it once the profile is open."""
    return Actions({provider.name: provider})


def desk(provider: SwiftorProvider) -> tuple[Actions, str]:
    """SwiftorCreateScreen's arguments for one provider."""
    return actions_for(provider), provider.name


@dataclass
class FakeSwiftor:
    plan: str = "core"
    vms: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    networking: dict[str, dict[str, dict]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)
    refuse: dict[tuple[str, str], tuple[int, object]] = field(default_factory=dict)
    """(method, path prefix) -> (status, detail) answered instead of doing the request."""
    next_id: int = 1

    def add_vm(self, label: str, vm_id: str = VM_ID, *, enabled: bool = False) -> dict:
        vm = {
            "id": vm_id,
            "vmlabel": label,
            "region": "AU",
            "os": {"distribution": "ubuntu", "desktop": "xfce"},
            "specs": {"cpu": 2, "ram": 4, "storage": False},
            "enabled": enabled,
        }
        self.vms[vm_id] = vm
        self.secrets.setdefault(vm_id, {})
        self.networking.setdefault(vm_id, {})
        return vm

    def provider(self) -> SwiftorProvider:
        return SwiftorProvider(
            "swiftor",
            "https://api.swiftor.io",
            "test-token",
            transport=httpx.MockTransport(self.handle),
            max_retries=0,
        )

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Requests that change something (everything but the reads of the screens)."""
        return [
            (m, p)
            for m, p in self.requests
            if not (m == "GET" and p in ("/vms", "/init", "/vms/secrets", "/vms/networking"))
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.requests.append((method, path))
        body = json.loads(request.content) if request.content else None
        self.bodies.append(body)
        for (refused_method, prefix), (status, detail) in self.refuse.items():
            if method == refused_method and path.startswith(prefix):
                return httpx.Response(status, json={"detail": detail})
        for pattern, route in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return route(body, *match.groups())
        return httpx.Response(404, json={"detail": "Not Found"})

    def _routes(self):
        return [
            (
                r"GET /init",
                lambda body: self._ok({"username": "alice", "plan": self.plan, "roles": ["user"]}),
            ),
            (r"GET /vms", lambda body: self._ok({"vms": list(self.vms.values())})),
            (r"POST /vms/create", self._create),
            (r"GET /vms/delete/([^/]+)", self._delete_vm),
            (r"GET /vms/secrets", lambda body: self._ok({"secrets": self.secrets})),
            (r"POST /vms/secrets", self._set_secret),
            (r"DELETE /vms/secrets/([^/]+)/([^/]+)", self._delete_secret),
            (r"GET /vms/networking", lambda body: self._ok({"networking": self.networking})),
            (r"POST /vms/networking", self._add_mapping),
            (r"DELETE /vms/networking/([^/]+)/([^/]+)", self._delete_mapping),
        ]

    @staticmethod
    def _ok(payload: dict) -> httpx.Response:
        return httpx.Response(200, json=payload)

    @staticmethod
    def _fail(status: int, detail: str) -> httpx.Response:
        return httpx.Response(status, json={"detail": detail})

    def _create(self, body: dict) -> httpx.Response:
        config, os_ = body["config"], body["os"]
        if any(vm["vmlabel"] == config["vmlabel"] for vm in self.vms.values()):
            return self._fail(400, f"A VM named {config['vmlabel']} already exists")
        vm_id = f"00000000-0000-4000-8000-{self.next_id:012d}"
        self.next_id += 1
        vm = self.add_vm(config["vmlabel"], vm_id)
        vm.update(
            region=config["region"]["code"],
            os={"distribution": os_["distribution"]["code"], "desktop": os_["desktop"]},
            specs={
                "cpu": os_["cpu"],
                "ram": os_["ram"],
                "storage": config.get("storageType") == "persistent",
            },
        )
        self.secrets[vm_id]["VM_PASSWORD"] = config["password"]
        return self._ok({"message": "VM created successfully", "vm": {**vm, "user_id": "alice-id"}})

    def _owned(self, vm_id: str) -> httpx.Response | None:
        return None if vm_id in self.vms else self._fail(404, "VM not found")

    def _delete_vm(self, body: None, vm_id: str) -> httpx.Response:
        if missing := self._owned(vm_id):
            return missing
        del self.vms[vm_id]
        self.secrets.pop(vm_id, None)
        self.networking.pop(vm_id, None)
        return self._ok({"message": "VM deleted"})

    def _set_secret(self, body: dict) -> httpx.Response:
        if missing := self._owned(body["vmid"]):
            return missing
        self.secrets[body["vmid"]][body["key"]] = body["value"]
        return self._ok({"message": "Secret added successfully", "vmid": body["vmid"], "key": body["key"]})

    def _delete_secret(self, body: None, vm_id: str, key: str) -> httpx.Response:
        if missing := self._owned(vm_id):
            return missing
        if self.secrets[vm_id].pop(key, None) is None:
            return self._fail(404, f"Secret not found: {key}")
        return self._ok({"message": "Secret removed successfully", "vmid": vm_id, "key": key})

    def _add_mapping(self, body: dict) -> httpx.Response:
        if missing := self._owned(body["vmid"]):
            return missing
        mappings = self.networking[body["vmid"]]
        if body["name"] in mappings:
            return self._fail(400, f"Mapping {body['name']!r} already exists on this VM")
        mappings[body["name"]] = {"subdomain": body["name"], "internal_port": body["internal_port"]}
        return self._ok(
            {
                "message": "Subdomain mapping added successfully",
                "subdomain": f"{body['name']}.{body['vmid']}.swiftor.io",
                "internal_port": body["internal_port"],
            }
        )

    def _delete_mapping(self, body: None, vm_id: str, name: str) -> httpx.Response:
        if missing := self._owned(vm_id):
            return missing
        if self.networking[vm_id].pop(name, None) is None:
            return self._fail(404, f"Mapping not found: {name}")
        return self._ok({"message": "Subdomain mapping removed successfully", "vmid": vm_id, "name": name})


class ScreenHost(App[None]):
    """A bare app with vmtui's stylesheet that shows one screen; `result` is what it dismissed with,
    `notes` every notification as (title, message) (toasts expire, this list does not)."""

    def __init__(self, screen_factory: Callable[[], Screen]) -> None:
        super().__init__(css_path=[str(styles_dir() / name) for name in (MAIN_STYLES, DIALOG_STYLES)])
        self.screen_factory = screen_factory
        self.result: object = "not dismissed"
        self.shown: Screen | None = None
        self.notes: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.shown = self.screen_factory()
        self.push_screen(self.shown, self._dismissed)

    def _dismissed(self, result: object) -> None:
        self.result = result

    def notify(self, message: str, *, title: str = "", **kwargs) -> None:
        self.notes.append((title, str(message)))
        super().notify(message, title=title, **kwargs)
