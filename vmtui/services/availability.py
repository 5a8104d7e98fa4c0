"""Why an action cannot run now: a pure function of the selection, the providers and what is in flight.

The UI's action registry gives each action a `Requirement`; greyed-out keys, the help screen and the
palette all ask `unavailable` and show the same reason.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from vmtui.core.models import Commit, Vm
from vmtui.providers.base import Provider
from vmtui.services.actions import PendingKey


class Needs(enum.StrEnum):
    NOTHING = "nothing"
    PROFILE = "profile"
    """An open profile: the one new VMs and images use."""
    VM = "vm"
    COMMIT = "commit"
    SELECTION = "selection"
    """A VM or a commit, whichever is selected."""
    TARGET = "target"
    """The selected VM or, when no VM is the selection (the tree's cursor is on a commit), the commit."""


@dataclass(frozen=True)
class Requirement:
    needs: Needs = Needs.NOTHING
    capability: str | None = None
    """The `Capabilities` flag the provider must have."""
    live: bool = False
    """The VM must be running (or booting)."""
    writes: bool = False
    """Changes something, so read-only mode refuses it."""


@dataclass(frozen=True)
class Selection:
    profile: str
    """The profile that profile-wide actions (new VM, images) use."""
    vm: Vm | None = None
    commit: Commit | None = None


def unavailable(
    requirement: Requirement,
    selection: Selection,
    providers: Mapping[str, Provider],
    pending: Mapping[PendingKey, str],
    *,
    read_only: bool = False,
    offline: Collection[str] = (),
) -> str | None:
    """Why an action with `requirement` can't run for `selection` now, or None when it can.
    `offline`: profiles whose platform does not answer now (their actions would only fail)."""
    needs = requirement.needs
    if needs is Needs.NOTHING:
        return None
    if needs is Needs.SELECTION:
        return None if selection.vm or selection.commit else "nothing selected"
    if read_only and requirement.writes:
        return "read-only mode"
    if needs is Needs.PROFILE:
        return _provider_reason(requirement, selection.profile, providers, offline)
    if needs is Needs.COMMIT or (needs is Needs.TARGET and selection.vm is None and selection.commit):
        commit = selection.commit
        if commit is None:
            return "select a commit in the tree (2)"
        return _provider_reason(requirement, commit.provider, providers, offline) or _busy(
            pending, commit.key
        )
    vm = selection.vm
    if vm is None:
        return "no VM selected"
    reason = _provider_reason(requirement, vm.provider, providers, offline)
    if reason:
        return reason
    busy = _busy(pending, vm.key)
    if busy:
        return busy
    if requirement.live and not vm.state.is_live:
        return f"VM is {vm.state.value}"
    return None


def _busy(pending: Mapping[PendingKey, str], key: PendingKey) -> str | None:
    verb = pending.get(key)
    return f"{verb} already in progress" if verb else None


def _provider_reason(
    requirement: Requirement, profile: str, providers: Mapping[str, Provider], offline: Collection[str]
) -> str | None:
    provider = providers.get(profile)
    if provider is None:
        return f"profile '{profile}' is not active"
    if profile in offline:
        return f"profile '{profile}' is offline"
    if requirement.capability is None:
        return None
    return provider.capabilities.reason_missing(requirement.capability, provider.kind)
