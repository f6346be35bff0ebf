"""A foreign mount appears at the target of step N of a 50-entry apply, destroy and replace, for sampled N.

issue 13 ("Ownership that cannot be confused"): an administrator mounts a
tmpfs of their own (mode 0700, with a file in it) at the target of the
change livemount is performing, just before one of its system calls: on top
of our mount while it is there, or at the bare target when our mount is not
(yet, or any more) there. Whatever the step, the foreign mount is never
unmounted, remounted, moved or recorded as ours, and the table ends as the
rollback promises: a run that fails leaves every other mount exactly as it
was; a run that succeeds leaves exactly what a clean run leaves.

The engine runs in-process (the same code the command runs). After each
case the foreign mount is taken away (with whatever was mounted on it since)
and a plain run brings table and state back to the scenario's start. (A
namespace of its own per case would not do: unshare(2) copies every mount,
and the copies are other mounts, with other unique ids, than the state records.)

Steps are sampled deterministically: every step of the first three entries'
changes, then every SAMPLE-th step (7 by default: prime to the 3, 4 and 5 steps
a change takes, so every kind of step is hit; LIVEMOUNT_FOREIGN_SWEEP_ALL=1 runs them
all). The counts are tallied per scenario and kind of landing.
"""

import json
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import (ApplyError, LivemountError,
                                                                                      UndoError)
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.observe import read_table
from tests.integration.helpers import hand_mount, hand_umount, load, make_tree, profile_dict, state_dir

ENTRIES = 50
SAMPLE = int(os.environ.get("LIVEMOUNT_FOREIGN_SWEEP_SAMPLE", "7"))
EVERY = os.environ.get("LIVEMOUNT_FOREIGN_SWEEP_ALL") == "1"


def _mixed(scratch):
    """Return a 50-entry profile: tmpfs and binds, alternating, each on a directory made for it."""
    mounts = []
    for i in range(ENTRIES):
        if i % 2:
            mounts.append({"target": "@/f/e%02d" % i, "type": "bind", "source": "@/s1/d%02d" % i})
        else:
            mounts.append({"target": "@/f/e%02d" % i, "type": "tmpfs", "options": ["size=1m"]})
    return profile_dict(scratch, mounts, name="sweep")


def _binds(scratch, source):
    """Return a 50-entry profile of binds of `source`'s directories (a replace when the source changes)."""
    return profile_dict(scratch, [{"target": "@/f/e%02d" % i, "type": "bind", "source": "@/%s/d%02d" % (source, i)}
                                  for i in range(ENTRIES)], name="sweep")


# scenario -> (profile applied first or None, the run: a profile to apply or None for destroy)
SCENARIOS = {
    "apply": (None, _mixed),
    "destroy": (_mixed, None),
    "replace": (lambda s: _binds(s, "s1"), lambda s: _binds(s, "s2")),
}


# Which argument of a step names the path it acts at (the others build detached mounts).
_PATH_ARG = {"mkdir": 0, "rmdir": 0, "mkfile": 0, "unlink": 0, "symlink": 1, "clone_mount": 0, "attach": 1,
             "setattr": 0, "reconfigure": 0, "umount": 0}


class _Lander(failpoint.FailpointSys):
    """The real Sys; just before step `at`, a foreign tmpfs is mounted at the current change's target."""

    def __init__(self, at):
        super().__init__(sys_linux.LinuxSys(), {})
        self.at = at
        self.target = None  # the change being performed (progress callback)
        self.landed = None  # (target, unique id, on top of ours?) once mounted

    def progress(self, k, n, change):
        self.target = change.target

    def _step(self, name, *args):
        where = args[_PATH_ARG[name]] if _PATH_ARG.get(name, 99) < len(args) else None
        if isinstance(where, str):
            self.target = where  # a step of the change acting at a path (a parent it makes, say)
        if self.count + 1 == self.at and self.target and os.path.isdir(self.target) \
                and not os.path.islink(self.target):
            table = read_table(self.inner)
            under = table.top(self.target)
            hand_mount("-t", "tmpfs", "-o", "size=2m,mode=0700", "foreign", self.target)
            with open(os.path.join(self.target, "theirs"), "w") as f:
                f.write("theirs")
            self.landed = (self.target, read_table(self.inner).top(self.target).unique, under is not None)
        return super()._step(name, *args)


def _table(scratch, skip=None):
    """Return the mounts under scratch as sorted comparable tuples, the mount with unique id `skip` left out."""
    return sorted((m.mount_point, m.fstype, m.source, m.root if m.fstype != "tmpfs" else "", m.raw_mount_options,
                   m.raw_super_options)
                  for m in read_table(sys_linux.LinuxSys()).mounts
                  if m.mount_point.startswith(scratch + "/") and m.unique != skip)


def _owned_uniques(root):
    out = set()
    for d, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".state.json"):
                with open(os.path.join(d, name)) as f:
                    out.update(o.get("unique") for o in json.load(f)["body"]["owned"])
    return out


def _case(scratch, goal, at, expected):
    """Return (kind, problems) of one case: the run with a foreign mount landing before step `at`, judged."""
    root = state_dir(scratch)
    before = _table(scratch)
    lander = _Lander(at)
    text = ""
    try:
        # A destroy is the apply of an empty profile (engine.destroy), here with a progress callback.
        run = load(goal) if goal is not None else load({"name": "sweep", "mounts": []})
        engine.reconcile(run, lander, root=root, profile_data=goal, progress=lander.progress)
        outcome = "done"
    except UndoError as exc:
        outcome, text = "rollback failed", str(exc)
    except ApplyError as exc:
        outcome, text = "rolled back", str(exc)
    except LivemountError as exc:
        outcome, text = "refused", str(exc)
    if lander.landed is None:
        return "not reached", []
    target, unique, on_ours = lander.landed
    kind = "%s, foreign %s" % (outcome, "on our mount" if on_ours else "at a bare target")
    problems = []
    table = read_table(sys_linux.LinuxSys())
    live = table.by_unique(unique)
    if live is None or live.mount_point != target:
        problems.append("the foreign mount at %s was unmounted or moved" % target)
    elif live.raw_mount_options.split(",")[0] != "rw" or "size=2048k" not in live.raw_super_options:
        problems.append("the foreign mount was changed: %s %s" % (live.raw_mount_options, live.raw_super_options))
    elif table.top(target) is live:
        with open(os.path.join(target, "theirs")) as f:
            if f.read() != "theirs":
                problems.append("the foreign mount's file changed")
    if unique in _owned_uniques(root):
        problems.append("the foreign mount was recorded as ours")
    after = _table(scratch, skip=unique)
    if outcome == "done" and after != expected:
        problems.append("the run succeeded but the table is not a clean run's")
    elif outcome in ("rolled back", "refused") and after != before:
        problems.append("the rollback did not give the table back")
    elif outcome == "rollback failed" and "livemount leaves that mount alone" not in text:
        problems.append("the rollback failed for another reason: %s" % text[:300])
    _take_away(target, unique)
    return kind, problems


def _take_away(target, unique):
    """Return None after unmounting the foreign mount, and whatever was stacked on it (the next case starts clean)."""
    while read_table(sys_linux.LinuxSys()).by_unique(unique) is not None:
        hand_umount("-l", target)


def _reset(scratch, first, goal):
    """Return None once the table and state are back at the scenario's start (recovering a failed rollback)."""
    system = sys_linux.LinuxSys()
    if first is None:
        engine.destroy("sweep", system, root=state_dir(scratch))
    else:
        engine.reconcile(load(first(scratch)), system, root=state_dir(scratch), profile_data=first(scratch))


def _sampled(total, first):
    """Return the steps tried: all of the first `first`, then every SAMPLE-th (all with EVERY)."""
    return [n for n in range(1, total + 1) if EVERY or n <= first or n % SAMPLE == 0 or n == total]


@pytest.mark.ns_timeout(900)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_foreign_mount_at_the_step_target_is_never_touched(scratch, tally, scenario):
    """At sampled steps a foreign tmpfs lands at the step's target: never touched or recorded; table as promised."""
    make_tree(scratch, ["f/"] + ["%s/d%02d/x" % (s, i) + "=%s" % s for s in ("s1", "s2") for i in range(ENTRIES)])
    first, run = SCENARIOS[scenario]
    goal = run(scratch) if run else None
    if first is not None:
        engine.reconcile(load(first(scratch)), sys_linux.LinuxSys(), root=state_dir(scratch),
                         profile_data=first(scratch))
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    if goal is None:
        engine.destroy("sweep", counter, root=state_dir(scratch))
    else:
        engine.reconcile(load(goal), counter, root=state_dir(scratch), profile_data=goal)
    expected = _table(scratch)
    total = counter.count
    _reset(scratch, first, goal)
    start = _table(scratch)
    assert total >= 3 * ENTRIES
    failures = []
    for n in _sampled(total, first=12):
        kind, problems = _case(scratch, goal, n, expected)
        _reset(scratch, first, goal)  # recovers a run whose rollback stopped at the foreign mount, once it is gone
        if _table(scratch) != start:
            problems.append("once the foreign mount was gone, a plain run did not bring the start back")
        tally.record("foreign mount at step N's target: %s (%s)" % (scenario, kind), "step %d" % n, not problems,
                     "; ".join(problems))
        if problems:
            failures.append((n, kind, problems))
    assert failures == []
