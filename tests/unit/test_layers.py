"""The arrows of ARCHITECTURE.md, read from the code itself: every `import` of every
module (those inside functions too) goes only where its folder may go. The people's
adapters (webadmin, portal, bots) never import each other; services never import an
adapter; wallet imports no service above it (its model registry, wallet/all_models.py,
names every table's module and is the one exception)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADAPTERS = {"webadmin", "portal", "bots"}
#: What each folder may not import.
FORBIDDEN = {
    "webadmin": ADAPTERS - {"webadmin"},
    "portal": ADAPTERS - {"portal"},
    "bots": ADAPTERS - {"bots"},
    # What the two web apps share sits below both, beside the services.
    "webcommon": ADAPTERS | {"pulsa", "hotspot", "messaging", "agi", "ami_listener"},
    "hotspot": ADAPTERS | {"pulsa"},
    "messaging": ADAPTERS | {"pulsa"},
    "wallet": ADAPTERS | {"pulsa", "hotspot", "messaging", "agi", "ami_listener"},
    "agi": ADAPTERS | {"hotspot", "messaging"},
    "ami_listener": ADAPTERS | {"hotspot", "messaging"},
}
EXCEPTIONS = {REPO / "wallet" / "all_models.py": {"messaging"}}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules():
    for folder in sorted(FORBIDDEN):
        for path in sorted((REPO / folder).rglob("*.py")):
            yield pytest.param(folder, path, id=str(path.relative_to(REPO)))


@pytest.mark.parametrize(("folder", "path"), list(modules()))
def test_each_module_imports_only_what_its_layer_may(folder, path):
    wrong = (imported_packages(path) & FORBIDDEN[folder]) - EXCEPTIONS.get(path, set())
    assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"


def test_an_import_inside_a_function_counts_too(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text(
        "def later():\n    from webadmin.access import actor\n    import portal.app\n"
    )
    assert imported_packages(module) == {"webadmin", "portal"}
