"""The `/` filter box above the VM list: parses as you type and says what is wrong inline."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Static

from vmtui.services.filter import FilterError, VmFilter, parse_filter


class FilterSyntax(Validator):
    def validate(self, value: str) -> ValidationResult:
        try:
            parse_filter(value)
        except FilterError as exc:
            return self.failure(str(exc))
        return self.success()


class FilterBar(Vertical):
    """Hidden until opened; stays visible while a filter is active."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    """

    @dataclass
    class Changed(Message):
        """A new valid filter (an invalid one keeps the last valid filter in force)."""

        vm_filter: VmFilter

    class Done(Message):
        """Enter, or the filter was cleared: the keyboard goes back to the list."""

    def __init__(self) -> None:
        super().__init__()
        self.vm_filter = VmFilter()

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: text  ~fuzzy  re:regex  state:running  label:k=v  !negate",
            validators=[FilterSyntax()],
            validate_on=["changed"],
            id="filter-input",
        )
        yield Static("", id="filter-error")

    @property
    def box(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self) -> None:
        self.box.add_class("-visible")
        self.box.focus()

    def clear(self) -> bool:
        """Remove the filter and hide the box; False when there was nothing to clear."""
        if not self.box.has_class("-visible") and not self.vm_filter.active:
            return False
        self.box.value = ""
        self.box.remove_class("-visible", "-invalid")
        self.query_one("#filter-error", Static).remove_class("-visible")
        self.vm_filter = VmFilter()
        self.post_message(self.Changed(self.vm_filter))
        self.post_message(self.Done())
        return True

    @on(Input.Changed, "#filter-input")
    def _typed(self, event: Input.Changed) -> None:
        """The Input marks itself -invalid; the reason goes under it."""
        event.stop()
        error_box = self.query_one("#filter-error", Static)
        result = event.validation_result
        if result is not None and not result.is_valid:
            error_box.update("; ".join(result.failure_descriptions))
            error_box.add_class("-visible")
            return
        error_box.remove_class("-visible")
        self.vm_filter = parse_filter(event.value)
        self.post_message(self.Changed(self.vm_filter))

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.vm_filter.active:
            self.box.remove_class("-visible")
        self.post_message(self.Done())
