"""Environment variables of a Vers account (`/env_vars`): every VM started afterwards gets them (Vers
writes them into `/etc/environment` at boot). Keys with masked values, as Swiftor secrets are (`masked_values`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from pydantic import SecretStr
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static

from vmtui.services.actions import Actions, Outcome
from vmtui.ui.format import clean
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.masked_values import (
    MaskedValueForm,
    MaskedValuesScreen,
    confirm_delete,
    masked_bindings,
)


class EnvVarFormScreen(MaskedValueForm):
    NOUN = "variable"
    HINT = "VMs started from now on get it; running VMs keep what they had."
    MAX_KEY = 256
    MAX_VALUE = 8192

    def __init__(self, actions: Actions, profile: str, key: str | None = None) -> None:
        super().__init__(profile, key)
        self.actions = actions
        self.profile = profile

    async def save(self, key: str, value: SecretStr) -> None:
        await self.actions.set_env_var(self.profile, key, value)


class EnvVarsScreen(MaskedValuesScreen):
    KIND = "env"
    TITLE = "Environment"
    WHAT = "variables"
    NOUN = "variable"
    BINDINGS: ClassVar[list[BindingType]] = masked_bindings(KIND, NOUN)

    def __init__(self, actions: Actions, profile: str) -> None:
        super().__init__(actions)
        self.profile = profile

    def heading(self) -> Text:
        return Text(f"Environment variables of {clean(self.profile, 60)}")

    def hints(self) -> ComposeResult:
        yield Static(
            "In the environment of every VM of this account started from now on.", classes="dialog-hint"
        )

    async def fetch_values(self) -> dict[str, SecretStr]:
        return await self.actions.list_env_vars(self.profile)

    def form(self, key: str | None) -> EnvVarFormScreen:
        return EnvVarFormScreen(self.actions, self.profile, key)

    def saved_message(self, key: str) -> str:
        return f"Saved {key}; VMs started from now on get it"

    def delete_question(self, key: str) -> ConfirmScreen:
        return confirm_delete("variable", self.profile, key, "VMs started from now on do not get it.")

    def delete(self, key: str) -> Callable[[], Awaitable[Outcome]]:
        return lambda: self.actions.delete_env_var(self.profile, key)
