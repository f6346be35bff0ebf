"""The livemount command in a real pseudo-terminal (pexpect), the way a person at a terminal uses it.

The confirmation is answered both ways; colour appears on a terminal and
disappears with --no-color and NO_COLOR; a narrow terminal gets lines that fit.
"""

import os
import re
import sys

import pexpect
import pytest

from tests.integration.helpers import check_live, cli, cli_command, cli_env, make_tree, profile_dict, snapshot, \
    state_dir, write_profile

ENTRIES = [
    {"target": "@/m/data", "type": "bind", "source": "@/s", "options": ["ro"]},
    {"target": "@/m/cache", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/m/ln", "type": "symlink", "source": "@/s"},
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _setup(scratch):
    make_tree(scratch, ["s/f=1"])
    data = profile_dict(scratch, ENTRIES)
    return data, write_profile(scratch, data)


def _spawn(scratch, *argv, columns=100, env=None):
    """Return a pexpect child running livemount in a terminal of `columns` columns, colour allowed."""
    environ = cli_env({"COLUMNS": str(columns), "TERM": "xterm-256color"})
    environ.pop("NO_COLOR", None)  # cli_env turns colour off; a terminal user has it on
    environ.update(env or {})
    cmd = cli_command(scratch, *argv)
    return pexpect.spawn(cmd[0], cmd[1:], env=environ, encoding="utf-8", timeout=60, dimensions=(50, columns))


def _finish(child):
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


ANSWERS = [
    # (id, what the user types, exit status, applied?)
    ("no", "n", 1, False),
    ("enter", "", 1, False),
    ("word-no", "nope", 1, False),
    ("yes", "y", 0, True),
    ("word-yes", "YES", 0, True),
]


@pytest.mark.parametrize("answer, status, applied", [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
def test_confirm(scratch, answer, status, applied):
    """apply shows the plan, asks `Apply N changes to <namespace>? [y/N]`; only y/yes applies, anything else changes nothing."""
    data, path = _setup(scratch)
    before = snapshot(scratch)
    child = _spawn(scratch, "apply", path)
    child.expect("Plan for test in mnt:")
    child.expect(r"Apply 6 changes to mnt:\[\d+\]\? \[y/N\] ")
    child.sendline(answer)
    if applied:
        child.expect("Applied")
        child.expect("6 done")
    else:
        child.expect("nothing changed")
    rest = child.before
    assert _finish(child) == status
    assert "Traceback" not in rest
    if applied:
        assert check_live(scratch, data) == []
        assert cli(scratch, "plan", "--detailed-exitcode", path).returncode == 0
    else:
        assert snapshot(scratch) == before
        assert not os.path.lexists(state_dir(scratch))


def test_nothing_to_do_asks_nothing(scratch):
    """When the table already matches, apply says so and does not ask."""
    data, path = _setup(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    child = _spawn(scratch, "apply", path)
    index = child.expect([r"\[y/N\]", "No changes"])
    assert index == 1
    assert _finish(child) == 0


COLOURS = [
    # (id, options, environment, colour expected)
    ("terminal", [], {}, True),
    ("no-color-option", ["--no-color"], {}, False),
    ("NO_COLOR", [], {"NO_COLOR": "1"}, False),
    ("color-wins", ["--color"], {"NO_COLOR": "1"}, True),
]


@pytest.mark.parametrize("options, env, colour", [c[1:] for c in COLOURS], ids=[c[0] for c in COLOURS])
def test_colour(scratch, options, env, colour):
    """On a terminal the plan is coloured; --no-color and NO_COLOR turn it off; --color forces it."""
    data, path = _setup(scratch)
    child = _spawn(scratch, *(options + ["plan", path]), env=env)
    child.expect(pexpect.EOF)
    text = child.before
    child.close()
    assert child.exitstatus == 0
    assert bool(ANSI.search(text)) == colour
    assert "Changes pending" in ANSI.sub("", text)


@pytest.mark.parametrize("argv", [["plan", "-v", "PROFILE"], ["status"], ["show", "--tree", "@"]],
                         ids=["plan", "status", "show-tree"])
def test_narrow_terminal(scratch, argv):
    """In a 50-column terminal every line fits: tables fold their cells instead of running off the screen."""
    data, path = _setup(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    child = _spawn(scratch, *[path if a == "PROFILE" else scratch if a == "@" else a for a in argv], columns=50)
    child.expect(pexpect.EOF)
    text = ANSI.sub("", child.before)
    child.close()
    lines = text.replace("\r\n", "\n").split("\n")
    assert max(len(line) for line in lines) <= 50, text
    assert len(lines) > 3


def test_failure_on_a_terminal(scratch):
    """A failing apply at a terminal: the error sentence, the failed step and a hint; no traceback."""
    data, path = _setup(scratch)
    child = _spawn(scratch, "apply", "--yes", path, env={"LIVEMOUNT_FAILPOINT": "2:EIO"})
    child.expect("error:")
    child.expect("failed step:")
    child.expect(r"kernel said:(\x1b\[0m)? EIO")  # the label is bold on a terminal
    child.expect("hint:")
    text = child.before
    assert _finish(child) == 1
    assert "Traceback" not in text
    assert sys.executable  # the CLI ran under this interpreter (cli_command)
