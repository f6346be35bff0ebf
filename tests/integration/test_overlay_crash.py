"""An overlay layer change killed at every step, for upper_policy fresh and carry, then rerun (forward or back).

failpoint.py SIGKILLs the CLI just before its N-th system-call step. The
rerun (the same new profile, or the old one again) must say it recovered,
converge, leave exactly one overlay at the target, and lose nothing the
overlay's upper held: for carry it is still in the merged view; for fresh
it is in the merged view or in an upper kept aside (`up.livemount-TIME`).
"""

import os
import signal

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from tests.integration.helpers import (apply, cli_fork, cli_json, expand, is_aside, make_tree, pending, profile_dict,
                                       stack, write_profile)


def _profile(scratch, d, lower, policy, name):
    """Return profile `name`: one overlay at @/d/o over layers `lower` of @/d, upper @/d/up, with `policy`."""
    entry = {"target": "@/%s/o" % d, "type": "overlay", "lower": ["@/%s/%s" % (d, x) for x in lower],
             "upper": "@/%s/up" % d, "work": "@/%s/wk" % d, "upper_policy": policy}
    return profile_dict(scratch, [entry], name=name)


def _steps(scratch, old, new):
    """Return the number of system-call steps of old -> new, counted on a throwaway copy of the setup."""
    make_tree(scratch, ["count/l0/x=l0", "count/l1/x=l1", "count/up/", "count/wk/"])
    apply(scratch, old)
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    apply(scratch, new, system=counter)
    return counter.count


def _merged_has_mine(scratch, d):
    """Return True when the file written before the change shows in the overlay at @/d/o."""
    return os.path.exists(expand(scratch, "@/%s/o/mine" % d))


def _kept_aside(scratch, d):
    """Return the uppers kept aside under @/d that hold the file written before the change."""
    base = expand(scratch, "@/%s" % d)
    return [n for n in os.listdir(base) if is_aside(n) and os.path.exists(os.path.join(base, n, "mine"))]


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("back", [False, True], ids=["rerun-new", "rerun-old"])
@pytest.mark.parametrize("policy", ["fresh", "carry"])
def test_layer_change_killed_at_every_step(scratch, policy, back):
    """Killed at step N of a layer change: the rerun recovers, converges, one overlay is left, the upper is not lost."""
    total = _steps(scratch, _profile(scratch, "count", ["l1"], policy, "count"),
                   _profile(scratch, "count", ["l0", "l1"], policy, "count"))
    assert total >= (9 if policy == "fresh" else 4)  # fresh: 2 renames, 2 mkdirs, copy, build, 2 attaches, unmount
    problems = []
    for n in range(1, total + 1):
        d, name = "n%d" % n, "p%d" % n
        make_tree(scratch, ["%s/l0/x=l0" % d, "%s/l1/x=l1" % d, "%s/up/" % d, "%s/wk/" % d])
        old = _profile(scratch, d, ["l1"], policy, name)
        new = _profile(scratch, d, ["l0", "l1"], policy, name)
        apply(scratch, old)
        with open(expand(scratch, "@/%s/o/mine" % d), "w") as f:
            f.write("mine")
        killed = cli_fork(scratch, "apply", "--yes", write_profile(scratch, new, name=name + "-new"),
                          env={failpoint.ENV: "%d:crash" % n})
        if killed.returncode != -signal.SIGKILL:
            problems.append("N=%d: exit %s, not SIGKILL" % (n, killed.returncode))
            continue
        rerun = old if back else new
        code, doc, err = cli_json(scratch, "apply", "--yes", "--json",
                                  write_profile(scratch, rerun, name=name + "-rerun"), fork=True)
        if code != 0:
            problems.append("N=%d: the rerun failed: %s" % (n, err[-400:]))
            continue
        if not any("recovered an interrupted apply" in m for m in doc["recovered"]):
            problems.append("N=%d: no recovery reported" % n)
        if pending(scratch, rerun):
            problems.append("N=%d: not converged: %s" % (n, pending(scratch, rerun)))
        target = expand(scratch, "@/%s/o" % d)
        if len(stack(target)) != 1:
            problems.append("N=%d: %d mounts stacked at the target" % (n, len(stack(target))))
        if "ro" in stack(target)[-1].opts:
            problems.append("N=%d: the overlay was left frozen" % n)
        with open(os.path.join(target, "x")) as f:
            if f.read() != ("l1" if back else "l0"):
                problems.append("N=%d: the wrong layers are mounted" % n)
        if policy == "carry" and not _merged_has_mine(scratch, d):
            problems.append("N=%d: carry lost what the upper held" % n)
        if policy == "fresh" and not (_merged_has_mine(scratch, d) or _kept_aside(scratch, d)):
            problems.append("N=%d: the old upper is neither mounted nor kept aside" % n)
        if policy == "carry" and _kept_aside(scratch, d):
            problems.append("N=%d: carry moved the upper aside" % n)
    assert problems == []
