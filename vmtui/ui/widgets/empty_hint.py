"""Says why the VM list is empty (no VMs yet, or none matching the filter) instead of a blank pane."""

from __future__ import annotations

from textual.widgets import Static


class EmptyHint(Static):
    def explain(self, *, rows: int, vms: int, listed: bool) -> None:
        """`rows` shown of `vms` known; `listed` once any profile has answered."""
        text = ""
        if rows == 0 and listed:
            text = (
                "No VM matches the filter (Esc clears it)." if vms else "No VMs yet. Press n to create one."
            )
        self.update(text)
        self.set_class(bool(text), "-visible")
