"""A destructive question that may take checkpoint commits first (`[ui] checkpoint`): "always" says so
below the body, "ask" adds a ticked checkbox, "never" (or nothing that can be committed) says nothing."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Checkbox

from vmtui.ui.screens.confirm import ConfirmScreen


class ConfirmWithCheckpointScreen(ConfirmScreen):
    def __init__(
        self,
        title: str,
        subject: Text,
        body: Text,
        confirm_label: str = "Delete",
        *,
        checkpoint: str = "never",
        checkpoint_label: str = "Checkpoint first (u restores the VM)",
        always_note: str = "A checkpoint commit is taken first: u restores the VM.",
        danger: bool = True,
    ) -> None:
        """`checkpoint_label` is the checkbox's ("ask"), `always_note` the line said instead ("always")."""
        if checkpoint == "always":
            body.append(f"\n{always_note}", style="italic")
        super().__init__(title, subject, body, confirm_label, danger=danger)
        self.checkpoint = checkpoint
        self.checkpoint_label = checkpoint_label
        self.take_checkpoint = checkpoint in ("always", "ask")
        """What the user chose (read once the screen is dismissed with True)."""

    def on_mount(self) -> None:
        if self.checkpoint == "ask":
            box = Checkbox(self.checkpoint_label, True, id="checkpoint-first")
            self.query_one("#confirm-box", VerticalScroll).mount(box)
        super().on_mount()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.take_checkpoint = event.value
