"""Base of the Swiftor dialogs that send their request themselves (create, secret, mapping).

The form validates inline like every `FormScreen`; on OK it sends the request in a worker and closes
only once the server accepted it. A refusal is shown under the fields with the server's own words and
the form keeps every value, so nothing typed is lost. While a request is out, both buttons are off and
Escape waits: the outcome is always known.
"""

from __future__ import annotations

from typing import TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Input, Static

from vmtui.core.errors import ProviderError
from vmtui.ui.format import clean
from vmtui.ui.screens.form import FormScreen

RequestT = TypeVar("RequestT")


class SendingFormScreen(FormScreen[RequestT]):
    """Dismisses with the request after `send` succeeded; None when cancelled."""

    SENDING_TEXT = "Sending…"
    DEFAULT_CSS = """
    SendingFormScreen #send-status { height: auto; color: $text-error; }
    """
    sending = False

    async def send(self, request: RequestT) -> None:
        """Carry out the request; raise ProviderError with a user-facing message when refused."""
        raise NotImplementedError

    def needed(self, value: str, what: str) -> str | None:
        """The error of an empty required field, shown once the user pressed OK."""
        return f"{what} is needed" if not value and self.submitted else None

    def masked_field(self, name: str, label: str, placeholder: str = "") -> ComposeResult:
        """`FormScreen.field` whose input shows bullets (passwords, secret values)."""
        for widget in self.field(name, label, placeholder=placeholder):
            if isinstance(widget, Input):
                widget.password = True
            yield widget

    def on_mount(self) -> None:
        self.query_one("#dialog").mount(
            Static("", id="send-status"), before=self.query_one(".dialog-buttons")
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _send_on_ok(self, event: Message) -> None:
        event.prevent_default()  # FormScreen would dismiss right away; we dismiss after the server said yes
        if self.sending:
            return
        self.submitted = True
        request = self.validate()
        if request is None:
            invalid = self.query(".-invalid")
            if invalid:
                invalid.first().focus()  # also scrolls it into view in a small terminal
            return
        self.sending = True
        self._send(request)

    def action_cancel(self) -> None:
        """Escape waits while a request is out: leaving would abandon it without knowing its outcome."""
        if self.sending:
            self.query_one("#send-status", Static).update(f"{self.SENDING_TEXT} waiting for the answer")
            return
        super().action_cancel()

    @work(group="form-send", exit_on_error=False)
    async def _send(self, request: RequestT) -> None:
        status = self.query_one("#send-status", Static)
        buttons = self.query(".dialog-buttons Button")
        buttons.set(disabled=True)
        status.update(self.SENDING_TEXT)
        try:
            await self.send(request)
        except ProviderError as exc:
            status.update(Text(f"Refused: {clean(exc, 300)}"))
            buttons.set(disabled=False)
            self.sending = False
            return
        self.dismiss(request)
