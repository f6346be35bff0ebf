"""Crash at every step, counted: `livemount` is SIGKILLed just before step N, then run again.

test_crash.py kills real subprocesses during nothing -> A and A -> B. This
sweep covers the other two kinds of run, each at every step: the way back
B -> A (mostly unmounting, unlinking, removing directories, a replace back)
and `destroy` of everything B made. The command runs in a forked copy of
this process (support.run_forked) so that `N:crash` kills the copy, not the
test, without paying for a new interpreter each time.

After each crash: the rerun exits 0, says it recovered an interrupted apply,
and converges (nothing pending); every mount under scratch is owned by the
state (nothing leaked); `destroy` then gives back the table and the file tree
exactly as they were before the first apply.
"""

import json
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from tests.integration.helpers import (apply, check_live, destroy, is_aside, make_tree, mount_points, pending,
                                       profile_dict, snapshot, status, write_profile)
from tests.integration.test_faults import A, B, TREE
from tests.reliability.support import crashed, run_cli, run_forked, words


def _tree(scratch):
    """Return every path under scratch but the state directory (mounts not entered) and uppers kept aside."""
    out = []
    for d, dirs, files in os.walk(scratch):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != os.path.join(scratch, "state")
                   and not os.path.ismount(os.path.join(d, x)) and not is_aside(x)]
        out.extend(os.path.join(d, x) for x in dirs + files)
    return sorted(out)


def _owned(scratch):
    """Return the mount targets the state owns, as `livemount status` lists them."""
    return sorted(e["target"] for r in status(scratch) for e in r["entries"] if e["type"] != "symlink")


RUNS = {
    "B-to-A": ("apply", "--yes", "@A"),
    "destroy": ("destroy", "--yes", "test"),
}


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("run", list(RUNS), ids=list(RUNS))
def test_crash_at_every_step_then_rerun(scratch, tally, run):
    """Killed before step N, for every N: the rerun recovers and converges, nothing leaks, destroy restores all."""
    make_tree(scratch, TREE)
    a, b = profile_dict(scratch, A), profile_dict(scratch, B)
    path_a = write_profile(scratch, a)
    argv = [path_a if x == "@A" else x for x in RUNS[run]]
    goal = a if run == "B-to-A" else None
    apply(scratch, b)
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    if goal is not None:
        apply(scratch, goal, system=counter)
    else:
        destroy(scratch, system=counter)
    total = counter.count
    destroy(scratch)
    table0, tree0 = snapshot(scratch), _tree(scratch)  # after overlayfs made its wk/work
    assert total >= 25
    category = "crash %s (every step, rerun)" % run
    failures = []
    for n in range(1, total + 1):
        apply(scratch, b)
        problems = []
        killed = run_forked(scratch, *argv, env={failpoint.ENV: "%d:crash" % n})
        if not crashed(killed):
            problems.append("exit %s, not SIGKILL: %s" % (killed.code, words(killed.stderr)[-300:]))
        rerun = run_cli(scratch, *(argv[:1] + ["--json"] + argv[1:]))
        doc = json.loads(rerun.stdout) if rerun.stdout.strip() else {}
        if rerun.code != 0:
            problems.append("the rerun failed: %s" % words(rerun.stderr)[-300:])
        elif not any("recovered an interrupted apply" in m for m in doc.get("recovered", [])):
            problems.append("the rerun does not say it recovered: %s" % doc.get("recovered"))
        if goal is not None and (check_live(scratch, goal) or pending(scratch, goal)):
            problems.append("not converged: %s %s" % (check_live(scratch, goal), pending(scratch, goal)))
        if mount_points(scratch) != _owned(scratch):
            problems.append("mounts nobody owns: %s" % sorted(set(mount_points(scratch)) - set(_owned(scratch))))
        gone = run_cli(scratch, "destroy", "--yes", "test")
        if gone.code != 0:
            problems.append("destroy failed: %s" % words(gone.stderr)[-300:])
        if snapshot(scratch) != table0:
            problems.append("destroy did not restore the table")
        if _tree(scratch) != tree0:
            problems.append("files left: %s" % sorted(set(_tree(scratch)) ^ set(tree0)))
        if not tally.record(category, "N=%d" % n, not problems, problems):
            failures.append("N=%d: %s" % (n, "; ".join(problems)))
            if snapshot(scratch) != table0:
                break  # every later case would start from the damage
    assert failures == []
