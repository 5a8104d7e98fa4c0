"""Swiftor plans and distributions: the limits a Swiftor VM must fit.

Shared by the Swiftor provider (to validate the create form before sending it) and the local
engine's Swiftor API (to enforce the limits on start), which must not import each other.

Swiftor publishes no CPU/RAM/storage numbers for its plans (see research/swiftor-api.md §6), so the
table below is this project's own and is what the local engine enforces. The Swiftor docs name
"Concurrent VMs" among the limits enforced at start without giving numbers; the running-VM counts
here are this project's choice (one for the entry plan, more as the plan's CPU budget grows):

| plan     | vCPU | RAM (GB) | persistent storage  | VMs running at once |
|----------|------|----------|---------------------|---------------------|
| core     | 2    | 4        | no (ephemeral only) | 1                   |
| hacker   | 4    | 8        | yes                 | 3                   |
| engineer | 8    | 16       | yes                 | 5                   |
"""

from __future__ import annotations

from dataclasses import dataclass

DESKTOP_PORT = 3000
"""Where a Swiftor desktop (linuxserver webtop) listens inside the VM; served at the VM's own URL."""


@dataclass(frozen=True)
class Plan:
    name: str
    max_cpu: int
    max_ram_gb: int
    persistent_storage: bool
    max_running: int

    def violation(self, cpu: int, ram_gb: int, persistent: bool) -> str | None:
        """Why a VM with these specs does not fit this plan, or None when it fits."""
        problems = []
        if cpu > self.max_cpu:
            problems.append(f"{cpu} vCPU requested, at most {self.max_cpu} allowed")
        if ram_gb > self.max_ram_gb:
            problems.append(f"{ram_gb} GB RAM requested, at most {self.max_ram_gb} GB allowed")
        if persistent and not self.persistent_storage:
            problems.append("persistent storage is not included")
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


PLANS: dict[str, Plan] = {
    "core": Plan("core", max_cpu=2, max_ram_gb=4, persistent_storage=False, max_running=1),
    "hacker": Plan("hacker", max_cpu=4, max_ram_gb=8, persistent_storage=True, max_running=3),
    "engineer": Plan("engineer", max_cpu=8, max_ram_gb=16, persistent_storage=True, max_running=5),
}

DEFAULT_PLAN = "core"

WEBTOP_DISTRIBUTIONS: frozenset[str] = frozenset({"ubuntu", "debian", "fedora"})
"""Desktop bases: a VM of these needs a `desktop` (e.g. xfce, kde)."""

DISTRIBUTIONS: frozenset[str] = WEBTOP_DISTRIBUTIONS | {"alpine", "arch", "kali"}

DESKTOPS: frozenset[str] = frozenset({"xfce", "kde", "mate", "i3", "openbox", "icewm"})


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
    if distribution not in DISTRIBUTIONS:
        return f"unknown distribution {distribution!r}; choose one of {', '.join(sorted(DISTRIBUTIONS))}"
    if distribution in WEBTOP_DISTRIBUTIONS and not desktop:
        return f"distribution {distribution!r} needs a desktop (e.g. xfce or kde)"
    if desktop and desktop not in DESKTOPS:
        return f"unknown desktop {desktop!r}; choose one of {', '.join(sorted(DESKTOPS))}"
    return None
