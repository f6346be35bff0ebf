"""Scenario 30 for real: `livemount apply` is SIGKILLed at step N, for every N.

The CLI runs in a child process with LIVEMOUNT_FAILPOINT="N:crash" (failpoint.py
kills the process just before the N-th system-call step: nothing after it
runs, not even a finally block). In the every-N loops the child is forked
(helpers.cli_fork: the same CLI code without 0.2-0.4 s of interpreter
start-up per run); test_rerun_says_it_recovered runs the real
`python -m livemount_cli.main`. Then a plain rerun must say it recovered an
interrupted apply and converge, every mount under scratch must be one the
state owns, and destroy must leave the table (and the tree) as they were
before the very first run.
"""

import os
import signal

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from tests.integration.helpers import (apply, check_live, cli, cli_fork, cli_json, destroy, is_aside, make_tree,
                                       mount_points, pending, profile_dict, rel, snapshot, status, steps, write_profile)
from tests.integration.test_faults import A, B, TREE


def _listing(scratch):
    """Return every path under scratch except the state directory (mounts not entered).

    Also left out: old uppers and works an overlay replace kept aside
    (`up.livemount-TIME`, upper_policy fresh keeps them by design).
    """
    out = []
    for d, dirs, files in os.walk(scratch):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != os.path.join(scratch, "state")
                   and not os.path.ismount(os.path.join(d, x)) and not is_aside(x)]
        out.extend(os.path.join(d, x) for x in dirs + files)
    return sorted(out)


def _steps_of(scratch, start, goal):
    """Return the number of system-call steps of start -> goal (measured, then everything destroyed)."""
    if start is not None:
        apply(scratch, start)
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    apply(scratch, goal, system=counter)
    destroy(scratch)
    return counter.count


def _owned_mount_points(scratch):
    """Return the mount targets `status` lists as owned (the engine function behind `livemount status`)."""
    return sorted(e["target"] for r in status(scratch) for e in r["entries"] if e["type"] != "symlink")


def _changes(scratch, doc):
    """Return [(action, @target)] of a --json report."""
    return [(c["action"], rel(scratch, c["target"])) for c in doc["changes"]]


# (applied first, the profile of the killed run, the profile of the rerun)
RUNS = {"A-to-B": (A, B, B), "A-to-B-then-back-to-A": (A, B, A)}


@pytest.mark.ns_timeout(900)
@pytest.mark.parametrize("run", list(RUNS), ids=list(RUNS))
def test_crash_at_every_step(scratch, run):
    """Killed at step N, for every N: the rerun recovers as predicted, converges, leaks nothing; destroy restores."""
    make_tree(scratch, TREE)
    first, killed, b = (profile_dict(scratch, p) for p in RUNS[run])
    killed_path = write_profile(scratch, killed, name="killed")
    path = write_profile(scratch, b)
    total = _steps_of(scratch, first, killed)
    table0, tree0 = snapshot(scratch), _listing(scratch)  # after overlayfs made its wk/work
    assert total >= 25
    problems = []
    for n in range(1, total + 1):
        apply(scratch, first)
        crashed = cli_fork(scratch, "apply", "--yes", killed_path, env={failpoint.ENV: "%d:crash" % n})
        if crashed.returncode != -signal.SIGKILL:
            problems.append("N=%d: exit %s, not SIGKILL: %s" % (n, crashed.returncode, crashed.stderr[-300:]))
            break
        predicted = steps(scratch, apply(scratch, b, check=True), everything=True)
        code, doc, err = cli_json(scratch, "apply", "--yes", "--json", path, fork=True)
        if code != 0:
            problems.append("N=%d: the rerun failed: %s" % (n, err[-600:]))
            break
        if not any("recovered an interrupted apply" in m for m in doc["recovered"]):
            problems.append("N=%d: the rerun does not report the interrupted apply: %s" % (n, doc["recovered"]))
        if _changes(scratch, doc) != predicted:
            problems.append("N=%d: plan predicted %s, the rerun did %s" % (n, predicted, _changes(scratch, doc)))
        if check_live(scratch, b) or pending(scratch, b):
            problems.append("N=%d: not converged: %s %s" % (n, check_live(scratch, b), pending(scratch, b)))
            break
        if mount_points(scratch) != _owned_mount_points(scratch):
            problems.append("N=%d: mounts not owned: %s" % (
                n, sorted(set(mount_points(scratch)) - set(_owned_mount_points(scratch)))))
        destroy(scratch)
        if snapshot(scratch) != table0:
            problems.append("N=%d: destroy did not restore the table" % n)
            break
        if _listing(scratch) != tree0:
            problems.append("N=%d: files left: %s" % (n, sorted(set(_listing(scratch)) ^ set(tree0))))
            break
    assert problems == []


@pytest.mark.parametrize("n", [13, 36, 37], ids=["in-symlink-swap", "after-attach-beneath", "before-detach"])
def test_rerun_says_it_recovered(scratch, n):
    """After a crash `status` shows the interrupted apply, and plain `apply --yes` says it recovered it."""
    make_tree(scratch, TREE)
    apply(scratch, profile_dict(scratch, A))
    path = write_profile(scratch, profile_dict(scratch, B))
    assert cli(scratch, "apply", "--yes", path, env={failpoint.ENV: "%d:crash" % n}).returncode == -signal.SIGKILL
    code, shown, _ = cli_json(scratch, "status", "--json")
    assert code == 1 and [row["interrupted"] for row in shown["profiles"]] == [True]
    rerun = cli(scratch, "apply", "--yes", path)
    assert rerun.returncode == 0, rerun.stderr
    assert "recovered an interrupted apply" in rerun.stderr
    assert cli(scratch, "status").returncode == 0
