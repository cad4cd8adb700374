"""What the code writes to the audit log, read from the source itself: every action code
a `record_audit` call can write has a label in both languages on the audit screen, and
the web screens pass the client's address to every service that records one."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.support import Translations

from webadmin.labels import LABELS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("wallet", "hotspot", "messaging", "pulsa", "bots", "webadmin", "portal")
WEB = ("webadmin", "portal")


def _modules(folders: tuple[str, ...]):
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _codes(expression: ast.expr, where: str) -> set[str]:
    """The action codes an expression can give: a literal, or a choice between them."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return {expression.value}
    if isinstance(expression, ast.IfExp):
        return _codes(expression.body, where) | _codes(expression.orelse, where)
    raise AssertionError(
        f"{where}: the action of record_audit is not a literal code "
        f"({ast.unparse(expression)}); write it as one so that its label can be checked"
    )


def written_actions() -> dict[str, str]:
    """Every action code passed to record_audit in the code base, with where."""
    found: dict[str, str] = {}
    for path, tree in _modules(SERVICES):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) == "record_audit"):
                continue
            action = node.args[2] if len(node.args) > 2 else None
            for keyword in node.keywords:
                if keyword.arg == "action":
                    action = keyword.value
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert action is not None, f"{where}: record_audit without an action"
            for code in _codes(action, where):
                found.setdefault(code, where)
    return found


def test_the_source_writes_the_action_codes_this_test_knows_of():
    actions = written_actions()
    # A floor, so that a change in how the calls are written cannot empty the check.
    assert len(actions) >= 60
    assert {"wallet.top_up", "conversation.message", "staff.sign_in_failed"} <= set(actions)


def test_every_action_written_has_a_label_on_the_audit_screen():
    labels = LABELS["audit_action"]
    missing = {code: where for code, where in written_actions().items() if code not in labels}
    assert not missing, f"add these action codes to webadmin/labels.py: {missing}"


def test_every_action_label_is_translated_to_indonesian():
    catalogue = Translations.load(str(ROOT / "webadmin" / "translations"), ["id"])
    english = {label._args[0] for label in LABELS["audit_action"].values()}
    # "Transfer" is the same word in both languages (docs/glossary.md).
    untranslated = sorted(t for t in english - {"Transfer"} if catalogue.gettext(t) == t)
    assert len(english) >= 60 and not untranslated, untranslated


def _services_taking_an_address() -> dict[str, set[str]]:
    """{module: its functions that take an `address`}, for wallet, hotspot, messaging."""
    services: dict[str, set[str]] = {}
    for path, tree in _modules(("wallet", "hotspot", "messaging")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                arguments = node.args.args + node.args.kwonlyargs
                if any(argument.arg == "address" for argument in arguments):
                    services.setdefault(module, set()).add(node.name)
    return services


def test_the_web_screens_pass_the_address_to_every_service_that_records_one():
    services = _services_taking_an_address()
    forgotten, checked = [], 0
    for path, tree in _modules(WEB):
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module in services
            for alias in node.names
            if alias.name in services[node.module]
        }
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if called and node.func.id in imported:
                checked += 1
                keywords = {keyword.arg for keyword in node.keywords}
                if "address" not in keywords and None not in keywords:
                    forgotten.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}")
    assert checked >= 40
    assert not forgotten, f"pass address=client_address() in {forgotten}"
