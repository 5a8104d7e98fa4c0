"""CPU and memory of the VM shown in the details pane over the last minutes (Textual's `Sparkline`).

Only the shown VM is sampled, every `INTERVAL` seconds, and only while it is live and its provider
reports metrics (`capabilities.has_metrics`); otherwise the pane says why there are no graphs. While
the graphs are scrolled out of the details pane's view a new sample waits to be drawn until they
come into it (by a scroll, or by the next sample): Textual re-arranges the whole screen for each
refresh of a widget off screen.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.providers.base import Provider
from vmtui.services.resources import INTERVAL, ResourceMonitor, ResourceSample

MIB = 1024 * 1024


class ResourceGraphs(Vertical):
    DEFAULT_CSS = """
    ResourceGraphs { height: auto; margin-top: 1; }
    ResourceGraphs Sparkline { height: 2; margin-bottom: 1; }
    ResourceGraphs Label { width: 1fr; color: $text-muted; }
    """

    def __init__(self, monitor: ResourceMonitor | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.monitor = monitor or ResourceMonitor()
        self.vm: Vm | None = None
        self.provider: Provider | None = None
        self._timer: Timer | None = None
        self._shown: dict[str, str] = {}
        """Each label's text, so a sample that reads the same repaints nothing."""
        self._due: list[ResourceSample] | None = None
        """A sampled history not drawn yet: the graphs were out of view."""

    def compose(self) -> ComposeResult:
        yield Label("", id="cpu-label", markup=False)  # an error text from the platform is shown as is
        yield Sparkline([], id="cpu-graph")
        yield Label("", id="memory-label", markup=False)
        yield Sparkline([], id="memory-graph")

    def on_mount(self) -> None:
        self._timer = self.set_interval(INTERVAL, self._tick, pause=True)
        self.display = False
        if isinstance(self.parent, Widget):
            self.watch(self.parent, "scroll_y", self._draw_due, init=False)

    def watch_vm(self, vm: Vm | None, provider: Provider | None) -> None:
        """Graph `vm` (None: a commit or nothing is shown)."""
        same = vm is not None and self.vm is not None and vm.key == self.vm.key
        self.vm, self.provider = vm, provider
        sampling = vm is not None and provider is not None and provider.capabilities.has_metrics
        self.display = vm is not None
        if self._timer is not None:
            if sampling and vm is not None and vm.state.is_live:
                self._timer.resume()
            else:
                self._timer.pause()
        if vm is None:
            return
        if not sampling:
            kind = provider.kind if provider is not None else vm.provider_kind
            self.query_one("#cpu-graph", Sparkline).data = []
            self.query_one("#memory-graph", Sparkline).data = []
            self._labels(f"CPU and memory graphs: not available on {kind}", "")
            return
        if not vm.state.is_live:
            self._labels(f"CPU and memory graphs: the VM is {vm.state.value}", "")
        if not same:
            self._graphs(self.monitor.history(vm.key))
            if vm.state.is_live:
                self.call_after_refresh(self._tick)  # laid out by then: `_in_view` can tell

    def _tick(self) -> None:
        if self.vm is not None and self.provider is not None:
            self._sample(self.vm, self.provider)

    @work(group="metrics", exclusive=True, exit_on_error=False)
    async def _sample(self, vm: Vm, provider: Provider) -> None:
        try:
            await self.monitor.sample(provider, vm.id)
        except ProviderError as exc:
            if self.vm is not None and self.vm.key == vm.key:
                self._labels(f"CPU and memory: {exc}", "")
            return
        if self.vm is not None and self.vm.key == vm.key:
            self._due = self.monitor.history(vm.key)
            self._draw_due()

    def _draw_due(self) -> None:
        if self._due is not None and self._in_view():
            self._graphs(self._due)

    def on_resize(self) -> None:
        self._draw_due()  # laid out: a sample that came before the first layout is drawn if in view

    def _in_view(self) -> bool:
        """Some line of the graphs shows in the scrolled window of the pane holding them (not before
        they are laid out: `on_resize` draws then)."""
        pane, placed = self.parent, self.virtual_region
        if not placed:
            return False
        if not isinstance(pane, Widget):
            return True
        window = Region(placed.x, round(pane.scroll_y), placed.width, pane.scrollable_content_region.height)
        return placed.overlaps(window)

    def _graphs(self, history: list[ResourceSample]) -> None:
        self._due = None
        cpu = [s.cpu_percent for s in history if s.cpu_percent is not None]
        memory = [s.memory_bytes / MIB for s in history if s.memory_bytes is not None]
        self.query_one("#cpu-graph", Sparkline).data = cpu
        self.query_one("#memory-graph", Sparkline).data = memory
        if not history:
            self._labels("CPU: measuring…", "memory: measuring…")
            return
        last = history[-1]
        cpu_text = f"CPU {cpu[-1]:.0f}% of {last.vcpu_count} vCPU" if cpu else "CPU: measuring…"
        memory_text = (
            f"memory {memory[-1]:.0f} MiB of {last.memory_limit_bytes // MIB} MiB"
            if memory
            else "memory: not accounted on this host"
        )
        minutes = len(history) * INTERVAL / 60
        self._labels(f"{cpu_text}  (last {minutes:.1f} min)", memory_text)

    def _labels(self, cpu: str, memory: str) -> None:
        for label_id, text in (("cpu-label", cpu), ("memory-label", memory)):
            before = self._shown.get(label_id)
            if text == before:
                continue
            self._shown[label_id] = text
            label = self.query_one(f"#{label_id}", Label)
            width = label.size.width  # fixed by the pane (width 1fr), whatever the text
            one_line = before is not None and cell_len(before) <= width and cell_len(text) <= width
            label.update(text, layout=not one_line)  # a sample's new figures: a repaint, not a relayout
