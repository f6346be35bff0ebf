"""Scenario 29 for real: a system call fails at step N of an apply, for every N.

Profile A is applied, then B (binds, tmpfs, an overlay, symlinks, nested
mounts, replaces, remounts, removals: more than 20 changes) with
LIVEMOUNT_FAILPOINT="N:ERRNO". Every time: ApplyError naming the step, the
live table exactly as before (canonical snapshot) and the state file byte for
byte the same. When the rollback fails too (a second failpoint inside the
undo), UndoError lists what is left and the next plain run converges to B.
"""

import errno
import json
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint, sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, UndoError
from tests.integration import helpers
from tests.integration.helpers import (MOUNT_FACTS, apply, check_live, cli, destroy, expand, hand_mount, hand_umount,
                                       make_tree, mount_points, pending, profile_dict, read_state, snapshot,
                                       state_meaning, status, top, write_profile)

TREE = ["s%d/f=s%d" % (i, i) for i in range(1, 7)] + ["e/", "l0/x=l0", "l1/x=l1", "l2/", "up/", "wk/", "file=f",
                                                     "steal/"]

A = [
    {"target": "@/t/b1", "type": "bind", "source": "@/s1"},
    {"target": "@/t/tm", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/t/tm/x", "type": "bind", "source": "@/e"},
    {"target": "@/t/ov", "type": "overlay", "lower": ["@/l1", "@/l2"], "upper": "@/up", "work": "@/wk"},
    {"target": "@/t/ln", "type": "symlink", "source": "@/s1"},
    {"target": "@/t/rep", "type": "bind", "source": "@/s2"},
    {"target": "@/t/ro", "type": "bind", "source": "@/s3", "options": ["ro"]},
    {"target": "@/t/gone", "type": "bind", "source": "@/s4"},
    {"target": "@/t/gone2", "type": "tmpfs"},
    {"target": "@/t/ln2", "type": "symlink", "source": "@/s1"},
]

B = [
    {"target": "@/t/b1", "type": "bind", "source": "@/s1"},
    {"target": "@/t/tm", "type": "tmpfs", "options": ["size=2m"]},
    {"target": "@/t/tm/x", "type": "bind", "source": "@/e"},
    {"target": "@/t/ov", "type": "overlay", "lower": ["@/l0", "@/l1", "@/l2"], "upper": "@/up", "work": "@/wk"},
    {"target": "@/t/ln", "type": "symlink", "source": "@/s2"},
    {"target": "@/t/rep", "type": "bind", "source": "@/s5"},
    {"target": "@/t/ro", "type": "bind", "source": "@/s3", "options": ["nosuid"]},
    {"target": "@/t/new/deep/x", "type": "bind", "source": "@/s6", "options": ["ro"]},
    {"target": "@/t/nt", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/t/nt/c", "type": "bind", "source": "@/s1"},
    {"target": "@/t/ln3", "type": "symlink", "source": "@/s3"},
    {"target": "@/t/fb", "type": "bind", "source": "@/file"},
]

ERRNOS = {"EIO": errno.EIO, "EBUSY": errno.EBUSY, "ENOSPC": errno.ENOSPC, "EPERM": errno.EPERM}
# (errno name, LinuxSys options): every errno on the new mount API, EIO on the mount(2) fallback too.
FAULTS = [(name, {}) for name in ERRNOS] + [("EIO", {"classic": True})]


def _setup(scratch):
    """Return (A, B) expanded after making the tree and applying A."""
    make_tree(scratch, TREE)
    a, b = profile_dict(scratch, A), profile_dict(scratch, B)
    apply(scratch, a)
    assert check_live(scratch, a) == []
    return a, b


def _failing_sys(spec, inner=None):
    """Return the real Sys (or `inner`) wrapped by failpoint.from_env with LIVEMOUNT_FAILPOINT=spec in os.environ."""
    os.environ[failpoint.ENV] = spec
    try:
        return failpoint.from_env(inner or helpers.linux_sys())
    finally:
        del os.environ[failpoint.ENV]


class _Thief(sys_linux.LinuxSys):
    """The classic LinuxSys, taking each anonymous device an unmount frees (a tmpfs stacked on `steal`).

    The kernel hands out the lowest free device number, so a rollback's
    fresh tmpfs would get back the one just freed; on a busy machine it gets
    another, and the state must learn it. This makes every run a busy one.
    """

    def __init__(self, steal):
        super().__init__(classic=True)
        self.steal = steal

    def umount(self, target, detach=False, expect=None):
        """Return None after the unmount and a tmpfs mounted on `steal`."""
        super().umount(target, detach, expect)
        hand_mount("-t", "tmpfs", "thief", self.steal)

    def release(self):
        """Return None after unmounting every tmpfs stacked on `steal`."""
        while top(self.steal) is not None:
            hand_umount(self.steal)


def _total_steps(scratch, a, b, changes=20):
    """Return the number of steps of A -> B (counted on a real run, then A is put back)."""
    counter = failpoint.FailpointSys(helpers.linux_sys(), {})
    report = apply(scratch, b, system=counter)
    assert len([c for c in report.changes if c.action.value != "keep"]) >= changes
    apply(scratch, a)
    assert check_live(scratch, a) == []
    return counter.count


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("name, options", FAULTS, ids=[n + ("-classic" if o else "") for n, o in FAULTS])
def test_every_step_fails_cleanly(scratch, name, options):
    """Step N fails with ERRNO, for every N: ApplyError names it, table and state are exactly as before."""
    helpers.SYS_OPTIONS.update(options)
    a, b = _setup(scratch)
    total = _total_steps(scratch, a, b)
    thief = _Thief(expand(scratch, "@/steal")) if options else None
    table = lambda: snapshot(scratch, exclude=[expand(scratch, "@/steal")])  # noqa: E731
    before, state = table(), read_state(scratch)
    problems = []
    n = 0
    while n < total:
        n += 1
        if thief:
            thief.release()
        try:
            report = apply(scratch, b, system=_failing_sys("%d:%s" % (n, name), thief))
            if not _kept_busy_dir(report, name) and not _detached_busy_overlay(report, name):
                problems.append("step %d: no error" % n)
            # Back to A for the next N; the kept directory is no longer ours,
            # so A -> B has one rmdir less from now on.
            apply(scratch, a)
            total = _total_steps(scratch, a, b, changes=0)
            before, state = table(), read_state(scratch)
            continue
        except UndoError as exc:
            problems.append("step %d: the rollback failed: %s" % (n, exc))
            continue
        except ApplyError as exc:
            if exc.errno != ERRNOS[name] or "(failpoint %d)" % n not in str(exc) or not exc.step:
                problems.append("step %d: error does not name the step: %s" % (n, exc))
            if not str(exc).startswith("cannot apply step "):
                problems.append("step %d: message reads %r" % (n, str(exc)))
        if table() != before:
            problems.append("step %d: the live table changed" % n)
            break  # later steps would all report the same damage
        if _comparable(read_state(scratch), options) != _comparable(state, options):
            problems.append("step %d: the state file changed" % n)
        if any(row["interrupted"] for row in status(scratch)):
            problems.append("step %d: a journal was left behind" % n)
    assert problems == []
    assert n == total >= 30
    if thief:
        thief.release()
    apply(scratch, b)
    assert check_live(scratch, b) == [] and pending(scratch, b) == []


def _comparable(raw, options):
    """Return the state body without the unique ids, on the classic API without devices either (see below)."""
    # A rollback puts an unmounted mount back from its detached copy: another
    # mount (unique id). Without open_tree(2) it mounts an unmounted tmpfs
    # afresh: same entry, new device and marker. The state must learn both
    # (state_after.learn_restored).
    body = json.loads(raw)["body"]
    body.pop("created_ids", None)  # a removed directory put back by the rollback is another inode
    for o in body["owned"]:
        for key in MOUNT_FACTS if options.get("classic") else ("unique",):
            o.pop(key, None)
    return json.dumps(body, sort_keys=True)


def _kept_busy_dir(report, name):
    """Return True when the apply went on past an rmdir that met EBUSY, keeping the directory with a warning.

    That is steps.py's documented policy: a directory we created that is now
    in use (a mount point of someone else's mount) is left, not an error.
    """
    return name == "EBUSY" and any(w.startswith("kept ") and "busy" in w for w in report.warnings)


def _detached_busy_overlay(report, name):
    """Return True when the old overlay of a fresh replace was busy and detached lazily, as upper_policy.py says.

    Its upper was moved aside before the swap, so nothing shares it: the
    replace went through, keeping the old tree for whoever is inside.
    """
    return name == "EBUSY" and any("upper_policy fresh" in w and "still inside" in w for w in report.warnings)


CLI_SAMPLE = [(1, "EIO"), (8, "EBUSY"), (19, "ENOSPC"), (33, "EPERM"), (-1, "EIO")]


@pytest.mark.parametrize("n, name", CLI_SAMPLE, ids=["%s-%s" % (n if n > 0 else "last", e) for n, e in CLI_SAMPLE])
def test_cli_reports_the_failed_step(scratch, n, name):
    """`livemount apply --yes` with a failpoint at step N exits 1, names the step, and changes nothing."""
    a, b = _setup(scratch)
    n = _total_steps(scratch, a, b) if n < 0 else n
    before, state = snapshot(scratch), state_meaning(scratch)
    proc = cli(scratch, "apply", "--yes", write_profile(scratch, b), env={failpoint.ENV: "%d:%s" % (n, name)})
    assert proc.returncode == 1, proc.stderr
    assert "cannot apply step " in proc.stderr and "(failpoint %d)" % n in proc.stderr, proc.stderr
    assert os.strerror(ERRNOS[name]).lower() in proc.stderr.lower()
    assert (snapshot(scratch), state_meaning(scratch)) == (before, state)


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("gap", [1, 2, 3], ids=["first-undo", "second-undo", "third-undo"])
def test_failed_rollback_is_repaired_by_the_next_run(scratch, gap):
    """Step k fails, then the gap-th undo call after it, for every k: UndoError says what is left; a rerun converges."""
    a, b = _setup(scratch)
    total = _total_steps(scratch, a, b)
    problems = []
    undo_errors = 0
    for k in range(1, total + 1):
        try:
            apply(scratch, b, system=_failing_sys("%d:EIO,%d:EIO" % (k, k + gap)))
            problems.append("k=%d: no error" % k)
        except UndoError as exc:
            undo_errors += 1
            if not exc.left or "ROLLBACK FAILED" not in str(exc):
                problems.append("k=%d: UndoError without what is left: %s" % (k, exc))
            if not any(row["interrupted"] for row in status(scratch)):
                problems.append("k=%d: the journal is gone: the next run cannot recover" % k)
        except ApplyError:
            pass  # step k was the first of the run: nothing to undo
        try:
            report = apply(scratch, b)
        except Exception as exc:  # noqa: BLE001 - any failure of the repair run is the finding
            problems.append("k=%d: the repair run failed: %s: %s" % (k, type(exc).__name__, exc))
            break
        if check_live(scratch, b) or pending(scratch, b):
            problems.append("k=%d: not converged: %s %s" % (k, check_live(scratch, b), pending(scratch, b)))
            break
        apply(scratch, a)
        if check_live(scratch, a):
            problems.append("k=%d: cannot go back to A: %s" % (k, check_live(scratch, a)))
            break
        litter = [n for n in os.listdir(os.path.join(scratch, "t")) if "livemount" in n]
        if litter:
            problems.append("k=%d: temporary files left: %s" % (k, litter))
    assert problems == []
    assert undo_errors >= total // (2 * gap)


def _created(scratch):
    """Return the sorted paths the saved state says livemount created."""
    return sorted(json.loads(read_state(scratch))["body"]["created"])


def _owned_mounts(scratch):
    """Return the sorted mount targets the saved state owns."""
    return sorted(e["target"] for row in status(scratch) for e in row["entries"] if e["type"] != "symlink")


@pytest.mark.ns_timeout(600)
def test_continue_mode_keeps_everything_owned(scratch):
    """on_error=continue, step N fails, for every N: failure reported, every mount owned, nothing forgotten."""
    a, b = _setup(scratch)
    total = _total_steps(scratch, a, b)
    created_a = _created(scratch)
    apply(scratch, b)
    created_b = _created(scratch)
    apply(scratch, a)
    problems = []
    for n in range(1, total + 1):
        report = apply(scratch, b, system=_failing_sys("%d:EIO" % n), on_error="continue")
        if not report.failed:
            problems.append("N=%d: the failure is not reported" % n)
        leaked = sorted(set(mount_points(scratch)) - set(_owned_mounts(scratch)))
        if leaked:
            problems.append("N=%d: mounts nobody owns: %s" % (n, leaked))
        apply(scratch, b)
        if check_live(scratch, b) or pending(scratch, b):
            problems.append("N=%d: not converged" % n)
            break
        if _created(scratch) != created_b:
            problems.append("N=%d: created paths forgotten: %s" % (n, sorted(set(created_b) - set(_created(scratch)))))
        apply(scratch, a)
        if _created(scratch) != created_a:
            problems.append("N=%d: created paths forgotten: %s" % (n, sorted(set(created_a) - set(_created(scratch)))))
            break  # from here on every N would say the same
    assert problems == []


def _rbind(src, dst, **extra):
    """Return a recursive bind entry of `src` at `dst`."""
    return dict(extra, target=dst, type="bind", source=src, recursive=True)


RBIND_RUNS = {
    # (first profile, the profile every failing run applies)
    "replace": ([_rbind("@/s", "@/t")], [_rbind("@/x", "@/t")]),
    "replace-with-submounts": ([_rbind("@/s", "@/t")],
                               [_rbind("@/s2", "@/t", propagation="private"), {"target": "@/z", "type": "bind",
                                                                               "source": "@/x"}]),
    "mount": ([{"target": "@/y", "type": "bind", "source": "@/x"}],
              [{"target": "@/y", "type": "bind", "source": "@/x"}, _rbind("@/s", "@/t", propagation="private")]),
    "destroy": ([_rbind("@/s", "@/t")], []),
}


@pytest.mark.parametrize("classic", [False, True], ids=["new-api", "classic"])
@pytest.mark.parametrize("run", list(RBIND_RUNS))
def test_recursive_bind_with_submounts_fails_cleanly(scratch, run, classic):
    """A recursive bind carrying its source's submounts, step N failing (EIO) for every N: table restored."""
    if classic:
        helpers.SYS_OPTIONS.update({"classic": True})
    make_tree(scratch, ["s/sub/", "s2/sub2/", "x/"])
    hand_mount("-t", "tmpfs", "inner", expand(scratch, "@/s/sub"))
    hand_mount("-t", "tmpfs", "inner2", expand(scratch, "@/s2/sub2"))
    a, b = (profile_dict(scratch, entries) for entries in RBIND_RUNS[run])
    apply(scratch, a)
    before = snapshot(scratch)
    counter = failpoint.FailpointSys(helpers.linux_sys(), {})
    apply(scratch, b, system=counter)
    total = counter.count
    apply(scratch, a)
    assert snapshot(scratch) == before and total >= 2
    problems = []
    for n in range(1, total + 1):
        try:
            apply(scratch, b, system=_failing_sys("%d:EIO" % n))
            problems.append("step %d: no error" % n)
        except UndoError as exc:
            problems.append("step %d: the rollback failed: %s" % (n, exc))
            break
        except ApplyError:
            pass
        if snapshot(scratch) != before:
            problems.append("step %d: the live table changed" % n)
            break
    assert problems == []
    apply(scratch, b)
    destroy(scratch)
    assert mount_points(scratch) == [expand(scratch, "@/s/sub"), expand(scratch, "@/s2/sub2")]
