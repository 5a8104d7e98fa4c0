"""Swiftor plans and distributions, as the Swiftor VM API document (seed 003) gives them.

Shared by the Swiftor provider (to validate the create form before sending it), the TUI (to show
limits and each VM's ports) and the local engine's Swiftor API (to enforce the limits on start),
which must not import each other.

Plans (the seed's table; limits are enforced when a VM starts, not at creation):

| plan     | vCPU | RAM (GB) | storage (GB) | VMs running at once |
|----------|------|----------|--------------|---------------------|
| core     | 1    | 2        | 2            | 1                   |
| hacker   | 4    | 8        | 30           | 3                   |
| engineer | 8    | 16       | 150          | 5                   |

The seed names "Concurrent VMs" among the limits checked at start without giving numbers: the
running-VM counts above are the local engine's choice (one for the entry plan, more as the plan's
CPU budget grows), not Swiftor's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    max_cpu: int
    max_ram_gb: int
    storage_gb: int
    """Size of a VM's primary volume (`/config`), persistent or not."""
    max_running: int

    def violation(self, cpu: int, ram_gb: int) -> str | None:
        """Why a VM with these specs does not fit this plan, or None when it fits."""
        problems = []
        if cpu > self.max_cpu:
            problems.append(f"{cpu} vCPU requested, at most {self.max_cpu} allowed")
        if ram_gb > self.max_ram_gb:
            problems.append(f"{ram_gb} GB RAM requested, at most {self.max_ram_gb} GB allowed")
        if not problems:
            return None
        return f"VM exceeds the {self.name} plan limit: " + "; ".join(problems)

    def running_violation(self, running: int) -> str | None:
        """Why one more VM may not start while `running` others run, or None when it may."""
        if running < self.max_running:
            return None
        return (
            f"the {self.name} plan allows {self.max_running} VM(s) running at once and {running} "
            "already run; stop one first"
        )

    @property
    def summary(self) -> str:
        """One line for forms: `hacker: up to 4 vCPU, 8 GB RAM, 30 GB storage, 3 running VMs`."""
        return (
            f"{self.name}: up to {self.max_cpu} vCPU, {self.max_ram_gb} GB RAM, "
            f"{self.storage_gb} GB storage, {self.max_running} running VM(s)"
        )


PLANS: dict[str, Plan] = {
    "core": Plan("core", max_cpu=1, max_ram_gb=2, storage_gb=2, max_running=1),
    "hacker": Plan("hacker", max_cpu=4, max_ram_gb=8, storage_gb=30, max_running=3),
    "engineer": Plan("engineer", max_cpu=8, max_ram_gb=16, storage_gb=150, max_running=5),
}

DEFAULT_PLAN = "core"


@dataclass(frozen=True)
class Route:
    """A service a distribution's image serves: at `path` of the VM's URL, from `port` inside the VM."""

    path: str
    port: int
    service: str


@dataclass(frozen=True)
class Distribution:
    """One row of the seed's distribution table."""

    code: str
    description: str
    default: Route
    extra_routes: tuple[Route, ...] = ()
    needs_desktop: bool = False
    volumes: tuple[str, ...] = ()
    user_port_forwarding: bool = False

    @property
    def routes(self) -> tuple[Route, ...]:
        return (self.default, *self.extra_routes)

    @property
    def kind(self) -> str:
        return "Base Webtop" if self.needs_desktop else "Premade"


_KASMVNC = Route("/", 3000, "KasmVNC")

DISTRIBUTIONS: dict[str, Distribution] = {
    d.code: d
    for d in (
        Distribution("ubuntu", "Standard Ubuntu", _KASMVNC, needs_desktop=True),
        Distribution("debian", "Standard Debian", _KASMVNC, needs_desktop=True),
        Distribution("fedora", "Standard Fedora", _KASMVNC, needs_desktop=True),
        Distribution("kali", "Kali Linux (Penetration Testing)", _KASMVNC),
        Distribution("blender", "Blender (3D Graphics)", _KASMVNC),
        Distribution(
            "code-server",
            "VS Code in the browser",
            Route("/", 8443, "VS Code"),
            volumes=("/config/workspace",),
        ),
        Distribution(
            "emulatorjs",
            "Retro Game Emulation",
            Route("/", 80, "EmulatorJS"),
            extra_routes=(Route("/manage", 3000, "management"),),
            volumes=("/data",),
        ),
        Distribution("phpmyadmin", "MySQL Web Admin", Route("/", 80, "phpMyAdmin")),
        Distribution("krita", "Krita (Digital Painting)", _KASMVNC),
        Distribution("steamos", "SteamOS-like Environment", _KASMVNC, user_port_forwarding=True),
        Distribution(
            "minecraft",
            "MineOS (Minecraft Server Mgmt)",
            Route("/", 8443, "Web UI"),
            extra_routes=(Route("/minecraft", 25565, "Minecraft"),),
        ),
    )
}
"""Every code of the seed's table, in its order; codes it does not list are not offered."""

WEBTOP_DISTRIBUTIONS: frozenset[str] = frozenset(d.code for d in DISTRIBUTIONS.values() if d.needs_desktop)
"""Desktop bases: a VM of these needs a `desktop` (e.g. xfce, kde)."""

DESKTOPS: frozenset[str] = frozenset({"xfce", "kde", "mate", "i3", "openbox", "icewm"})
"""The webtop desktop flavours (the seed names kde and xfce as examples)."""


def normalise_plan(raw: str | None) -> str:
    """Canonical plan name for every spelling seen in the wild (`pro_monthly` → engineer)."""
    key = (raw or "").strip().lower()
    if key.startswith(("pro", "engineer", "1337")):
        return "engineer"
    if key.startswith("hacker"):
        return "hacker"
    return DEFAULT_PLAN


def plan_for(raw: str | None) -> Plan:
    return PLANS[normalise_plan(raw)]


def distribution_problem(distribution: str, desktop: str | None) -> str | None:
    """Why this distribution/desktop pair is invalid, or None when it is valid."""
    known = DISTRIBUTIONS.get(distribution)
    if known is None:
        return f"unknown distribution {distribution!r}; choose one of {', '.join(DISTRIBUTIONS)}"
    if known.needs_desktop and not desktop:
        return f"distribution {distribution!r} needs a desktop (e.g. xfce or kde)"
    if desktop and desktop not in DESKTOPS:
        return f"unknown desktop {desktop!r}; choose one of {', '.join(sorted(DESKTOPS))}"
    return None


def routes_of(image: str | None) -> tuple[Route, ...]:
    """The routes a Swiftor VM serves, from its image as the provider names it (`code-server`, or
    `ubuntu-xfce`: the distribution code, then `-desktop` when one was chosen); () for unknown codes."""
    code = image or ""
    base, _, desktop = code.rpartition("-")
    if code not in DISTRIBUTIONS and desktop in DESKTOPS:
        code = base
    known = DISTRIBUTIONS.get(code)
    return known.routes if known is not None else ()
