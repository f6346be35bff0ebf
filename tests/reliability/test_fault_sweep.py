"""Fault injection through the CLI, counted: step N fails with EIO, EBUSY, ENOSPC or EPERM, for every N.

The plan is test_faults.py's A -> B (binds, tmpfs, an overlay, symlinks,
nested mounts, a replace, remounts, removals: more than 20 changes, 40-odd
system-call steps), and here also the way back, B -> A, which is mostly
unmounting, unlinking and removing directories. Each case runs
`livemount apply --yes B.json` with LIVEMOUNT_FAILPOINT="N:ERRNO" and
checks what a user sees: exit status 1, one message naming the failed step,
the live table of the whole namespace identical, the state file byte for byte
identical, no journal left. test_faults.py sweeps the same steps through the
engine; this sweep goes through the command and counts every case
(tests/reliability/conftest.py).

A failed rollback: step k fails and so does the step after it (the first
undo), for every k. The command must exit 1 with the distinct UndoError
("ROLLBACK FAILED") listing what is left over, keep the journal, and the next
plain run must converge.
"""

import errno
import json
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from tests.integration.helpers import (apply, check_live, make_tree, pending, profile_dict, state_meaning, status,
                                       write_profile)
from tests.integration.test_faults import A, B, TREE
from tests.reliability.support import clean_failure, run_cli, whole_table, words

ERRNOS = {"EIO": errno.EIO, "EBUSY": errno.EBUSY, "ENOSPC": errno.ENOSPC, "EPERM": errno.EPERM}
DIRECTIONS = {"A-to-B": (A, B), "B-to-A": (B, A)}


def _prepare(scratch, direction):
    """Return (start, goal, goal file) with the tree made and `start` applied."""
    make_tree(scratch, TREE)
    first, goal = (profile_dict(scratch, entries) for entries in DIRECTIONS[direction])
    apply(scratch, first)
    assert check_live(scratch, first) == []
    return first, goal, write_profile(scratch, goal)


def _count_steps(scratch, first, goal):
    """Return the number of system-call steps of first -> goal (a real run, then first is put back)."""
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    apply(scratch, goal, system=counter)
    apply(scratch, first)
    assert check_live(scratch, first) == []
    return counter.count


def _judge(scratch, run, n, name, before, state):
    """Return the problems of one failed run at step n (empty: the case passed)."""
    problems = clean_failure(run)
    text = words(run.stderr)
    if "(failpoint %d)" % n not in text or "failed step:" not in text:
        problems.append("the message does not name step %d: %s" % (n, text[:300]))
    if os.strerror(ERRNOS[name]).lower() not in text.lower():
        problems.append("the message does not give the errno: %s" % text[:300])
    if whole_table() != before:
        problems.append("the live table changed")
    if state_meaning(scratch) != state:
        problems.append("the state file changed")
    return problems


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("direction", list(DIRECTIONS), ids=list(DIRECTIONS))
@pytest.mark.parametrize("name", list(ERRNOS), ids=list(ERRNOS))
def test_every_step_fails_cleanly_through_the_cli(scratch, tally, direction, name):
    """`apply --yes` with step N failing, for every N: exit 1 naming the step, table and state exactly as before."""
    first, goal, path = _prepare(scratch, direction)
    total = _count_steps(scratch, first, goal)
    assert total >= 30
    category = "fault %s (CLI, every step)" % direction
    failures = []
    before, state = whole_table(), state_meaning(scratch)
    n = 0
    while n < total:
        n += 1
        run = run_cli(scratch, "apply", "--yes", path, env={failpoint.ENV: "%d:%s" % (n, name)})
        case = "N=%d %s" % (n, name)
        if run.code == 0 and name == "EBUSY" and "kept " in run.stderr and "busy" in run.stderr:
            # steps.py's documented policy: a directory we made that is now
            # someone's mount point (EBUSY on rmdir) is kept with a warning.
            tally.record(category, case + " (rmdir busy: kept, warned)", True)
            apply(scratch, first)
            total = _count_steps(scratch, first, goal)  # the kept directory is no longer ours
            before, state = whole_table(), state_meaning(scratch)
            continue
        if run.code == 0 and name == "EBUSY" and "still inside the old overlay" in " ".join(run.stderr.split()):
            # upper_policy.py's documented policy: the old overlay of a fresh
            # replace met EBUSY on a plain unmount, so it was detached lazily
            # (its upper is already aside) and the apply went on.
            tally.record(category, case + " (old overlay busy: detached, upper kept aside)", True)
            apply(scratch, first)
            total = _count_steps(scratch, first, goal)
            before, state = whole_table(), state_meaning(scratch)
            continue
        problems = _judge(scratch, run, n, name, before, state)
        if any(row["interrupted"] for row in status(scratch)):
            problems.append("a journal was left behind")
        if not tally.record(category, case, not problems, problems):
            failures.append("%s: %s" % (case, "; ".join(problems)))
            if whole_table() != before:
                break  # every later case would report the same damage
    assert failures == []
    assert n == total
    apply(scratch, goal)
    assert check_live(scratch, goal) == [] and pending(scratch, goal) == []


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("direction", list(DIRECTIONS), ids=list(DIRECTIONS))
def test_failed_rollback_through_the_cli(scratch, tally, direction):
    """Step k and the undo after it fail, for every k: exit 1, what is left is listed, the next run converges."""
    first, goal, path = _prepare(scratch, direction)
    total = _count_steps(scratch, first, goal)
    category = "undo failure %s (CLI, every step)" % direction
    failures, undo_errors = [], 0
    for k in range(1, total + 1):
        run = run_cli(scratch, "apply", "--yes", "--json", path, env={failpoint.ENV: "%d:EIO,%d:EIO" % (k, k + 1)})
        problems = []
        doc = json.loads(run.stdout) if run.stdout.strip() else {}
        kind = (doc.get("error") or {}).get("kind")
        if run.code != 1 or kind not in ("ApplyError", "UndoError"):
            problems.append("exit %s, error %s: %s" % (run.code, kind, words(run.stderr)[:300]))
        if kind == "UndoError":
            undo_errors += 1
            error = doc["error"]
            if not error.get("left") or not error.get("undo_failures"):
                problems.append("UndoError without what is left: %s" % error)
            if "ROLLBACK FAILED" not in error["message"]:
                problems.append("the message does not say the rollback failed: %s" % error["message"])
            if not any(row["interrupted"] for row in status(scratch)):
                problems.append("the journal is gone: the next run cannot recover")
        repair = run_cli(scratch, "apply", "--yes", path)
        if repair.code != 0:
            problems.append("the repair run failed: %s" % words(repair.stderr)[:300])
        elif check_live(scratch, goal) or pending(scratch, goal):
            problems.append("not converged: %s %s" % (check_live(scratch, goal), pending(scratch, goal)))
        if kind == "UndoError" and "recovered an interrupted apply" not in words(repair.stderr):
            problems.append("the repair run does not say it recovered: %s" % words(repair.stderr)[:200])
        apply(scratch, first)
        if check_live(scratch, first):
            problems.append("cannot go back: %s" % check_live(scratch, first))
        if not tally.record(category, "k=%d" % k, not problems, problems):
            failures.append("k=%d: %s" % (k, "; ".join(problems)))
            if check_live(scratch, first):
                break
    assert failures == []
    assert undo_errors >= total // 2
