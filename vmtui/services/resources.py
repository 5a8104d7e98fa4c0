"""CPU and memory history per VM, for the details pane's sparklines.

The UI samples only the VM it shows (every `INTERVAL` seconds); each reading is turned into a CPU
percentage from the growth of the cumulative CPU time since the previous reading of that VM.
A VM's history is the last `LENGTH` samples; the histories of at most `VMS` VMs are kept.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from vmtui.core.models import VmMetrics
from vmtui.providers.base import Provider

INTERVAL = 2.0
LENGTH = 90
"""Samples kept per VM: three minutes at `INTERVAL`."""
VMS = 200


@dataclass(frozen=True)
class ResourceSample:
    cpu_percent: float | None
    """Of the VM's vCPUs together (100 = all busy); None for the first reading or when not accounted."""
    memory_bytes: int | None
    memory_limit_bytes: int
    vcpu_count: int


class ResourceMonitor:
    def __init__(self, *, length: int = LENGTH, vms: int = VMS) -> None:
        self.length = length
        self.vms = vms
        self._last: dict[tuple[str, str], VmMetrics] = {}
        self._history: OrderedDict[tuple[str, str], deque[ResourceSample]] = OrderedDict()

    def history(self, key: tuple[str, str]) -> list[ResourceSample]:
        return list(self._history.get(key, ()))

    async def sample(self, provider: Provider, vm_id: str) -> ResourceSample:
        """Read the VM's use now and add it to its history."""
        metrics = await provider.vm_metrics(vm_id)
        return self.add((provider.name, vm_id), metrics)

    def add(self, key: tuple[str, str], metrics: VmMetrics) -> ResourceSample:
        previous = self._last.get(key)
        self._last[key] = metrics
        sample = ResourceSample(
            _cpu_percent(previous, metrics),
            metrics.memory_current_bytes,
            metrics.memory_limit_bytes,
            metrics.vcpu_count,
        )
        history = self._history.pop(key, None) or deque(maxlen=self.length)
        history.append(sample)
        self._history[key] = history  # most recently sampled last
        while len(self._history) > self.vms:
            oldest, _ = self._history.popitem(last=False)
            self._last.pop(oldest, None)
        return sample


def _cpu_percent(previous: VmMetrics | None, now: VmMetrics) -> float | None:
    if previous is None or previous.cpu_usage_usec is None or now.cpu_usage_usec is None:
        return None
    elapsed = now.sampled_at - previous.sampled_at
    used = now.cpu_usage_usec - previous.cpu_usage_usec
    if elapsed <= 0 or used < 0:  # a restarted VM starts counting again
        return None
    return min(100.0, 100 * used / (elapsed * 1_000_000 * max(1, now.vcpu_count)))
