"""What the code writes in an audit record's before and after, read from the source
itself: every detail key a `record_audit` call can write has a label in both languages on
the audit screen.

Most keys are literal dict keys in the call's `before=`/`after=`; the others are found by
following the argument to where it is built: a variable assigned a dict (and keys set on
it later, `after["password"] = "changed"`), a function of the module that returns a dict
literal (`_router_state`), a `**` of either. Two records are built from data, not from
literals, and are covered from that data: the settings' change (a field of SiteConfig,
and `from_environment`) and a role's grants (the names of the admin's screens).
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

from babel.support import Translations

from tests.unit.test_audit_records import SERVICES, _called, _modules
from wallet.site_settings import SiteConfig
from webadmin.labels import LABELS

ROOT = Path(__file__).resolve().parents[2]

#: The arguments built from data rather than literals, and what covers their keys.
FROM_DATA = {
    "wallet/site_settings.py": "settings",  # {k: before[k] for k in changed}: SiteConfig
    "wallet/staff.py:role.save": "grants",  # **role.grants(), **dict(grants): screen names
}


class _Scope:
    def __init__(self, module: ast.Module, function: ast.AST | None):
        self.module, self.function = module, function
        self.functions = {
            node.name: node for node in module.body if isinstance(node, ast.FunctionDef)
        }


def _keys(expression: ast.expr, scope: _Scope, where: str, seen: set[str]) -> set[str]:
    if isinstance(expression, ast.Constant) and expression.value is None:
        return set()
    if isinstance(expression, ast.Dict):
        found: set[str] = set()
        for key, value in zip(expression.keys, expression.values, strict=True):
            if key is None:
                found |= _keys(value, scope, where, seen)
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                found.add(key.value)
            else:
                raise LookupError(f"{where}: a key that is not a literal ({ast.unparse(key)})")
        return found
    if isinstance(expression, ast.IfExp):
        return _keys(expression.body, scope, where, seen) | _keys(
            expression.orelse, scope, where, seen
        )
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
        function = scope.functions.get(expression.func.id)
        if function is not None and expression.func.id not in seen:
            inner = _Scope(scope.module, function)
            found = set()
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and node.value is not None:
                    found |= _keys(node.value, inner, where, seen | {expression.func.id})
            return found
    if isinstance(expression, ast.Name) and scope.function is not None:
        found, assigned = set(), False
        for node in ast.walk(scope.function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == expression.id:
                        found |= _keys(node.value, scope, where, seen)
                        assigned = True
                    # after["password"] = "changed"
                    keyed = (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == expression.id
                        and isinstance(target.slice, ast.Constant)
                    )
                    if keyed and isinstance(target.slice.value, str):
                        found.add(target.slice.value)
        if assigned:
            return found
    raise LookupError(f"{where}: cannot follow {ast.unparse(expression)} to its keys")


def _enclosing(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    owner: dict[ast.AST, ast.AST] = {}
    # ast.walk goes outside in, so a nested function's nodes end with the nested one.
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if inner is not node:
                    owner[inner] = node
    return owner


def written_detail_keys() -> tuple[dict[str, str], set[str]]:
    """({detail key: where it is written}, the kinds of data-built records met)."""
    found: dict[str, str] = {}
    from_data: set[str] = set()
    for path, tree in _modules(SERVICES):
        owners = _enclosing(tree)
        relative = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) == "record_audit"):
                continue
            where = f"{relative}:{node.lineno}"
            action = node.args[2] if len(node.args) > 2 else None
            action = action.value if isinstance(action, ast.Constant) else ""
            scope = _Scope(tree, owners.get(node))
            for keyword in node.keywords:
                if keyword.arg not in ("before", "after"):
                    continue
                try:
                    keys = _keys(keyword.value, scope, where, set())
                except LookupError:
                    kind = FROM_DATA.get(relative) or FROM_DATA.get(f"{relative}:{action}")
                    if kind is None:
                        raise
                    from_data.add(kind)
                    keys = _literal_keys(keyword.value)
                for key in keys:
                    found.setdefault(key, where)
    return found, from_data


def _literal_keys(expression: ast.expr) -> set[str]:
    """The literal keys of a dict built partly from data."""
    return {
        node.value
        for dictionary in ast.walk(expression)
        if isinstance(dictionary, ast.Dict)
        for node in dictionary.keys
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_the_source_writes_the_detail_keys_this_test_knows_of():
    keys, from_data = written_detail_keys()
    # A floor, so that a change in how the calls are written cannot empty the check.
    assert len(keys) >= 90, len(keys)
    assert {"from_balance", "expires_at", "tls_verify", "avg_rtt_us", "password"} <= set(keys)
    assert from_data == {"settings", "grants"}


def test_every_detail_key_written_has_a_label_on_the_audit_screen():
    keys, _from_data = written_detail_keys()
    settings = {field.name for field in fields(SiteConfig)} | {"from_environment"}
    labels = LABELS["audit_field"]
    missing = {key: where for key, where in keys.items() if key not in labels}
    missing |= {key: "a site setting" for key in settings if key not in labels}
    assert not missing, f"add these audit detail keys to webadmin/labels.py: {missing}"


def test_every_detail_label_is_translated_to_indonesian():
    catalogue = Translations.load(str(ROOT / "webadmin" / "translations"), ["id"])
    english = {text._args[0] for text in LABELS["audit_field"].values()}
    english |= {text._args[0] for text in LABELS["yes_no"].values()}
    # Words that are the same in both languages (docs/glossary.md).
    same = {"Bank", "Chat", "Host", "Port", "Router", "Status", "TLS", "Super admin", "Logo"}
    untranslated = sorted(t for t in english - same if catalogue.gettext(t) == t)
    assert len(english) >= 100 and not untranslated, untranslated
