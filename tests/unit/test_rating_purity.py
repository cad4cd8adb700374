"""`rating/` is pure: standard library only, no clock, no I/O (ARCHITECTURE.md).

Every module of the package is parsed with `ast`; nothing in it is imported or run. The
checks are tried on small sources first, so a checker that finds nothing cannot pass.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

RATING = Path(__file__).resolve().parents[2] / "rating"

#: Standard library modules that bring a clock, randomness, I/O or processes.
FORBIDDEN_MODULES = frozenset(
    {
        "time",
        "random",
        "socket",
        "sqlite3",
        "secrets",
        "uuid",
        "os",
        "pathlib",
        "shutil",
        "tempfile",
        "subprocess",
        "multiprocessing",
        "threading",
        "asyncio",
        "select",
        "selectors",
        "ssl",
        "http",
        "urllib",
        "logging",
        "importlib",
    }
)
#: Methods that read the clock (datetime.now(), datetime.utcnow(), date.today()).
CLOCK_METHODS = frozenset({"now", "utcnow", "today"})
#: Built-in functions that do I/O or run code from elsewhere. (`io` itself is allowed for
#: in-memory buffers such as io.StringIO; `io.open` is caught as a call to `.open`.)
FORBIDDEN_BUILTINS = frozenset(
    {"open", "print", "input", "breakpoint", "exec", "eval", "__import__"}
)


def imported_modules(tree: ast.AST) -> list[str]:
    """Top-level names of every module imported anywhere in the tree ('.' for relative)."""
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.extend(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                modules.append(".")
            else:
                modules.append((node.module or "").partition(".")[0])
    return modules


def impurities(source: str) -> list[str]:
    """What makes a module impure: foreign or forbidden imports, clock reads, I/O calls."""
    tree = ast.parse(source)
    found = []
    for module in imported_modules(tree):
        if module in (".", "rating"):
            continue
        if module not in sys.stdlib_module_names:
            found.append(f"imports {module}, which is not in the standard library")
        elif module in FORBIDDEN_MODULES:
            found.append(f"imports {module}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_METHODS:
            found.append(f"line {node.lineno}: calls .{node.func.attr}(), a clock")
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_BUILTINS:
            found.append(f"line {node.lineno}: calls {node.func.id}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "open":
            found.append(f"line {node.lineno}: calls .open(), file I/O")
    return found


def rating_modules() -> list[Path]:
    return sorted(RATING.rglob("*.py"))


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy",
        "from flask import Flask",
        "import time",
        "from random import choice",
        "import socket",
        "import sqlite3",
        "import os.path",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "with open('rates.csv') as f: pass",
        "import io\nwith io.open('rates.csv') as f: pass",
        "def f():\n    import time\n    return time.time()",  # hidden inside a function
    ],
)
def test_the_checker_finds_impure_code(source):
    assert impurities(source)


def test_the_checker_accepts_the_standard_library_and_rating_itself():
    source = (
        "from __future__ import annotations\n"
        "from collections.abc import Iterable\n"
        "from datetime import UTC, datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from rating.money import ceil_div\n"
        "from . import bands\n"
        "import csv, io\n"
        "rows = list(csv.reader(io.StringIO('62,1500')))\n"
        "x = datetime(2025, 1, 1, tzinfo=UTC).astimezone(ZoneInfo('Asia/Jakarta'))\n"
    )
    assert impurities(source) == []


def test_every_module_of_rating_is_found():
    names = {path.name for path in rating_modules()}
    assert {"__init__.py", "money.py", "bands.py", "tariff.py", "pricing.py"} <= names


@pytest.mark.parametrize("path", rating_modules(), ids=lambda path: path.name)
def test_rating_modules_import_only_the_standard_library_and_use_no_clock_and_no_io(path):
    assert impurities(path.read_text(encoding="utf-8")) == []
