"""Grow a VM's disk (`PATCH /vm/{id}/disk`): one field, checked to be larger than the disk is now.

The form sends the change itself and closes once the server accepted it; the server's refusal (too
large for the host, VM gone, a platform without resizing) is shown under the field."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from vmtui.core.models import Vm
from vmtui.services.actions import Actions
from vmtui.ui.format import clean
from vmtui.ui.screens.swiftor_form import SendingFormScreen

MAX_MIB = 16_777_216


class ResizeDiskScreen(SendingFormScreen[int]):
    OK_LABEL = "Grow"
    SENDING_TEXT = "Growing the disk…"

    def __init__(self, actions: Actions, vm: Vm) -> None:
        super().__init__()
        self.actions = actions
        self.vm = vm
        self.current = vm.specs.fs_size_mib
        self.TITLE_TEXT = f"Grow the disk of {clean(vm.display_name, 50)}"

    def fields(self) -> ComposeResult:
        now = f"{self.current} MiB" if self.current else "not reported"
        yield Static(f"Disk now: {now}. A disk only grows; it never shrinks.", classes="dialog-hint")
        suggested = str(self.current * 2) if self.current else ""
        yield from self.field("size", "New size (MiB)", suggested, placeholder="4096")

    def validate(self) -> int | None:
        text = self.value("size")
        size = int(text) if text.isascii() and text.isdigit() else None
        if not text:
            message = self.needed(text, "a size")
        elif size is None:
            message = "a whole number of MiB"
        elif self.current and size <= self.current:
            message = f"must be larger than the current {self.current} MiB"
        elif size > MAX_MIB:
            message = f"at most {MAX_MIB} MiB"
        else:
            message = None
        return size if self.set_error("size", message) and size else None

    async def send(self, request: int) -> None:
        await self.actions.resize_disk(self.vm, request)
