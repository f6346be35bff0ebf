"""The engine imports nothing but the standard library and itself (relatively).

plugins/module_utils/livemount/ is shipped to managed hosts inside Ansible
module payloads: a third-party import would fail there, and an absolute
`ansible_collections...` import would tie it to Ansible's loader.

One exception: an optional third-party import inside `try:` ... `except
ImportError` (the engine still runs, with a clear error for that one feature,
on a stdlib-only host). Ansible is never allowed, guarded or not.
"""

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "plugins" / "module_utils" / "livemount"
ENGINE_FILES = sorted(ENGINE.rglob("*.py"))
DYNAMIC_IMPORTERS = {"__import__", "import_module"}  # builtins.__import__, importlib.import_module
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _top(name):
    """Return the top-level package of a dotted module name."""
    return name.split(".", 1)[0]


def _absolute_problem(name, optional=False):
    """Return why importing the absolute module `name` is forbidden, or None."""
    top = _top(name)
    if top in ("ansible", "ansible_collections"):
        return "imports %s: the engine must not depend on Ansible (use a relative import inside the package)" % name
    if top not in sys.stdlib_module_names and not optional:
        return "imports %s: not in the standard library (guard it with try/except ImportError if optional)" % name
    return None


def _catches_import_error(handler):
    """Return True if an except clause catches ImportError (bare, by name or in a tuple)."""
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS for n in names)


def _guarded_nodes(tree):
    """Return ids of the nodes inside a `try:` body whose handlers catch ImportError."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return guarded


def import_problems(source, depth=0, filename="<engine>"):
    """Return 'line N: problem' strings for every forbidden import in `source`.

    `depth` is how many packages below the engine package the file lies, so
    a relative import may not climb out of the engine.
    """
    problems = []
    tree = ast.parse(source, filename)
    guarded = _guarded_nodes(tree)
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Import):
            found = [_absolute_problem(alias.name, id(node) in guarded) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found = [_absolute_problem(node.module, id(node) in guarded)]
            elif node.level > depth + 1:
                found = ["relative import climbs out of the engine package (level %d)" % node.level]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in DYNAMIC_IMPORTERS and isinstance(node.args[0].value, str):
                found = [_absolute_problem(node.args[0].value, id(node) in guarded)]
        problems.extend("line %d: %s" % (node.lineno, p) for p in found if p)
    return problems


NOT_STDLIB = "not in the standard library (guard it with try/except ImportError if optional)"


@pytest.mark.parametrize(
    "source, depth, expected",
    [
        ("import os, sys\nfrom dataclasses import dataclass\n", 0, []),
        ("from . import model\nfrom .model import Entry\n", 0, []),
        ("from __future__ import annotations\n", 0, []),
        ("import yaml\n", 0, ["line 1: imports yaml: " + NOT_STDLIB]),
        ("def f():\n    import rich.console\n", 0, ["line 2: imports rich.console: " + NOT_STDLIB]),
        ("try:\n    import yaml\nexcept ImportError:\n    yaml = None\n", 0, []),
        ("try:\n    import yaml\nexcept (OSError, ModuleNotFoundError):\n    pass\n", 0, []),
        ("try:\n    import yaml\nexcept ValueError:\n    pass\n", 0, ["line 2: imports yaml: " + NOT_STDLIB]),
        ("try:\n    pass\nexcept ImportError:\n    import yaml\n", 0, ["line 4: imports yaml: " + NOT_STDLIB]),
        ("try:\n    import ansible\nexcept ImportError:\n    pass\n", 0, [
            "line 2: imports ansible: the engine must not depend on Ansible (use a relative import inside the package)"]),
        ("from ansible.module_utils.basic import AnsibleModule\n", 0, [
            "line 1: imports ansible.module_utils.basic: the engine must not depend on Ansible"
            " (use a relative import inside the package)"]),
        ("from ansible_collections.livemount.core.plugins.module_utils.livemount import model\n", 0, [
            "line 1: imports ansible_collections.livemount.core.plugins.module_utils.livemount: the engine must"
            " not depend on Ansible (use a relative import inside the package)"]),
        ("from ..other import x\n", 0, ["line 1: relative import climbs out of the engine package (level 2)"]),
        ("from ..model import Entry\n", 1, []),
        ("import importlib\nimportlib.import_module('jsonschema')\n", 0, [
            "line 2: imports jsonschema: " + NOT_STDLIB]),
        ("__import__('json')\n", 0, []),
    ],
    ids=["stdlib", "relative", "future", "third-party", "nested-import", "optional-import-error",
         "optional-in-tuple", "wrong-exception", "import-in-handler", "optional-ansible", "ansible", "absolute-self",
         "relative-escape", "relative-from-subpackage", "dynamic-third-party", "dynamic-stdlib"],
)
def test_import_checker(source, depth, expected):
    """The checker accepts stdlib and in-package relative imports and names every other import."""
    assert import_problems(source, depth) == expected


def test_engine_has_files():
    """The engine directory exists and holds Python files (the guard is not vacuous)."""
    assert ENGINE_FILES, "no .py files under %s" % ENGINE


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[str(p.relative_to(ENGINE)) for p in ENGINE_FILES])
def test_engine_file_imports_only_stdlib(path):
    """Each engine file imports only the standard library and its own package, relatively."""
    depth = len(path.relative_to(ENGINE).parts) - 1
    assert import_problems(path.read_text(encoding="utf-8"), depth, str(path)) == []
