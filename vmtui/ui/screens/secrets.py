"""Secrets (environment variables) of one Swiftor VM: keys with masked values (`masked_values`).
Changes apply at the VM's next start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from pydantic import SecretStr
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static

from vmtui.core.models import Vm
from vmtui.services.actions import Actions, Outcome
from vmtui.ui.format import clean
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.masked_values import (
    MASK,
    MaskedValueForm,
    MaskedValuesScreen,
    confirm_delete,
    masked_bindings,
)

__all__ = ["MASK", "SecretFormScreen", "SecretsScreen"]


class SecretFormScreen(MaskedValueForm):
    NOUN = "secret"
    HINT = "It becomes an environment variable from the VM's next start."
    MAX_KEY = 128
    MAX_VALUE = 65536

    def __init__(self, actions: Actions, vm: Vm, key: str | None = None) -> None:
        super().__init__(vm.display_name, key)
        self.actions = actions
        self.vm = vm

    async def save(self, key: str, value: SecretStr) -> None:
        await self.actions.set_secret(self.vm, key, value)


class SecretsScreen(MaskedValuesScreen):
    KIND = "secrets"
    TITLE = "Secrets"
    WHAT = "secrets"
    NOUN = "secret"
    BINDINGS: ClassVar[list[BindingType]] = masked_bindings(KIND, NOUN)

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__(actions)
        self.vm = vm

    def heading(self) -> Text:
        return Text(f"Secrets of {clean(self.vm.display_name, 60)}")

    def hints(self) -> ComposeResult:
        yield Static(
            "Environment variables of every process in the VM. Changes apply at the VM's next start.",
            classes="dialog-hint",
        )

    async def fetch_values(self) -> dict[str, SecretStr]:
        return await self.actions.list_secrets(self.vm)

    def form(self, key: str | None) -> SecretFormScreen:
        return SecretFormScreen(self.actions, self.vm, key)

    def saved_message(self, key: str) -> str:
        return f"Saved {key}; it applies at the VM's next start"

    def delete_question(self, key: str) -> ConfirmScreen:
        return confirm_delete(
            "secret", self.vm.display_name, key, "The VM loses this environment variable at its next start."
        )

    def delete(self, key: str) -> Callable[[], Awaitable[Outcome]]:
        return lambda: self.actions.delete_secret(self.vm, key)
