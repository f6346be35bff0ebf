"""The engine parses, compiles and imports on Python 3.9, its oldest target.

ansible-core 2.21 supports managed hosts down to Python 3.9, and the engine
runs there inside module payloads. `ast.parse(feature_version=...)` catches
newer syntax in-process; a real 3.9 interpreter also catches what only shows
at import time (`X | Y` annotations evaluated at definition, dataclass
arguments added in 3.10, stdlib modules that 3.9 lacks).
"""

import ast
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "plugins" / "module_utils" / "livemount"
ENGINE_FILES = sorted(ENGINE.rglob("*.py"))
IDS = [str(p.relative_to(ENGINE)) for p in ENGINE_FILES]
COLLECTIONS = REPO / ".build" / "collections"  # made by tests/conftest.py
NO_PY39 = "no Python 3.9 found (pyenv ~/.pyenv/versions/3.9.*, python3.9 on PATH, or LIVEMOUNT_PY39)"

# Runs under Python 3.9: compile and import every file, report errors as JSON.
PROBE = r"""
import importlib, json, sys, traceback
root, pairs = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, root)
errors = {}
for path, module in pairs:
    try:
        with open(path, encoding="utf-8") as handle:
            compile(handle.read(), path, "exec")
        importlib.import_module(module)
    except BaseException:
        errors[path] = traceback.format_exc(limit=-4)
print(json.dumps({"version": list(sys.version_info[:2]), "errors": errors}))
"""


def module_name(path):
    """Return the absolute import name of an engine file."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["ansible_collections", "livemount", "core"] + parts)


def find_python39():
    """Return the path of a Python 3.9 interpreter, or None."""
    candidates = [os.environ.get("LIVEMOUNT_PY39", "")]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    # Highest 3.9.x last: reverse so it is tried first.
    found = glob.glob(os.path.join(pyenv_root, "versions", "3.9.*", "bin", "python"))
    candidates += sorted(found, key=lambda p: [int(x) for x in p.split("/")[-3].split(".") if x.isdigit()], reverse=True)
    candidates += [shutil.which("python3.9") or ""]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def py39_report():
    """Return {path: traceback} of the engine files that fail to compile or import on 3.9."""
    python = find_python39()
    if python is None:
        pytest.skip(NO_PY39)
    pairs = [[str(p), module_name(p)] for p in ENGINE_FILES]
    run = subprocess.run([python, "-I", "-c", PROBE, str(COLLECTIONS), json.dumps(pairs)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["version"] == [3, 9]
    return report["errors"]


SNIPPETS = [
    # (source, accepted by ast.parse(feature_version=(3, 9)), runs on 3.9)
    ("x = 1\n", True, True),
    ("from typing import Optional\ndef f(a: Optional[int]) -> None: pass\n", True, True),
    ("match x:\n    case 1:\n        pass\n", False, False),
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", False, False),
    # Valid syntax that only fails when 3.9 runs it: why the import check exists.
    ("def f(a: int | None) -> None: pass\n", True, False),
    ("import dataclasses\n@dataclasses.dataclass(slots=True)\nclass A:\n    x: int\n", True, False),
]
SNIPPET_IDS = ["plain", "typing-optional", "match", "except-star", "union-annotation", "dataclass-slots"]


@pytest.mark.parametrize("source, ast_ok, py39_ok", SNIPPETS, ids=SNIPPET_IDS)
def test_in_process_check_rejects_newer_syntax(source, ast_ok, py39_ok):
    """ast.parse with feature_version=(3, 9) accepts 3.9 syntax and rejects most newer statements."""
    try:
        ast.parse(source, feature_version=(3, 9))
        parsed = True
    except SyntaxError:
        parsed = False
    assert parsed == ast_ok


@pytest.mark.parametrize("source, ast_ok, py39_ok", SNIPPETS, ids=SNIPPET_IDS)
def test_real_39_rejects_newer_syntax(source, ast_ok, py39_ok):
    """The Python 3.9 interpreter found by the guard fails exactly the snippets newer than 3.9."""
    python = find_python39()
    if python is None:
        pytest.skip(NO_PY39)
    run = subprocess.run([python, "-I", "-c", "import sys; exec(compile(sys.stdin.read(), '<snippet>', 'exec'), {})"],
                         input=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert (run.returncode == 0) == py39_ok, run.stderr


@pytest.mark.parametrize("path", ENGINE_FILES, ids=IDS)
def test_engine_file_parses_as_39(path):
    """Each engine file parses with the Python 3.9 grammar (in-process)."""
    ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 9))


@pytest.mark.parametrize("path", ENGINE_FILES, ids=IDS)
def test_engine_file_compiles_and_imports_on_39(py39_report, path):
    """Each engine file compiles and imports under a real Python 3.9 interpreter."""
    error = py39_report.get(str(path))
    assert error is None, error
