"""Enter on a row: everything the platform told us about a VM (or the commit selected in the tree),
as YAML or JSON (`f` switches), scrollable and copyable. A VM starts with what `vers info` shows."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import yaml
from textual.binding import Binding, BindingType

from vmtui.core.models import Commit, Vm
from vmtui.ui.format import clean
from vmtui.ui.screens.text_view import TextViewScreen


def describe(item: Vm | Commit) -> dict[str, Any]:
    """The item's fields; for a VM the `vers info` summary first (null where the platform did not say)."""
    fields = item.model_dump(mode="json")
    if isinstance(item, Commit):
        return fields
    return {"info": item.info(), "vm": fields}


class DescribeScreen(TextViewScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "switch_format", "YAML/JSON", id="view.format", tooltip="Show it as JSON or as YAML"),
    ]

    def __init__(self, item: Vm | Commit) -> None:
        kind = "Commit" if isinstance(item, Commit) else "VM"
        super().__init__(f"{kind} {clean(item.display_name, 60)} ({clean(item.provider, 30)})")
        self.item = item
        self.format = "yaml"
        self.hint = "f switches YAML/JSON, c copies, Esc closes"
        self.text = self.render_item()

    def render_item(self) -> str:
        data = describe(self.item)
        if self.format == "json":
            return json.dumps(data, indent=2)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=1000)

    def action_switch_format(self) -> None:
        self.format = "json" if self.format == "yaml" else "yaml"
        self.show_text(self.render_item())
