"""Random profile transitions on the real kernel, failed or killed at a random step: rollback and recovery.

test_transitions.py's random A (applied, then disturbed by hand or not) and
random B (tests/unit/test_properties.py's profiles, rooted in a fresh
directory per example), but B's apply does not go through:
* it fails (EIO) at step N, N drawn within the steps B's apply takes: the
  apply reports ApplyError naming that step, and the rollback gives back
  exactly what was there: the whole table under the root (options, sources,
  roots, propagation, stacking), the file tree, what the state owns and
  created, no journal, and the same plan of A (nothing to do, or what the
  disturbance needs). Then B applies cleanly, leaving the table a clean
  A -> B leaves, and destroy leaves nothing;
* it is killed (SIGKILL, failpoint `crash`) just before step N, in a forked
  copy of this process: the next run says it recovered an interrupted apply
  and converges to B, leaving the table a clean A -> B leaves, every mount
  under the root owned by the state; destroy then leaves no mount and the
  tree as the example set it up.

N is counted on a twin: the same A, disturbance and B on another fresh
directory, applied without a failure (its table is the clean A -> B one).
The test command runs 100 fixed examples per test (LIVEMOUNT_HYPOTHESIS_EXAMPLES,
and LIVEMOUNT_HYPOTHESIS_RANDOM=1 for new ones, as the other hypothesis tests).
"""

import errno
import os
import signal

import pytest

from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, PlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

from tests.unit.test_properties import profiles

from .helpers import check_live, linux_sys, mount_points, real_sys, snapshot, state_meaning
from .test_transitions import DRIFTS, Host, rooted

EXAMPLES = int(os.environ.get("LIVEMOUNT_HYPOTHESIS_EXAMPLES", "100"))
RANDOM = bool(os.environ.get("LIVEMOUNT_HYPOTHESIS_RANDOM"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
B_PROFILES = profiles(sizes=("1m", "2m"), propagations=("shared", "private"))
# The step of B's apply that fails or is killed: 1 + (AT - 1) modulo the number of steps it takes.
AT = st.integers(1, 64)


class Example:
    """One example on one fresh Host: A applied and disturbed, B ready; `run` reconciles through any Sys."""

    def __init__(self, scratch, a, drifts, b):
        self.host = Host(scratch)
        self.a, self.b = rooted(self.host.root, a), rooted(self.host.root, b)
        self.a_applied = self.host.run(self.a) is not None
        if self.a_applied:
            self.host.drift(self.a, drifts)
            if any(what == "umount" for what, _i in drifts):
                self.host.sources_may_keep()

    def run(self, data, system=None, check=False):
        """Return the Report of reconciling `data` through `system` (the real Sys by default); PlanError raises."""
        return engine.reconcile(load_profile(data), system or real_sys(), root=self.host.state, check=check)

    def todo(self, data):
        """Return [(action, target, reason)] of what a check-mode plan of `data` would perform."""
        return [(c.action.value, c.target, c.reason) for c in to_perform(self.run(data, check=True).changes)]

    def table(self):
        """Return Host.table(B) with this example's root written `@` (comparable across examples)."""
        name = os.path.basename(self.host.root)

        def same(v):
            if isinstance(v, str):
                return v.replace(self.host.root, "@").replace("/%s/" % name, "@/")
            if isinstance(v, tuple):
                return tuple(same(x) for x in v)
            return v
        return [same(row) for row in self.host.table(self.b)]

    def owned_mounts(self):
        """Return the sorted mount targets the state owns (what `livemount status` lists)."""
        rows = engine.status(real_sys(), root=self.host.state)
        return sorted(e["target"] for r in rows for e in r["entries"] if e["type"] != "symlink")

    def interrupted(self):
        """Return True when a journal of an interrupted apply waits."""
        return any(r["interrupted"] for r in engine.status(real_sys(), root=self.host.state))


def clean_run(scratch, a, drifts, b):
    """Return (steps of A -> B, the table it leaves) on a twin, or None when B is refused; the twin is destroyed."""
    twin = Example(scratch, a, drifts, b)
    counter = failpoint.FailpointSys(linux_sys(), {})
    try:
        twin.run(twin.b, counter)
    except PlanError:
        twin.host.destroy()
        return None
    assert check_live(twin.host.root, twin.b) == [] and twin.todo(twin.b) == []
    table = twin.table()
    twin.host.destroy()
    return counter.count, table


def killed(ex, system):
    """Return the wait status of `ex.run(ex.b, system)` in a forked copy of this process (a crash failpoint kills it)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        code = 70
        try:
            ex.run(ex.b, system)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def prepared(scratch, a, drifts, b, at):
    """Return (Example with A applied and disturbed, step N of B to hit, clean run), or None when B does nothing."""
    clean = clean_run(scratch, a, drifts, b)
    if clean is None or clean[0] == 0:
        event("B refused" if clean is None else "B has nothing to do")
        return None
    event("%d+ steps" % (clean[0] // 10 * 10))
    return Example(scratch, a, drifts, b), 1 + (at - 1) % clean[0], clean


def looks(ex):
    """Return what a rollback must give back: (table under the root, tree, state, the plan of A)."""
    root = ex.host.root
    return snapshot(root), ex.host.tree(), state_meaning(root, "p"), ex.todo(ex.a) if ex.a_applied else None


def _p(*mounts):
    """Return profile `p` with `mounts`."""
    return {"name": "p", "mounts": list(mounts)}


# Found by random runs, kept (also a test on the fake, test_executor.py): a private tmpfs below a shared one,
# destroyed, the rmdir of its mount point failing: the rollback put it back below the shared one, and the
# kernel made it shared.
PRIVATE_BELOW_SHARED = (_p({"target": "/data/b", "type": "tmpfs", "options": [], "propagation": "shared"},
                           {"target": "/data/b/x", "type": "tmpfs", "options": [], "propagation": "private"}),
                        _p(), 3)


@SETTINGS
@given(a=profiles(), drifts=DRIFTS, b=B_PROFILES, at=AT)
@example(a=PRIVATE_BELOW_SHARED[0], drifts=[], b=PRIVATE_BELOW_SHARED[1], at=PRIVATE_BELOW_SHARED[2])
def test_failed_step_rolls_back_exactly(scratch, a, drifts, b, at):
    """B fails at step N: ApplyError, then exactly A's table, tree, state and plan; B then applies; destroy."""
    ready = prepared(scratch, a, drifts, b, at)
    if ready is None:
        return
    ex, n, clean = ready
    before = looks(ex)
    try:
        ex.run(ex.b, failpoint.FailpointSys(linux_sys(), {n: errno.EIO}))
        raise AssertionError("step %d of %d did not fail" % (n, clean[0]))
    except ApplyError as exc:
        assert exc.errno == errno.EIO and "(failpoint %d)" % n in str(exc), exc
    assert not ex.interrupted(), "a journal was left behind"
    after = looks(ex)
    assert after[0] == before[0], "the rollback left another table"
    assert after[1] == before[1], "the rollback left another tree"
    assert after[2] == before[2], "the rollback left another state"
    assert after[3] == before[3], "the rollback left another plan of A"
    ex.run(ex.b)
    assert check_live(ex.host.root, ex.b) == [] and ex.todo(ex.b) == []
    assert ex.table() == clean[1], "A, a failed B, then B left another table than A then B"
    ex.host.destroy()


# Found by random runs, kept (each also a test on the fake, test_engine_fake.py): killed at step 3 of 5, after
# the link's unlink and the mkdir of the bind's mount point, the recovery kept owning the link, and the rerun
# refused the profile (a directory in the way of our link).
LINK_TO_MOUNT = (_p({"target": "/data/a", "type": "symlink", "source": "/x"}),
                 _p({"target": "/data/a", "type": "bind", "source": "/srv/a"}), 3)
# And: killed after the unmount, before the rmdir of the mount point livemount made: nothing owned it any more,
# and the rerun refused the link (or the file bind) as if the directory were a stranger's.
MOUNT_TO_LINK = (_p({"target": "/data/a", "type": "bind", "source": "/srv/a"}),
                 _p({"target": "/data/a", "type": "symlink", "source": "/x"}), 3)
DIR_TO_FILE_POINT = (_p({"target": "/data/b/x", "type": "bind", "source": "/srv/a"}),
                     _p({"target": "/data/b/x", "type": "bind", "source": "/srv/conf"}), 3)

# And: a file point livemount made at /data/a/b, /data/a mounted over it; killed after /data/a/b was made again
# in /srv/a and mounted on, recovery never learned that directory (the mount's root is what it saw there), so
# destroy kept it as someone else's, in /srv/a.
COVERED_POINT = (_p({"target": "/data/a/b", "type": "bind", "source": "/srv/conf"}),
                 _p(*({"target": t, "type": "bind", "source": "/srv/a"} for t in ("/data/a", "/data/a/b",
                                                                                  "/data/a/b/c"))), 11)
# And: the same file bind unmounted by hand first, so the dead run only forgot it; the rerun forgot it again
# and took /data/a/b/c, which the dead run had made in /srv/a, for the old mount's: left in /srv/a.
FORGOTTEN_POINT = (COVERED_POINT[0], _p(*({"target": t, "type": "bind", "source": "/srv/a"}
                                          for t in ("/data/a", "/data/a/b/c"))), 7)


@SETTINGS
@given(a=profiles(), drifts=DRIFTS, b=B_PROFILES, at=AT)
@example(a=COVERED_POINT[0], drifts=[], b=COVERED_POINT[1], at=COVERED_POINT[2])
@example(a=FORGOTTEN_POINT[0], drifts=[("umount", 0)], b=FORGOTTEN_POINT[1], at=FORGOTTEN_POINT[2])
@example(a=LINK_TO_MOUNT[0], drifts=[], b=LINK_TO_MOUNT[1], at=LINK_TO_MOUNT[2])
@example(a=MOUNT_TO_LINK[0], drifts=[], b=MOUNT_TO_LINK[1], at=MOUNT_TO_LINK[2])
@example(a=DIR_TO_FILE_POINT[0], drifts=[], b=DIR_TO_FILE_POINT[1], at=DIR_TO_FILE_POINT[2])
def test_killed_step_is_recovered(scratch, a, drifts, b, at):
    """B killed before step N: the next run recovers, converges to B, owns every mount; destroy leaves nothing."""
    ready = prepared(scratch, a, drifts, b, at)
    if ready is None:
        return
    ex, n, clean = ready
    root = ex.host.root
    status = killed(ex, failpoint.FailpointSys(linux_sys(), {n: failpoint.CRASH}))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "not killed at step %d" % n
    report = ex.run(ex.b)
    assert any("recovered an interrupted apply" in m for m in report.recovered), report.recovered
    assert check_live(root, ex.b) == [] and ex.todo(ex.b) == []
    assert mount_points(root) == ex.owned_mounts(), "mounts nobody owns"
    assert ex.table() == clean[1], "A, a killed B, then B left another table than A then B"
    ex.host.destroy()


def test_a_resize_from_the_default_size_is_rolled_back(scratch):
    """A tmpfs without a size, B gives it one and a propagation, the propagation fails: the size is the default again.

    Found by the random test above: the undo had nothing to put back, the kernel showing no size."""
    a = _p({"target": "/data/t", "type": "tmpfs", "options": []})
    b = _p({"target": "/data/t", "type": "tmpfs", "options": ["size=1m"], "propagation": "shared"})
    ex = Example(scratch, a, [], b)
    before = looks(ex)
    with pytest.raises(ApplyError):
        ex.run(ex.b, failpoint.FailpointSys(linux_sys(), {2: errno.EIO}))
    assert looks(ex) == before
