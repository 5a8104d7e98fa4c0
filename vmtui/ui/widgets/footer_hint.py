"""One key hint in the main screen's footer (`FittingFooter`), drawn like Textual's own footer keys."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget


class FooterHint(Widget):
    """`key description`, in the footer's theme colours; a click presses the key (or rings when disabled)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"footer-hint--key", "footer-hint--description"}
    DEFAULT_CSS = """
    FooterHint {
        width: auto;
        height: 1;
        text-wrap: nowrap;
        background: $footer-item-background;
        .footer-hint--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-hint--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        &:hover {
            pointer: pointer;
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        &.-disabled { text-style: dim; }
    }
    """

    def __init__(
        self, key: str, key_display: str, description: str, action: str, *, enabled: bool, tooltip: str
    ):
        super().__init__(classes="" if enabled else "-disabled")
        self.key = key
        self.key_display = key_display
        self.description = description
        self.action = action
        self.enabled = enabled
        if tooltip:
            self.tooltip = tooltip

    @property
    def cells(self) -> int:
        """The width the hint takes: ` key ` then `description `."""
        return cell_len(self.key_display) + cell_len(self.description) + 3

    def render(self) -> Text:
        text = Text.assemble(
            (f" {self.key_display} ", self.get_component_rich_style("footer-hint--key")),
            (f"{self.description} ", self.get_component_rich_style("footer-hint--description")),
        )
        text.stylize_before(self.rich_style)
        return text

    def on_mouse_down(self) -> None:
        if self.enabled:
            self.app.simulate_key(self.key)
        else:
            self.app.bell()
