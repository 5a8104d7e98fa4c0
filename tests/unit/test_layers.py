"""The layering rules of ARCHITECTURE.md, checked in a clean interpreter."""

import json
import subprocess
import sys

import pytest

RULES = {
    "vmtui.core": ["textual", "httpx", "asyncssh", "fastapi"],
    "vmtui.providers": ["textual", "asyncssh", "fastapi", "vmtui.services", "vmtui.ui", "vmtui.local"],
    "vmtui.services": ["textual", "fastapi", "vmtui.ui", "vmtui.local"],
    "vmtui.local": ["textual", "vmtui.ui", "vmtui.services", "vmtui.providers"],
    "vmtui.terminal": ["textual", "asyncssh", "vmtui.providers", "vmtui.services", "vmtui.ui", "vmtui.local"],
}


def _submodules(package: str) -> list[str]:
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    return [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=package + ".")]


@pytest.mark.parametrize("package", sorted(RULES))
def test_layer_never_imports_forbidden(package):
    code = (
        "import importlib, json, sys\n"
        f"for m in {_submodules(package)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    bad = [m for m in loaded for banned in RULES[package] if m == banned or m.startswith(banned + ".")]
    assert bad == [], f"{package} pulls in {bad}"
