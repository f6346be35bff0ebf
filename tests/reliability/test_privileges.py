"""Who may run livemount, and which state directories it trusts.

State directories: the state root or the namespace directory writable by
group or others, owned by another user, a symlink, or a file: every command
refuses (exit 1, "cannot use state directory ..."), mounts nothing and
writes nothing.

A caller who is not root (the test drops to nobody:nogroup in a forked copy
of itself, with no supplementary groups, and runs the command there): apply
and destroy fail with one clear message and change nothing; validate, which
touches nothing, still works.
"""

import contextlib
import os
import pwd

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from livemount_cli import main as cli_main
from tests.integration.helpers import apply, make_tree, profile_dict, read_state, state_dir, write_profile
from tests.reliability.support import clean_failure, listing, run_cli, run_forked, whole_table, words

TREE = ["s/f=1"]
ENTRIES = [
    {"target": "@/m/b", "type": "bind", "source": "@/s"},
    {"target": "@/m/t", "type": "tmpfs", "options": ["size=1m"]},
]
NOBODY = pwd.getpwnam("nobody")
WARM_PROFILE = []  # the profile the child plans as root before dropping privileges


def _ns_dir(scratch):
    """Return the namespace directory under the state root (made by a first apply)."""
    root = state_dir(scratch)
    return os.path.join(root, next(n for n in os.listdir(root) if n.startswith("mnt-")))


def _group_writable(d):
    os.chmod(d, 0o770)


def _other_writable(d):
    os.chmod(d, 0o757)


def _sticky_world(d):
    os.chmod(d, 0o1777)


def _foreign_owner(d):
    os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)


def _symlinked(d):
    os.rename(d, d + ".real")
    os.symlink(d + ".real", d)


def _a_file(d):
    os.rename(d, d + ".moved")
    with open(d, "w", encoding="utf-8") as f:
        f.write("not a directory\n")


UNSAFE = [
    ("root-group-writable", "root", _group_writable, "writable by group or others"),
    ("root-world-writable", "root", _other_writable, "writable by group or others"),
    ("root-like-tmp", "root", _sticky_world, "writable by group or others"),
    ("root-owned-by-nobody", "root", _foreign_owner, "owned by uid %d, not 0" % NOBODY.pw_uid),
    ("root-is-a-symlink", "root", _symlinked, "not a directory"),
    ("root-is-a-file", "root", _a_file, "not a directory"),
    ("ns-dir-group-writable", "ns", _group_writable, "writable by group or others"),
    ("ns-dir-owned-by-nobody", "ns", _foreign_owner, "owned by uid %d, not 0" % NOBODY.pw_uid),
    ("ns-dir-is-a-symlink", "ns", _symlinked, "not a directory"),
]
MUTATING = [["apply", "--yes", "@P"], ["destroy", "test"]]
READ_ONLY = [["plan", "@P"], ["status"]]


def _refusals(scratch, tally, category, which, damage, expected, commands):
    """Return the failures of running `commands` against a state directory spoilt by `damage`."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, ENTRIES)
    apply(scratch, data)
    changed = dict(data, mounts=data["mounts"][:1])  # so that apply and destroy would have work to do
    path = write_profile(scratch, changed)
    damage(state_dir(scratch) if which == "root" else _ns_dir(scratch))
    table, files = whole_table(), listing(scratch)
    failures = []
    for argv in commands:
        argv = [path if a == "@P" else a for a in argv]
        run = run_cli(scratch, *argv)
        problems = clean_failure(run)
        said = words(run.stderr)
        if not any("cannot %s state directory" % verb in said for verb in ("use", "create")) \
                or expected.lower() not in said.lower():
            problems.append("not refused as %r: %s" % (expected, said[:300]))
        if whole_table() != table or listing(scratch) != files:
            problems.append("something was changed")
        if not tally.record(category, "%s: %s" % (damage.__name__.strip("_"), argv[0]), not problems, problems):
            failures.append("%s: %s" % (argv[0], problems))
    return failures


@pytest.mark.parametrize("which, damage, expected", [c[1:] for c in UNSAFE], ids=[c[0] for c in UNSAFE])
def test_unsafe_state_directory_is_refused(scratch, tally, which, damage, expected):
    """A state directory others could write, or not a plain directory of ours: apply and destroy refuse it."""
    assert _refusals(scratch, tally, "security: unsafe state directory (apply, destroy)", which, damage, expected,
                     MUTATING) == []


@pytest.mark.parametrize("which, damage, expected", [c[1:] for c in UNSAFE], ids=[c[0] for c in UNSAFE])
def test_unsafe_state_directory_read_only_commands(scratch, tally, which, damage, expected):
    """plan and status against an unsafe state directory refuse it too (they only read, but must not trust it)."""
    assert _refusals(scratch, tally, "security: unsafe state directory (plan, status)", which, damage, expected,
                     READ_ONLY) == []


def _drop_to_nobody():
    """Become nobody:nogroup with no supplementary groups (in the forked child only).

    The interpreter and its packages live under /root here (pyenv), which
    nobody cannot read: a real `setpriv --reuid=nobody livemount` would not
    even start Python. So the child first renders a plan and an error as
    root, which imports every module the command needs, then drops.
    """
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        cli_main.main(["validate", "/nonexistent/profile.yml"])
        cli_main.main(["schema"])
        cli_main.main(["--state-dir", "/nonexistent/state", "plan", WARM_PROFILE[0]])
    os.setgroups([])
    os.setgid(NOBODY.pw_gid)
    os.setuid(NOBODY.pw_uid)


NONROOT = [
    # (id, state applied first?, argv, exit status, message fragment or None)
    ("apply-fresh", False, ["apply", "--yes", "@P"], 1, "must run as root"),
    ("apply-over-root-state", True, ["apply", "--yes", "@Q"], 1, "owned by uid 0, not %d" % NOBODY.pw_uid),
    ("destroy", True, ["destroy", "--yes", "test"], 1, "must run as root (uid 0), not uid %d" % NOBODY.pw_uid),
    ("plan-over-root-state", True, ["plan", "@Q"], 1, "owned by uid 0, not %d" % NOBODY.pw_uid),
    ("validate", True, ["validate", "@P"], 0, None),
]


@pytest.mark.parametrize("applied, argv, code, expected", [c[1:] for c in NONROOT], ids=[c[0] for c in NONROOT])
def test_non_root_caller(scratch, tally, applied, argv, code, expected):
    """The command run as nobody: a clear error and no partial change (validate alone works)."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, ENTRIES)
    WARM_PROFILE[:] = [write_profile(scratch, data, name="warm")]
    paths = {"@P": write_profile(scratch, data), "@Q": write_profile(scratch, dict(data, mounts=data["mounts"][:1]),
                                                                      name="smaller")}
    if applied:
        apply(scratch, data)
    os.chmod(scratch, 0o755)
    table, files, state = whole_table(), listing(scratch), read_state(scratch)
    # The failpoint is a second guard: were the root check gone, step 1 fails
    # instead of an unprivileged process half-applying anything.
    run = run_forked(scratch, *[paths.get(a, a) for a in argv], env={failpoint.ENV: "1:EPERM"},
                     before=_drop_to_nobody)
    problems = [] if code == 0 and run.code == 0 else clean_failure(run)
    if run.code != code:
        problems.append("exit %s, not %s: %s" % (run.code, code, words(run.stderr)[:300]))
    if expected and expected not in words(run.stderr):
        problems.append("no %r in %s" % (expected, words(run.stderr)[:300]))
    if (whole_table(), listing(scratch), read_state(scratch)) != (table, files, state):
        problems.append("something was changed")
    tally.record("security: non-root caller", argv[0] + (" (state exists)" if applied else ""), not problems,
                 problems)
    assert problems == []
