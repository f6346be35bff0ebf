"""Planted symlinks in target paths: static ones are refused by the plan, raced ones by every system call.

Static: a symlink already sits in a target path (a middle component, the
target itself, the parent of a symlink entry, dangling or not). The plan
finds it (sys_linux resolves with RESOLVE_NO_SYMLINKS) and the command exits
1 with "refusing to follow symlink", creating and mounting nothing, neither
where the link points (a decoy tree) nor anywhere else.

Raced: the path is a real directory when the plan is made, and is swapped
for a symlink to a look-alike decoy tree just before step N of the apply (a
Sys wrapper performs the swap, then the step). For every N of A -> B the
apply must fail with "refusing to follow symlink", the decoy must stay
untouched (no entry made, nothing mounted in it), and once the directory is
put back the next plain run must converge. A bind *source* behind a symlink
is followed on purpose (the source is the user's choice): the positive
control.
"""

import errno
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import Pin
from tests.integration.helpers import (apply, check_live, make_tree, mount_points, pending, profile_dict, read_state,
                                       state_dir, write_profile)
from tests.integration.test_faults import A, B, TREE
from tests.reliability.support import RaceSys, clean_failure, listing, run_cli, whole_table, words

REFUSED = "refusing to follow symlink"

STATIC = [
    # (id, files to make under scratch, profile entries)
    ("middle-component", ["decoy/", "src/", "t->@/decoy"],
     [{"target": "@/t/x", "type": "tmpfs"}, {"target": "@/t/y/z", "type": "bind", "source": "@/src"}]),
    ("target-itself", ["decoy/", "t->@/decoy"], [{"target": "@/t", "type": "tmpfs"}]),
    ("deep-middle", ["decoy/b/", "t/a->@/decoy"], [{"target": "@/t/a/b/c", "type": "tmpfs"}]),
    ("dangling", ["t->@/nowhere"], [{"target": "@/t/x", "type": "tmpfs"}]),
    ("parent-of-symlink-entry", ["decoy/", "t->@/decoy"], [{"target": "@/t/ln", "type": "symlink", "source": "/etc"}]),
    ("file-bind-through-link", ["decoy/", "f=1", "t->@/decoy"],
     [{"target": "@/t/f.conf", "type": "bind", "source": "@/f"}]),
    ("overlay-target", ["decoy/", "l/", "l2/", "t->@/decoy"],
     [{"target": "@/t/ov", "type": "overlay", "lower": ["@/l", "@/l2"]}]),
    ("link-to-root", ["t->/"], [{"target": "@/t/srv-livemount-test", "type": "tmpfs"}]),
]


@pytest.mark.parametrize("tree, entries", [c[1:] for c in STATIC], ids=[c[0] for c in STATIC])
def test_planted_symlink_is_refused(scratch, tally, tree, entries):
    """A symlink already in a target path: `apply --yes` exits 1 naming it, and makes or mounts nothing anywhere."""
    make_tree(scratch, tree)
    os.makedirs(state_dir(scratch))
    data = profile_dict(scratch, entries)
    path = write_profile(scratch, data)
    before = (whole_table(), listing(scratch + "/decoy"), listing(state_dir(scratch)), os.listdir("/"))
    # The plan refuses these before any system call. Should it stop doing so,
    # the failpoint makes the first call fail instead of, for link-to-root,
    # making a directory on the host's real root file system.
    run = run_cli(scratch, "apply", "--yes", path, env={failpoint.ENV: "1:EPERM"})
    problems = clean_failure(run)
    if REFUSED not in words(run.stderr):
        problems.append("not refused for the symlink: %s" % words(run.stderr)[:300])
    if (whole_table(), listing(scratch + "/decoy"), listing(state_dir(scratch)), os.listdir("/")) != before:
        problems.append("something was created or mounted")
    tally.record("security: planted symlinks (CLI)", entries[0]["target"], not problems, problems)
    assert problems == []


def test_symlinked_bind_source_is_followed(scratch):
    """Positive control: a bind source behind a symlink is the user's choice and is followed."""
    make_tree(scratch, ["real/f=real", "src->@/real"])
    data = profile_dict(scratch, [{"target": "@/t/b", "type": "bind", "source": "@/src"}])
    assert run_cli(scratch, "apply", "--yes", write_profile(scratch, data)).code == 0
    with open(scratch + "/t/b/f", encoding="utf-8") as f:
        assert f.read() == "real"


class _PinAware(RaceSys):
    """RaceSys noting whether step `at` acts through a Pin (an attached mount held by an fd, no path looked up)."""

    through_pin = False

    def _step(self, name, *args):
        if self.count + 1 == self.at:
            self.through_pin = bool(args) and isinstance(args[0], Pin)
        super()._step(name, *args)


def _swapper(scratch, seen=None):
    """Return (swap, unswap): replace <scratch>/t by a symlink to a look-alike decoy tree, and put it back.

    `seen`, a dict, receives under "swapped" the decoy's listing as swap()
    left it: anything more in it later was made through the link.
    """
    t, real, decoy = scratch + "/t", scratch + "/t.real", scratch + "/decoy"

    def swap():
        for d, dirs, _ in os.walk(t):
            for x in dirs:  # mount points too: a lookup that followed the link would find them all
                os.makedirs(os.path.join(decoy, os.path.relpath(os.path.join(d, x), t)), exist_ok=True)
            dirs[:] = [x for x in dirs if not os.path.ismount(os.path.join(d, x))]
        os.makedirs(decoy, exist_ok=True)
        os.rename(t, real)  # mounts below t move with it: rename(2) only refuses a mount point itself
        os.symlink(decoy, t)
        if seen is not None:
            seen["swapped"] = listing(decoy)

    def unswap():
        os.unlink(t)
        os.rename(real, t)

    return swap, unswap


def _remove_dirs(root):
    """Return None after removing a tree of empty directories with rmdir (never a recursive delete)."""
    for d, dirs, _ in os.walk(root, topdown=False):
        for x in dirs:
            os.rmdir(os.path.join(d, x))
    os.rmdir(root)


def test_swap_before_the_first_mutation(scratch, tally):
    """Plan on a real directory, swap it for a symlink before the first system call: refused, nothing made anywhere."""
    make_tree(scratch, ["t/", "src/f=1"])
    os.makedirs(scratch + "/decoy")
    data = profile_dict(scratch, [
        {"target": "@/t/x", "type": "tmpfs"},
        {"target": "@/t/y/z", "type": "bind", "source": "@/src"},
        {"target": "@/t/ln", "type": "symlink", "source": "@/src"},
    ])
    assert len([c for c in apply(scratch, data, check=True).changes if c.action.value != "keep"]) >= 4
    swap, _ = _swapper(scratch)
    table = whole_table()
    with pytest.raises(ApplyError) as info:
        apply(scratch, data, system=RaceSys(1, swap))
    problems = []
    if REFUSED not in str(info.value) or info.value.errno != errno.ELOOP:
        problems.append("not refused for the symlink: %s" % info.value)
    if listing(scratch + "/decoy") or listing(scratch + "/t.real"):
        problems.append("made through the link: %s %s" % (listing(scratch + "/decoy"), listing(scratch + "/t.real")))
    if whole_table() != table or read_state(scratch) is not None:
        problems.append("mounted something, or saved a state")
    tally.record("security: symlink swapped in after the plan", "before step 1 (fresh apply)", not problems, problems)
    assert problems == []


@pytest.mark.ns_timeout(300)
def test_swap_before_every_step(scratch, tally):
    """A -> B with <scratch>/t swapped for a symlink before step N, every N: refused, decoy untouched, then repaired."""
    make_tree(scratch, TREE)
    a, b = profile_dict(scratch, A), profile_dict(scratch, B)
    apply(scratch, a)
    counter = failpoint.FailpointSys(sys_linux.LinuxSys(), {})
    apply(scratch, b, system=counter)
    total = counter.count
    apply(scratch, a)
    failures = []
    for n in range(1, total + 1):
        seen = {}
        swap, unswap = _swapper(scratch, seen)
        problems = []
        racer = _PinAware(n, swap)
        try:
            apply(scratch, b, system=racer)
            if not racer.through_pin:
                problems.append("the apply succeeded through the swapped link")
            # else: step N acted through a pin of the mount checked before the swap (a remount,
            # docs/design.md "Which mount is ours"): no path was looked up, so no link was followed.
        except ApplyError as exc:
            if REFUSED not in str(exc):
                problems.append("failed, but not for the symlink: %s" % exc)
        if not seen:
            problems.append("the swap never happened")
        if [p for p in mount_points(scratch) if p.startswith(scratch + "/decoy")]:
            problems.append("mounted inside the decoy")
        unswap()
        if listing(scratch + "/decoy") != seen.get("swapped"):
            problems.append("made in the decoy: %s" % sorted(set(listing(scratch + "/decoy"))
                                                             ^ set(seen.get("swapped", {}))))
        _remove_dirs(scratch + "/decoy")
        try:
            apply(scratch, b)
            if check_live(scratch, b) or pending(scratch, b):
                problems.append("not repaired: %s" % check_live(scratch, b))
            apply(scratch, a)
        except Exception as exc:  # noqa: BLE001 - a failing repair is the finding
            problems.append("the repair run failed: %s: %s" % (type(exc).__name__, exc))
        if not tally.record("security: symlink swapped in after the plan", "A->B before step %d" % n,
                            not problems, problems):
            failures.append("N=%d: %s" % (n, problems))
            if check_live(scratch, a):
                break
    assert failures == []
