"""The layering rules of ARCHITECTURE.md, checked in a clean interpreter.

The rules are import-linter's contracts in pyproject.toml (`make lint` checks the static imports); this
test checks what importing each layer really loads, which also catches imports made at run time."""

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
CONTRACTS = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]


def _package(contract: dict) -> str:
    (source,) = contract["source_modules"]
    return source


def _submodules(package: str) -> list[str]:
    import pkgutil

    pkg = importlib.import_module(package)
    return [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=package + ".")]


def _banned(module: str, rule: str, package: str) -> bool:
    """`rule` is a module or `parent.*`; like import-linter, a layer may always import itself."""
    if module == package or module.startswith(package + "."):
        return False
    return module == rule or module.startswith(rule.removesuffix(".*") + ".")


def test_every_layer_has_a_contract():
    assert sorted(_package(c) for c in CONTRACTS) == [
        "vmtui.core",
        "vmtui.local",
        "vmtui.providers",
        "vmtui.services",
        "vmtui.terminal",
        "vmtui.ui",
    ]


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["id"] for c in CONTRACTS])
def test_layer_never_imports_forbidden(contract):
    package = _package(contract)
    code = (
        "import importlib, json, sys\n"
        f"for m in {_submodules(package)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    bad = [m for m in loaded for rule in contract["forbidden_modules"] if _banned(m, rule, package)]
    assert bad == [], f"{package} pulls in {bad}"


ALLOWED_PRIVATE = {
    "vmtui/ui/widgets/lineage_tree.py: textual.widgets._tree",
}
"""LineageTree replaces Tree._build, whose recursive closure kept every rebuild's `_TreeLine`s alive until a
full collection; tests/ui/test_lineage_stream_gc.py checks its lines equal Textual's own `_build`'s."""


def test_vmtui_uses_only_textuals_public_modules():
    """Textual's `_private` modules change without notice between releases: vmtui imports none of them,
    except where `ALLOWED_PRIVATE` says why (textual is pinned exactly, and a test pins the behaviour)."""
    import ast

    package = PYPROJECT.parent / "vmtui"
    private = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "textual" and any(part.startswith("_") for part in parts):
                    private.append(f"{path.relative_to(package.parent)}: {name}")
    assert [entry for entry in private if entry not in ALLOWED_PRIVATE] == []
