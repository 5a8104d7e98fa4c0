"""The `n` form: a new root VM (vcpu, memory, disk, image, labels, wait for boot)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual import work
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


@dataclass(frozen=True)
class CreateRequest:
    config: VmConfig
    wait_boot: bool


class CreateVmScreen(FormScreen[CreateRequest]):
    TITLE_TEXT = "New root VM"
    OK_LABEL = "Create"

    def __init__(self, profile: str, load_images: Callable[[], Awaitable[list[Image]]] | None = None) -> None:
        super().__init__()
        self.profile = profile
        self.load_images = load_images
        self.TITLE_TEXT = f"New root VM on {clean(profile, 40)}"

    def fields(self) -> ComposeResult:
        yield from self.field("vcpu", "vCPUs", "1")
        yield from self.field("memory", "Memory (MiB)", "512")
        yield from self.field("disk", "Disk (MiB)", "1024")
        with Horizontal(classes="field"):
            yield Label("Image", classes="field-label")
            yield Select[str]([], prompt="default image", id="image", allow_blank=True)
        yield Static("", id="image-error", classes="field-error")
        yield from self.field("labels", "Labels (k=v,k2=v2)", placeholder="env=dev,team=infra")
        yield Checkbox("Wait until it has booted", True, id="wait-boot")

    def on_mount(self) -> None:
        if self.load_images is not None:
            self._fill_images()

    @work(group="create-images", exit_on_error=False)
    async def _fill_images(self) -> None:
        select = self.query_one("#image", Select)
        try:
            images = await self.load_images()
        except ProviderError as exc:
            error = self.query_one("#image-error", Static)
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
        try:
            values["labels"] = parse_labels(self.value("labels")) or None
            ok = self.set_error("labels", None) and ok
        except ValueError as exc:
            ok = self.set_error("labels", str(exc)) and False
        image = self.query_one("#image", Select).value
        values["image_name"] = image if isinstance(image, str) else None
        if not ok:
            return None
        return CreateRequest(VmConfig(**values), self.query_one("#wait-boot", Checkbox).value)

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
