"""The create form of a Swiftor desktop VM: label, region, distribution, desktop, cpu, ram,
password and storage type, checked inline against the distribution rules and the account's plan
before anything is sent; on OK it creates the VM through `Actions.create_desktop`."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import DesktopRequest, Vm
from vmtui.core.swiftor_plans import DESKTOPS, DISTRIBUTIONS, Distribution, Plan, distribution_problem
from vmtui.services.actions import Actions
from vmtui.ui.format import clean
from vmtui.ui.screens.swiftor_form import SendingFormScreen

REGIONS = (("AU (Australia)", "AU"), ("US (United States)", "US"))
STORAGE_TYPES = (("ephemeral", "ephemeral"), ("persistent", "persistent"))
NARROW_WIDTH = 110
"""Below this terminal width the fields go one per row."""
MAX_LABEL = 64
MAX_PASSWORD = 256


class SwiftorCreateScreen(SendingFormScreen[DesktopRequest]):
    """Dismisses with the request once Swiftor created the VM (stopped); `created_vm` is that VM."""

    OK_LABEL = "Create"
    DIALOG_CLASSES = "dialog -wide"  # two fields per row
    SENDING_TEXT = "Creating the VM…"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_WIDTH, "-wide")]  # noqa: RUF012 - typed by Textual
    DEFAULT_CSS = """
    SwiftorCreateScreen .field-pair { height: auto; }
    SwiftorCreateScreen .field-pair > Vertical { width: 1fr; height: auto; }
    SwiftorCreateScreen.-narrow .field-pair { layout: vertical; }
    SwiftorCreateScreen Select.-invalid > SelectCurrent { border: tall $error; }
    """

    def __init__(self, actions: Actions, profile: str) -> None:
        super().__init__()
        self.actions = actions
        self.profile = profile
        self.plan: Plan | None = None
        self.created_vm: Vm | None = None
        self.TITLE_TEXT = f"New Swiftor desktop on {clean(profile, 40)}"

    # ------------------------------------------------------------------ layout

    def fields(self) -> ComposeResult:
        """Two fields per row, so the whole form fits a 36-line terminal; one per row when narrow."""
        with Horizontal(classes="field-pair"):
            with Vertical():
                yield from self.field("label", "Label", placeholder="MyWebServer")
            with Vertical():
                yield from self._select("region", "Region", REGIONS, "AU")
        with Horizontal(classes="field-pair"):
            with Vertical():
                yield from self._select(
                    "distribution",
                    "Distribution",
                    [(_option(d), d.code) for d in DISTRIBUTIONS.values()],
                    "ubuntu",
                )
            with Vertical():
                yield from self._select(
                    "desktop", "Desktop", [(name, name) for name in sorted(DESKTOPS)], "xfce", blank="none"
                )
        with Horizontal(classes="field-pair"):
            with Vertical():
                yield from self.field("cpu", "vCPUs", "1")
            with Vertical():
                yield from self.field("ram", "RAM (GB)", "2")
        with Horizontal(classes="field-pair"):
            with Vertical():
                yield from self.masked_field("password", "Password", placeholder="required")
            with Vertical():
                yield from self._select("storage", "Storage", STORAGE_TYPES, "ephemeral")
        yield Static(
            Text(
                "ubuntu, debian and fedora are desktops and need one. The password becomes the VM's "
                "VM_PASSWORD secret. Persistent storage keeps /config across stops; ephemeral empties it "
                "at every start."
            ),
            classes="dialog-hint",
        )
        yield Static("Checking your plan…", id="plan", classes="dialog-hint")

    @staticmethod
    def _select(
        name: str, label: str, options: Iterable[tuple[str, str]], value: str, blank: str | None = None
    ) -> ComposeResult:
        """A Select laid out like `FormScreen.field`."""
        with Horizontal(classes="field"):
            yield Label(label, classes="field-label")
            yield Select[str](
                options, prompt=blank or "choose", allow_blank=blank is not None, value=value, id=name
            )
        yield Static("", id=f"{name}-error", classes="field-error")

    def on_mount(self) -> None:
        self._load_plan()

    @work(group="swiftor-plan", exit_on_error=False)
    async def _load_plan(self) -> None:
        hint = self.query_one("#plan", Static)
        try:
            self.plan = await self.actions.account_plan(self.profile)
        except ProviderError as exc:
            hint.update(
                Text(f"Plan unknown ({clean(exc, 120)}); Swiftor checks the limits when the VM starts.")
            )
            return
        hint.update(f"Your plan: {self.plan.summary}.")
        for name, message in self._limit_errors().items():  # only these: the user may not have typed yet
            self.set_error(name, message)

    # ------------------------------------------------------------------ validation

    def _choice(self, name: str) -> str | None:
        value = self.query_one(f"#{name}", Select).value
        return value if isinstance(value, str) else None

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.has_focus_within:  # the user chose (not the initial value set while mounting)
            self.validate()

    def validate(self) -> DesktopRequest | None:
        label = self.value("label")
        region = self._choice("region")
        distribution = self._choice("distribution")
        desktop = self._choice("desktop")
        storage = self._choice("storage") or "ephemeral"
        password = self.query_one("#password", Input).value
        checks = {
            "label": self.needed(label, "a label") or _label_error(label),
            "region": None if region else "choose a region",
            "distribution": None if distribution else "choose a distribution",
            "desktop": distribution_problem(distribution, desktop) if distribution else None,
            "password": self.needed(password, "a password") or _password_error(password),
            **self._limit_errors(),
        }
        valid = [self.set_error(name, message) for name, message in checks.items()]  # flag every field
        if not all(valid) or not label or not password or region is None or distribution is None:
            return None
        cpu, ram = int(self.value("cpu")), int(self.value("ram"))
        return DesktopRequest(label, region, distribution, desktop, cpu, ram, SecretStr(password), storage)

    def _limit_errors(self) -> dict[str, str | None]:
        """cpu and ram: whole numbers within the plan (when the plan is known)."""
        cpu, cpu_error = _whole_number(self.value("cpu"))
        ram, ram_error = _whole_number(self.value("ram"))
        if self.plan is None:
            return {"cpu": cpu_error, "ram": ram_error}
        return {
            "cpu": cpu_error or self.plan.violation(cpu, 0),
            "ram": ram_error or self.plan.violation(0, ram),
        }

    def set_error(self, name: str, message: str | None) -> bool:
        """FormScreen.set_error for Inputs; the same marking for Selects."""
        widget = self.query_one(f"#{name}")
        if isinstance(widget, Input):
            return super().set_error(name, message)
        widget.set_class(bool(message), "-invalid")
        error = self.query_one(f"#{name}-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-visible")
        return message is None

    # ------------------------------------------------------------------ sending

    async def send(self, request: DesktopRequest) -> None:
        self.created_vm = await self.actions.create_desktop(self.profile, request)


def _option(distribution: Distribution) -> str:
    """`emulatorjs (80, /manage 3000)`: the code and the ports its image serves."""
    ports = ", ".join(
        str(route.port) if route.path == "/" else f"{route.path} {route.port}"
        for route in distribution.routes
    )
    return f"{distribution.code} ({ports})"


def _whole_number(raw: str) -> tuple[int, str | None]:
    if not raw.isdecimal() or int(raw) < 1:
        return 0, "a whole number, at least 1"
    return int(raw), None


def _label_error(label: str) -> str | None:
    if len(label) > MAX_LABEL:
        return f"at most {MAX_LABEL} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        return "no control characters"
    return None


def _password_error(password: str) -> str | None:
    if len(password) > MAX_PASSWORD:
        return f"at most {MAX_PASSWORD} characters"
    if "\x00" in password:
        return "no NUL characters"
    return None
