"""Build providers from the settings: one opener per profile the UI (or a command) shows.

An opener is `async (status) -> Provider`. The local profile's opener finds the running local
engine (`vmtui serve`) on the event loop, or starts one in a worker thread, and reports progress
through `status`; the provider is a VersProvider pointed at that endpoint (the engine speaks the
Vers API). Failures are ProviderErrors with a message for the user, never a crash.

The TUI's first open of a local profile takes the engine its endpoint file announces on the file's
word (its process is alive) and lets the first list prove it: the health check's round trip would
come before the first rows. A first list that fails sends the profile back the checked way
(`ProfileOpener.engine_stopped`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from vmtui.config import Profile, ProfileKind, Settings
from vmtui.core.errors import AuthError, ProviderError
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.services.local_daemon import (
    LOG_FILE,
    LocalEndpoint,
    announced_daemon,
    ensure_daemon,
    local_swiftor_token,
    running_daemon,
)
from vmtui.services.vers_aliases import load_vers_aliases

StatusCallback = Callable[[str], None]
Opener = Callable[[StatusCallback], Awaitable[Provider]]


class ProfileOpener:
    """The `Opener` of a configured profile. For a local profile it remembers whether it started the
    engine, so the UI can start that engine again if it dies (`engine_stopped`); an engine the user
    started is theirs to restart."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = name
        self.started_engine = False
        self.unproven = False
        """The provider was opened on the endpoint file's word: no list of it has been answered yet."""
        self._first_open = True

    async def __call__(self, status: StatusCallback) -> Provider:
        _, profile = self.registry.settings.profile(self.name)
        timeout = self.registry.settings.poll.timeout
        if profile.kind in (ProfileKind.LOCAL, ProfileKind.LOCAL_SWIFTOR):
            first_open, self._first_open = self._first_open, False
            announced = (
                announced_daemon(Path(profile.state_dir))
                if first_open and profile.kind is ProfileKind.LOCAL and profile.state_dir
                else None
            )
            endpoint = announced or await self.registry.local_endpoint(self.name, profile, status)
            self.unproven = announced is not None
            self.started_engine = endpoint.started
            return await self.registry.open(self.name, profile, status, timeout, endpoint=endpoint)
        return await self.registry.open(self.name, profile, status, timeout)

    def answered(self) -> None:
        """A list of the opened provider was answered: its engine is proven."""
        self.unproven = False

    async def engine_stopped(self) -> bool:
        """True when the local engine must be found or started again: the one the endpoint file announced
        did not answer the first list, or this opener started it and it no longer answers its health check."""
        if self.unproven:
            return True
        if not self.started_engine:
            return False
        _, profile = self.registry.settings.profile(self.name)
        return await running_daemon(Path(profile.state_dir or "")) is None


class Registry:
    def __init__(self, settings: Settings):
        self.settings = settings

    def shown_profiles(self, requested: Iterable[str] = ()) -> list[str]:
        """The profiles to show: the requested ones (comma lists allowed), else the active one.
        Raises ConfigError for an unknown name."""
        names = [part.strip() for item in requested for part in item.split(",") if part.strip()]
        if not names:
            names = [self.settings.active]
        for name in names:
            self.settings.profile(name)  # validates, raising ConfigError with the known names
        return list(dict.fromkeys(names))

    def enabled_profiles(self) -> list[str]:
        return [name for name, profile in self.settings.profiles.items() if profile.enabled]

    def engine_logs(self, names: Iterable[str]) -> dict[str, Path]:
        """The log file of the local engine behind each of `names` that has one."""
        logs = {}
        for name in names:
            profile = self.settings.profiles[name]
            if profile.kind in (ProfileKind.LOCAL, ProfileKind.LOCAL_SWIFTOR) and profile.state_dir:
                logs[name] = Path(profile.state_dir).expanduser().absolute() / LOG_FILE
        return logs

    def openers(self, names: Iterable[str]) -> dict[str, Opener]:
        return {name: self.opener(name) for name in names}

    def opener(self, name: str) -> ProfileOpener:
        self.settings.profile(name)  # an unknown or disabled name fails now, not when opened
        return ProfileOpener(self, name)

    async def open(
        self,
        name: str,
        profile: Profile,
        status: StatusCallback,
        timeout: float,
        *,
        endpoint: LocalEndpoint | None = None,
    ) -> Provider:
        """A provider for the profile; a local one uses `endpoint` when given (else finds or starts it)."""
        if profile.kind in (ProfileKind.LOCAL, ProfileKind.LOCAL_SWIFTOR):
            endpoint = endpoint or await self.local_endpoint(name, profile, status)
            if profile.kind is ProfileKind.LOCAL:
                return self._open_local(name, endpoint, timeout)
            return await self._open_local_swiftor(name, profile, endpoint, timeout)
        if profile.kind is ProfileKind.VERS:
            if profile.api_key is None:
                raise AuthError(f"profile '{name}' has no api_key (set it in the config or VERS_API_KEY)")
            return VersProvider(
                name,
                profile.url or "",
                profile.api_key.get_secret_value(),
                verify=not profile.insecure_tls,
                insecure_tls=profile.insecure_tls,
                vm_domain=profile.vm_domain,
                timeout=timeout,
                aliases=load_vers_aliases(),
            )
        if profile.token is None:
            raise AuthError(
                f"profile '{name}' has no token (from your Swiftor session; for the local "
                "engine use a local-swiftor profile)"
            )
        from vmtui.providers.swiftor import SwiftorProvider  # ~0.15 s of imports only Swiftor profiles pay

        return SwiftorProvider(
            name,
            profile.url or "",
            profile.token,
            verify=not profile.insecure_tls,
            insecure_tls=profile.insecure_tls,
            timeout=timeout,
        )

    @staticmethod
    async def local_endpoint(name: str, profile: Profile, status: StatusCallback) -> LocalEndpoint:
        state_dir = Path(profile.state_dir) if profile.state_dir else None
        if state_dir is None:
            raise ProviderError(f"profile '{name}' has no state_dir")
        running = await running_daemon(state_dir)
        if running is not None:
            return running
        status(f"starting the local engine ({state_dir})…")
        return await asyncio.to_thread(ensure_daemon, state_dir)

    @staticmethod
    async def _open_local_swiftor(
        name: str, profile: Profile, endpoint: LocalEndpoint, timeout: float
    ) -> Provider:
        email = profile.email or "local@localhost"
        token = await asyncio.to_thread(local_swiftor_token, Path(profile.state_dir or ""), email)
        from vmtui.providers.swiftor import SwiftorProvider

        return SwiftorProvider(
            name,
            f"{endpoint.api_url}/swiftor",
            token,
            local_engine=True,
            ssh_address=(endpoint.ssh_host, endpoint.ssh_port) if endpoint.ssh_port else None,
            ca_path=endpoint.ca_path,
            vm_domain=f"vm.{endpoint.domain}",
            timeout=timeout,
        )

    @staticmethod
    def _open_local(name: str, endpoint: LocalEndpoint, timeout: float) -> Provider:
        ssh = (endpoint.ssh_host, endpoint.ssh_port) if endpoint.ssh_port else None
        return VersProvider(
            name,
            endpoint.api_url,
            endpoint.token,
            vm_domain=f"vm.{endpoint.domain}",
            verify=endpoint.ca_path or True,  # the engine's own CA: the system bundle costs ~75 ms to load
            ssh_address=ssh,
            ca_path=endpoint.ca_path,
            memory_snapshots=False,
            metrics=True,
            event_stream=True,
            file_diff=True,
            timeout=timeout,
            aliases=load_vers_aliases(),
        )
