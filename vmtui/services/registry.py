"""Build providers from the settings: one opener per profile the UI (or a command) shows.

An opener is `async (status) -> Provider`. The local profile's opener finds or starts the local
engine (`vmtui serve`) in a worker thread and reports progress through `status`; the provider is a
VersProvider pointed at that endpoint (the engine speaks the Vers API). Failures are ProviderErrors
with a message for the user, never a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from vmtui.config import Profile, ProfileKind, Settings
from vmtui.core.errors import AuthError, ProviderError
from vmtui.providers.base import Provider
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.providers.vers import VersProvider
from vmtui.services.local_daemon import LocalEndpoint, ensure_daemon, local_swiftor_token
from vmtui.services.vers_aliases import load_vers_aliases

StatusCallback = Callable[[str], None]
Opener = Callable[[StatusCallback], Awaitable[Provider]]


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

    def openers(self, names: Iterable[str]) -> dict[str, Opener]:
        return {name: self.opener(name) for name in names}

    def opener(self, name: str) -> Opener:
        _, profile = self.settings.profile(name)
        timeout = self.settings.poll.timeout

        async def open_profile(status: StatusCallback) -> Provider:
            return await self.open(name, profile, status, timeout)

        return open_profile

    async def open(self, name: str, profile: Profile, status: StatusCallback, timeout: float) -> Provider:
        if profile.kind is ProfileKind.LOCAL:
            return await self._open_local(name, profile, status, timeout)
        if profile.kind is ProfileKind.LOCAL_SWIFTOR:
            return await self._open_local_swiftor(name, profile, status, timeout)
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
        return SwiftorProvider(
            name,
            profile.url or "",
            profile.token,
            verify=not profile.insecure_tls,
            insecure_tls=profile.insecure_tls,
            timeout=timeout,
        )

    @staticmethod
    async def _local_endpoint(name: str, profile: Profile, status: StatusCallback) -> LocalEndpoint:
        state_dir = Path(profile.state_dir) if profile.state_dir else None
        if state_dir is None:
            raise ProviderError(f"profile '{name}' has no state_dir")
        status(f"starting the local engine ({state_dir})…")
        return await asyncio.to_thread(ensure_daemon, state_dir)

    async def _open_local_swiftor(
        self, name: str, profile: Profile, status: StatusCallback, timeout: float
    ) -> Provider:
        endpoint = await self._local_endpoint(name, profile, status)
        email = profile.email or "local@localhost"
        token = await asyncio.to_thread(local_swiftor_token, Path(profile.state_dir or ""), email)
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

    async def _open_local(
        self, name: str, profile: Profile, status: StatusCallback, timeout: float
    ) -> Provider:
        endpoint = await self._local_endpoint(name, profile, status)
        ssh = (endpoint.ssh_host, endpoint.ssh_port) if endpoint.ssh_port else None
        return VersProvider(
            name,
            endpoint.api_url,
            endpoint.token,
            vm_domain=f"vm.{endpoint.domain}",
            ssh_address=ssh,
            ca_path=endpoint.ca_path,
            memory_snapshots=False,
            metrics=True,
            event_stream=True,
            file_diff=True,
            timeout=timeout,
            aliases=load_vers_aliases(),
        )
