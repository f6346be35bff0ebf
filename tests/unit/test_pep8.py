"""The collection is pep8-clean as ansible-test sanity checks it, seconds after an edit instead of minutes.

The `sanity` phase runs ansible-test's pep8 (and pylint) on the whole
collection, engine included, with no ignore file; a rename that shifts a
continuation line (`sys` -> `system`) breaks it. This runs the same
pycodestyle with ansible-test's own settings, read from the installed
ansible-test: its ignore list and its 160-column limit.
"""

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
