"""The livemount command in a real pseudo-terminal (pexpect), the way a person at a terminal uses it.

The confirmation is answered both ways; colour appears on a terminal and
disappears with --no-color and NO_COLOR; a narrow terminal gets lines that fit.
"""

import os
import re
import subprocess
import sys

import pexpect
import pytest

from tests.integration.helpers import check_live, cli, cli_command, cli_env, hand_mount, make_tree, profile_dict, \
    snapshot, state_dir, write_profile

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


# ---- screens at 60, 80 and 200 columns, and through a pipe ----------------------------------------------------------

# Long path components: a line break inside one would leave it whole on no line.
LONG = ["applications-and-services", "configuration-directory", "settings-and-secrets", "runtime-scratch-space",
        "shared-overlay-layer-one", "upper-directory-of-the-overlay"]
WIDE = [
    {"target": "@/srv/applications-and-services/configuration-directory", "type": "bind",
     "source": "@/data/settings-and-secrets", "options": ["ro", "nosuid", "nodev"]},
    {"target": "@/srv/applications-and-services/runtime-scratch-space", "type": "tmpfs",
     "options": ["size=32m", "mode=0755"]},
    {"target": "@/srv/applications-and-services/root", "type": "overlay",
     "lower": ["@/layers/shared-overlay-layer-one", "@/layers/base"], "upper": "@/var/upper-directory-of-the-overlay",
     "work": "@/var/work"},
    {"target": "@/srv/applications-and-services/runtime-scratch-space/inner", "type": "bind",
     "source": "@/data/settings-and-secrets"},
]
SCREENS = [
    # (id, argv: PROFILE is the file, @ the scratch directory; applied first?)
    ("plan", ["plan", "PROFILE"], False),
    ("plan-verbose", ["plan", "-v", "PROFILE"], True),
    ("apply-check", ["apply", "--check", "PROFILE"], False),
    ("show", ["show", "@"], True),
    ("show-tree", ["show", "--tree", "@"], True),
    ("status", ["status"], True),
    ("history", ["history", "wide"], True),
    ("destroy-check", ["destroy", "--check", "wide"], True),
]


def _wide(scratch):
    make_tree(scratch, ["data/settings-and-secrets/f=1", "layers/shared-overlay-layer-one/a=1", "layers/base/b=2",
                        "var/upper-directory-of-the-overlay/", "var/work/"])
    data = profile_dict(scratch, WIDE, name="wide")
    return data, write_profile(scratch, data, name="wide")


def _argv(argv, scratch, path):
    return [path if a == "PROFILE" else scratch if a == "@" else a for a in argv]


@pytest.mark.parametrize("columns", [60, 80, 200], ids=["60-columns", "80-columns", "200-columns"])
@pytest.mark.parametrize("argv, applied", [s[1:] for s in SCREENS], ids=[s[0] for s in SCREENS])
def test_screens_fit_and_never_cut_a_path(scratch, argv, applied, columns):
    """In a terminal of 60, 80, 200 columns every line fits, and no path component is broken across lines."""
    data, path = _wide(scratch)
    if applied:
        assert cli(scratch, "apply", "--yes", path).returncode == 0
    child = _spawn(scratch, *_argv(argv, scratch, path), columns=columns)
    assert _finish(child) == 0
    text = ANSI.sub("", child.before).replace("\r\n", "\n")
    lines = text.split("\n")
    assert max(len(line) for line in lines) <= columns, text
    shown = [w for w in LONG if w in text.replace("\n", "")]  # the components this screen shows at all
    assert all(any(w in line for line in lines) for w in shown), text
    assert shown or argv[0] == "history"


@pytest.mark.parametrize("argv, applied", [s[1:] for s in SCREENS], ids=[s[0] for s in SCREENS])
def test_screens_through_a_pipe(scratch, argv, applied):
    """Through a pipe (no COLUMNS): data is laid out to 80 columns, plain, no path cut; messages are whole lines."""
    data, path = _wide(scratch)
    if applied:
        assert cli(scratch, "apply", "--yes", path).returncode == 0
    env = dict(cli_env(), COLUMNS="")
    proc = subprocess.run(cli_command(scratch, *_argv(argv, scratch, path)), env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not ANSI.search(proc.stdout + proc.stderr)
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    shown = [w for w in LONG if w in proc.stdout.replace("\n", "")]
    assert all(any(w in line for line in lines) for w in shown), proc.stdout
    assert not [line for line in proc.stderr.splitlines() if line != line.rstrip()]


def test_messages_are_not_wrapped_into_a_pipe(scratch):
    """A long error into a pipe stays one line (a log keeps it whole), even with COLUMNS=40."""
    data, path = _wide(scratch)
    cli(scratch, "apply", "--yes", path)
    hand_mount("-t", "tmpfs", "intruder", os.path.join(scratch, "srv/applications-and-services/runtime-scratch-space"))
    proc = cli(scratch, "destroy", "--yes", "wide", env={"COLUMNS": "40"})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "a mount not owned by livemount is on top" in errors[0]


@pytest.mark.parametrize("columns", [60, 80], ids=["60-columns", "80-columns"])
def test_tree_guides_go_on_beside_wrapped_cells(scratch, columns):
    """show --tree: an overlay's layer lines and wrapped cells keep the tree's guides; no line starts a path at column 0."""
    data, path = _wide(scratch)
    cli(scratch, "apply", "--yes", path)
    child = _spawn(scratch, "show", "--tree", scratch, columns=columns)
    _finish(child)
    lines = ANSI.sub("", child.before).replace("\r\n", "\n").split("\n")
    starts = [line for line in lines[1:] if line.startswith("/")]
    assert starts == [line for line in lines[1:] if line.startswith(scratch + " ") or line == scratch][:len(starts)]
    layers = [line for line in lines if re.search(r"\b(lower|upper|work) /", line)]
    assert len(layers) >= 4 and all(re.match(r"^[│ ]+(lower|upper|work) ", line) for line in layers), lines


def test_no_change_plan_counts_and_verbose_lists(scratch):
    """A plan with nothing to do shows a count, not a keep row per entry; -v lists them."""
    data, path = _wide(scratch)
    cli(scratch, "apply", "--yes", path)
    proc = cli(scratch, "plan", path)
    assert proc.stdout.splitlines()[-1] == "No changes. 4 unchanged" and "keep" not in proc.stdout
    assert proc.stdout.count("keep") == 0 and cli(scratch, "plan", "-v", path).stdout.count("up to date") == 4


def test_a_big_plan_summarises(scratch):
    """150 new entries: ten rows of each action are listed, the rest counted; a pipe gets a progress line per 100."""
    make_tree(scratch, ["s/"])
    data = profile_dict(scratch, [{"target": "@/m/t%03d" % k, "type": "tmpfs"} for k in range(150)], name="big")
    path = write_profile(scratch, data, name="big")
    proc = cli(scratch, "plan", path)
    assert "... and 141 more" in proc.stdout and "... and 140 more" in proc.stdout  # mkdir /m too
    assert "(281 more steps not listed" in proc.stdout
    assert len(proc.stdout.splitlines()) < 60
    proc = cli(scratch, "apply", "--yes", path)
    assert [line.split()[0] for line in proc.stderr.splitlines() if line.startswith("[")] == [
        "[100/301]", "[200/301]", "[300/301]", "[301/301]"]


def test_apply_progress_on_a_terminal_is_one_line(scratch):
    """On a terminal the progress is one line redrawn in place, erased at the end; no [k/n] line per step."""
    data, path = _wide(scratch)
    child = _spawn(scratch, "apply", "--yes", path)
    assert _finish(child) == 0
    text = ANSI.sub("", child.before)
    assert "Applied:" in text
    assert not re.search(r"^\[\d+/\d+\]", text.replace("\r\n", "\n"), re.M)


# ---- show: findmnt's habits ----------------------------------------------------------------------------------------

def test_show_like_findmnt(scratch):
    """show: fs options and sizes as people write them; -o columns; --list one line each; --raw escapes blanks."""
    data, path = _wide(scratch)
    cli(scratch, "apply", "--yes", path)
    scratch_space = os.path.join(scratch, "srv/applications-and-services/runtime-scratch-space")
    table = cli(scratch, "show", scratch_space, env={"COLUMNS": "200"}).stdout
    assert re.search(r"rw,mode=755,size=32m", table), table
    proc = cli(scratch, "show", "-o", "target,fstype,owner", "--list", scratch, env={"COLUMNS": "40"})
    assert proc.stdout.splitlines()[0].split() == ["TARGET", "FSTYPE", "OWNER"]
    assert any(line.startswith(scratch_space + " ") and line.split()[1:] == ["tmpfs", "wide"]
               for line in proc.stdout.splitlines()), proc.stdout
    assert len(proc.stdout.splitlines()) == 1 + 5  # one line per mount: what holds scratch, the 4 owned
    os.makedirs(os.path.join(scratch, "with space"))
    hand_mount("-t", "tmpfs", "my src", os.path.join(scratch, "with space"))
    raw = cli(scratch, "show", "--raw", "-n", "-o", "TARGET,SOURCE", os.path.join(scratch, "with space")).stdout
    assert raw.splitlines() == [scratch.replace(" ", "\\x20") + "/with\\x20space my\\x20src"]
    proc = cli(scratch, "show", "-o", "target,nonsense")
    assert proc.returncode == 1 and "unknown column NONSENSE (known: TARGET" in proc.stderr
    proc = cli(scratch, "show", os.path.join(scratch, "does/not/exist"))
    assert proc.returncode == 1 and "cannot show the mounts at %s: no such file or directory" % os.path.join(
        scratch, "does/not/exist") in proc.stderr and proc.stdout == ""


# ---- small things --------------------------------------------------------------------------------------------------

def test_version_and_options_after_the_command(scratch):
    """--version prints the collection's version; global options work after the command as before it."""
    proc = cli(scratch, "--version")
    assert proc.returncode == 0 and re.match(r"^livemount \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+\)$", proc.stdout.strip())
    data, path = _setup(scratch)
    child = _spawn(scratch, "plan", path, "--no-color")
    _finish(child)
    assert not ANSI.search(child.before) and "Changes pending" in child.before
    proc = cli(scratch, "plan", path, "--color")
    assert ANSI.search(proc.stdout)
    proc = cli(scratch, "status", "-q", "--state-dir", os.path.join(scratch, "elsewhere"))
    assert proc.returncode == 0 and "No profile has state" in proc.stdout


def test_unsafe_state_dir_hint_says_chmod(scratch):
    """A state directory anyone can write: apply and status refuse with `chmod 700 DIR` as the hint."""
    data, path = _setup(scratch)
    os.makedirs(state_dir(scratch), mode=0o700)
    os.chmod(state_dir(scratch), 0o1777)
    for argv in (["apply", "--yes", path], ["status"]):
        proc = cli(scratch, *argv)
        assert proc.returncode == 1
        assert "writable by group or others (mode 1777)" in proc.stderr
        assert "hint: `chmod 700 %s`" % state_dir(scratch) in proc.stderr


def test_missing_profile_file_hint(scratch):
    """A profile path that does not exist: the hint says there is no such file, not to run validate."""
    proc = cli(scratch, "plan", os.path.join(scratch, "nosuch.yaml"))
    assert proc.returncode == 1 and "hint: there is no file %s" % os.path.join(scratch, "nosuch.yaml") in proc.stderr
    assert "validate" not in proc.stderr


def test_plurals(scratch):
    """One change is `Apply 1 change`; two conflicts are `(and 1 more conflict)`."""
    data, path = _setup(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    one = profile_dict(scratch, [dict(ENTRIES[0], options=["ro", "nodev"])] + ENTRIES[1:])
    child = _spawn(scratch, "apply", write_profile(scratch, one))
    child.expect(r"Apply 1 change to mnt:\[\d+\]\? \[y/N\] ")
    child.sendline("n")
    _finish(child)
    for target in ("m/data", "m/cache"):
        hand_mount("-t", "tmpfs", "intruder", os.path.join(scratch, target))
    proc = cli(scratch, "plan", path)
    assert proc.returncode == 1 and "(and 1 more conflict)" in proc.stderr and "cannot apply profile" in proc.stderr


def test_ctrl_c_at_the_question_ends_its_line(scratch):
    """Ctrl-C at the confirmation: `error: interrupted` on a line of its own, exit 130, nothing changed."""
    data, path = _setup(scratch)
    before = snapshot(scratch)
    child = _spawn(scratch, "apply", path)
    child.expect(r"\[y/N\] ")
    child.sendintr()
    assert _finish(child) == 130
    text = ANSI.sub("", child.before)
    assert re.search(r"(^|\n)error: interrupted", text.replace("\r\n", "\n")), repr(text)
    assert snapshot(scratch) == before
