"""The `n` form: a new root VM (name, profile, vcpu, memory, disk, image, labels, wait for boot)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Label, Select, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import Image, VmConfig
from vmtui.services.actions import parse_labels
from vmtui.ui.format import clean, format_size
from vmtui.ui.screens.form import FormScreen

_NUMBER_FIELDS = {"vcpu": "vcpu_count", "memory": "mem_size_mib", "disk": "fs_size_mib"}
_UNITS = {"vcpu_count": "vCPUs", "mem_size_mib": "MiB", "fs_size_mib": "MiB"}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""A VM name: what a hostname label or a shell word can hold, so `vmtui ssh NAME` needs no quoting."""

ImageLoader = Callable[[str], Awaitable[list[Image]] | None]
"""The images of a profile, or None when the profile has no image list."""


@dataclass(frozen=True)
class CreateRequest:
    config: VmConfig
    wait_boot: bool
    profile: str


class CreateVmScreen(FormScreen[CreateRequest]):
    TITLE_TEXT = "New root VM"
    OK_LABEL = "Create"

    def __init__(
        self, profile: str, load_images: ImageLoader | None = None, profiles: Sequence[str] = ()
    ) -> None:
        """`profiles`: where the VM may go; with more than one the form offers a choice (default `profile`)."""
        super().__init__()
        self.profile = profile
        self.profiles = list(profiles) or [profile]
        self.load_images = load_images
        self.TITLE_TEXT = "New root VM" if self._choosing else f"New root VM on {clean(profile, 40)}"

    @property
    def _choosing(self) -> bool:
        return len(self.profiles) > 1

    def fields(self) -> ComposeResult:
        yield from self.field("name", "Name", placeholder="optional, e.g. web-1")
        if self._choosing:
            with Horizontal(classes="field"):
                yield Label("Profile", classes="field-label")
                options = [(clean(name, 40), name) for name in self.profiles]
                yield Select[str](options, value=self.profile, id="profile", allow_blank=False)
        yield from self.field("vcpu", "vCPUs", "1")
        yield from self.field("memory", "Memory (MiB)", "512")
        yield from self.field("disk", "Disk (MiB)", "1024")
        with Horizontal(classes="field"):
            yield Label("Image", classes="field-label")
            yield Select[str]([], prompt="default image", id="image", allow_blank=True)
        yield Static("", id="image-error", classes="field-error")
        yield from self.field("labels", "Labels (k=v,k2=v2)", placeholder="env=dev,team=infra")
        yield Checkbox("Wait until it has booted", True, id="wait-boot")

    def on_mount(self) -> None:  # Textual runs FormScreen.on_mount too (focus the first field)
        self._fill_images()

    @property
    def chosen_profile(self) -> str:
        if not self._choosing:
            return self.profile
        value = self.query_one("#profile", Select).value
        return value if isinstance(value, str) else self.profile

    @on(Select.Changed, "#profile")
    def _profile_changed(self) -> None:
        self._fill_images()  # each profile has its own images

    @work(group="create-images", exclusive=True, exit_on_error=False)
    async def _fill_images(self) -> None:
        select = self.query_one("#image", Select)
        error = self.query_one("#image-error", Static)
        select.set_options([])
        error.remove_class("-visible")
        pending = self.load_images(self.chosen_profile) if self.load_images is not None else None
        if pending is None:
            return
        try:
            images = await pending
        except ProviderError as exc:
            error.update(f"images unavailable: {clean(exc, 200)}")
            error.add_class("-visible")
            return
        select.set_options([(f"{clean(i.name, 50)}  ({format_size(i.size_bytes)})", i.name) for i in images])

    def validate(self) -> CreateRequest | None:
        values: dict[str, object] = {}
        ok = True
        for name, attr in _NUMBER_FIELDS.items():
            raw = self.value(name)
            try:
                values[attr] = int(raw) if raw else None
            except ValueError:
                ok = self.set_error(name, "must be a whole number, like 2") and ok
                continue
            ok = self.set_error(name, self._range_error(attr, values[attr])) and ok
        vm_name = self.value("name")
        ok = self.set_error("name", self._name_error(vm_name)) and ok
        try:
            labels = parse_labels(self.value("labels"))
            clash = "name" in labels and vm_name
            ok = self.set_error("labels", "the name is set above; drop name= here" if clash else None) and ok
        except ValueError as exc:
            labels = {}
            ok = self.set_error("labels", str(exc)) and False
        if vm_name:
            labels["name"] = vm_name  # the name is the `name` label: what lists show and `vmtui ssh` takes
        values["labels"] = labels or None
        image = self.query_one("#image", Select).value
        values["image_name"] = image if isinstance(image, str) else None
        if not ok:
            return None
        wait_boot = self.query_one("#wait-boot", Checkbox).value
        return CreateRequest(VmConfig(**values), wait_boot, self.chosen_profile)

    @staticmethod
    def _name_error(name: str) -> str | None:
        if not name or NAME_PATTERN.fullmatch(name):
            return None
        if len(name) > 63:
            return "at most 63 characters"
        return "letters, digits, '.', '_' and '-' only, starting with a letter or digit"

    @staticmethod
    def _range_error(attr: str, value: object) -> str | None:
        """A sentence naming the allowed range (the model's own bounds), not pydantic's wording."""
        if not isinstance(value, int):
            return None
        bounds = VmConfig.model_fields[attr].metadata
        low = next(b.ge for b in bounds if hasattr(b, "ge"))
        high = next(b.le for b in bounds if hasattr(b, "le"))
        if low <= value <= high:
            return None
        return f"must be between {low:,} and {high:,} {_UNITS[attr]}"
