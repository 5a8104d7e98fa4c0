"""CPU and memory of the VM shown in the details pane over the last minutes (Textual's `Sparkline`).

Only the shown VM is sampled, every `INTERVAL` seconds, and only while it is live and its provider
reports metrics (`capabilities.has_metrics`); otherwise the pane says why there are no graphs.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
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
    ResourceGraphs Label { color: $text-muted; }
    """

    def __init__(self, monitor: ResourceMonitor | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.monitor = monitor or ResourceMonitor()
        self.vm: Vm | None = None
        self.provider: Provider | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="cpu-label")
        yield Sparkline([], id="cpu-graph")
        yield Label("", id="memory-label")
        yield Sparkline([], id="memory-graph")

    def on_mount(self) -> None:
        self._timer = self.set_interval(INTERVAL, self._tick, pause=True)
        self.display = False

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
                self._tick()

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
            self._graphs(self.monitor.history(vm.key))

    def _graphs(self, history: list[ResourceSample]) -> None:
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
        self.query_one("#cpu-label", Label).update(cpu)
        self.query_one("#memory-label", Label).update(memory)
