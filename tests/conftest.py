"""Shared test isolation: no test ever reads or writes the developer's real config or state.

Every test gets its own HOME and XDG base directories under pytest's temporary root, and runs
without the VMTUI_* and VERS_* variables of the surrounding shell. The fake HOME is returned by
the `isolated_home` fixture for tests that want to put files there (e.g. `~/.versrc`).

Tests marked `root` (real sandboxes: namespaces, overlayfs, cgroups) are skipped when not run as root.
`engine` is a started local engine in a temporary state dir, for tests that drive it in-process.
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from vmtui.core.collector import collector
from vmtui.local.engine import Engine

_VERS_VARIABLES = ("VERS_API_KEY", "VERS_BASE_URL", "VERS_URL")
_XDG_DIRS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (Linux namespaces, overlayfs, cgroups)")
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("VMTUI_") or name in _VERS_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    for variable, relative in _XDG_DIRS.items():
        monkeypatch.setenv(variable, str(home / relative))
    return home


@pytest.fixture(autouse=True)
def nothing_stays_frozen() -> Iterator[None]:
    """The app freezes what it holds for long (`vmtui.core.collector`); a widget tested without the app
    (which releases the collector on unmount) must not leave one test's objects frozen during the next ones."""
    yield
    collector.release()


@pytest.fixture(scope="session", autouse=True)
def no_vm_outlives_the_session(tmp_path_factory: pytest.TempPathFactory):
    """VMs outlive a stopped or killed daemon by design, so a test that forgets one leaves real processes
    behind. After the session, stop every VM whose directory lies under this session's temporary root."""
    yield
    if os.geteuid() != 0:
        return
    from vmtui.local.sandbox import Sandbox

    leftovers = sorted(tmp_path_factory.getbasetemp().rglob("run/sandbox.json"))
    for marker in leftovers:
        Sandbox.cleanup_stale(marker.parent.parent)
    if leftovers:
        print(f"\nconftest: stopped {len(leftovers)} VM(s) that tests left running")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """A started local engine in a temporary state dir; its VMs are deleted and it is closed after."""
    engine = Engine(tmp_path / "state")
    await engine.start()
    yield engine
    for vm in engine.db.list_vms(all_owners=True, phases=("ready",)):
        await engine.delete_vm(vm.id, owner=vm.owner)
    await engine.close()
