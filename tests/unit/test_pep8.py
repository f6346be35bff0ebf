"""The collection passes ansible-test sanity's style rules that edits break most, seconds after an edit.

The `sanity` phase runs ansible-test's pep8 and pylint on the whole
collection, engine included, with no ignore file, and takes minutes. Two of
its rules are broken again and again by ordinary edits: a rename that
shifts a continuation line (`sys` -> `system`: pep8 E127/E128), and a value
not used bound to a bare `_` (ansible-test's pylint configuration refuses
the name `_`: disallowed-name). This checks both: pycodestyle with
ansible-test's own settings (its ignore list, read from the installed
ansible-test, and 160 columns), and an AST walk for `_` bound anywhere.
"""

import ast
import glob
import os

import pytest

pycodestyle = pytest.importorskip("pycodestyle")
ansible_test = pytest.importorskip("ansible_test")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IGNORE_FILE = os.path.join(os.path.dirname(ansible_test.__file__), "_util", "controller", "sanity", "pep8",
                           "current-ignore.txt")


def _ignored():
    with open(IGNORE_FILE) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def test_plugins_are_pep8_clean_for_ansible_test(capsys):
    """Every Python file under plugins/ passes pycodestyle with ansible-test sanity's pep8 settings."""
    files = sorted(glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True))
    assert len(files) > 50
    style = pycodestyle.StyleGuide(max_line_length=160, ignore=_ignored(), quiet=False)
    report = style.check_files(files)
    assert report.total_errors == 0, capsys.readouterr().out


def test_no_value_is_bound_to_a_bare_underscore():
    """No assignment, loop, comprehension or unpacking under plugins/ binds `_` (name it `_what` instead)."""
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        found += ["%s:%d" % (os.path.relpath(path, REPO), node.lineno) for node in ast.walk(tree)
                  if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)]
    assert found == [], "ansible-test's pylint refuses the name _ (disallowed-name): %s" % ", ".join(found)
