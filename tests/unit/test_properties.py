"""Properties of plan + apply on the fake Sys, over random small profiles and random prior states.

Profiles draw targets from a small tree of nested paths (so parents, children
and string-prefix siblings meet), entries of type bind (directory or file),
tmpfs (with or without a propagation), read-only overlay and symlink, and
options ro / nosuid / size. A prior state is another
random profile applied first, optionally disturbed by hand (unmounted,
remounted with other flags). Properties:
* convergence: after applying plan(x), the next plan has no mutating change;
* path independence: applying A then B gives the same mount table as B alone
  (canonical form: no mount ids, no device numbers);
* a refused plan (conflict) makes no system call at all.
"""

import errno
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import PlanError, SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

from tests.unit.planner_world import bind, canonical_table, fake_host, fast_tmpdir, overlay, symlink, tmpfs

TARGETS = ("/data/a", "/data/a/b", "/data/a/b/c", "/data/a-1", "/data/b", "/data/b/x", "/data/c")
DIR_SOURCES = ("/srv/a", "/srv/b", "/srv/a/x")
FILE_SOURCE = "/srv/conf"
LAYERS = ("/ovl/l1", "/ovl/l2")
# 60 fixed examples in the test command; LIVEMOUNT_PROPERTY_EXAMPLES and LIVEMOUNT_HYPOTHESIS_RANDOM=1 to hunt.
SETTINGS = settings(max_examples=int(os.environ.get("LIVEMOUNT_PROPERTY_EXAMPLES", "60")), deadline=None,
                    derandomize=not os.environ.get("LIVEMOUNT_HYPOTHESIS_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def profiles(draw, sizes=(None, "1m", "2m"), propagations=(None, "shared", "private")):
    """Return a random valid profile mapping named `p`, entries in random order; tmpfs sizes and propagations
    drawn from `sizes` and `propagations` (None: not named)."""
    targets = draw(st.lists(st.sampled_from(TARGETS), unique=True, max_size=5))
    mounts = []
    for t in sorted(targets):
        leaf = not any(paths.is_under(o, t) for o in targets)
        kind = draw(st.sampled_from(["bind", "tmpfs", "overlay"] + (["symlink", "file"] if leaf else [])))
        flags = draw(st.lists(st.sampled_from(["ro", "nosuid"]), unique=True))
        if kind == "symlink":
            mounts.append(symlink(t, draw(st.sampled_from(["/x", "/srv/a"]))))
        elif kind == "file":
            mounts.append(bind(FILE_SOURCE, t, *flags))
        elif kind == "bind":
            mounts.append(bind(draw(st.sampled_from(DIR_SOURCES)), t, *flags))
        elif kind == "overlay":
            # Read-only overlays (no upper): any number may share layers.
            mounts.append(overlay(t, draw(st.permutations(LAYERS)), None, None, *flags))
        else:
            size = draw(st.sampled_from(sizes))
            propagation = draw(st.sampled_from(propagations))
            extra = {"propagation": propagation} if propagation else {}
            mounts.append(tmpfs(t, *(flags + (["size=" + size] if size else [])), **extra))
    return {"name": "p", "mounts": draw(st.permutations(mounts))}


# Hand-made disturbances of a prior state: (what, index into the owned targets).
DRIFTS = st.lists(st.tuples(st.sampled_from(["umount", "flip-ro", "flip-nosuid"]), st.integers(0, 6)), max_size=3)


class World:
    """One fake host with its state root; `run` reconciles, returning the report or None on a conflict."""

    def __init__(self):
        self.fake = fake_host()
        self.root = fast_tmpdir()

    def run(self, data):
        """Return the Report of applying `data`, or None when the plan had a conflict (then no call was made)."""
        before = len(self.fake.calls)
        try:
            return engine.reconcile(load_profile(data), self.fake, root=self.root)
        except PlanError:
            assert len(self.fake.calls) == before, "a refused plan made a system call"
            return None

    def destroy(self):
        """Return the Report of destroying profile `p`."""
        return self.run({"name": "p", "mounts": []})

    def drift(self, data, drifts):
        """Return self after disturbing mounts of `data` by hand (what cannot be done is skipped)."""
        targets = [m["target"] for m in data["mounts"] if m["type"] != "symlink"]
        for what, i in drifts:
            if not targets:
                return self
            t = targets[i % len(targets)]
            try:
                if what == "umount":
                    self.fake.umount(t)
                else:
                    flag = what.split("-")[1]
                    top = [ln for ln in self.fake.read_mountinfo().splitlines() if ln.split()[4] == t]
                    if top:
                        have = set(top[-1].split()[5].split(",")) & {"ro", "nosuid"}
                        self.fake.setattr(t, have ^ {flag})
            except SysError as exc:
                assert exc.errno in (errno.EBUSY, errno.EINVAL, errno.ENOENT, errno.ELOOP), exc
        return self

    def table(self):
        """Return the canonical mount table."""
        return canonical_table(self.fake.read_mountinfo())

    def close(self):
        """Remove the state root."""
        shutil.rmtree(self.root, ignore_errors=True)


@SETTINGS
@given(prior=profiles(), drifts=DRIFTS, data=profiles())
def test_applying_a_plan_converges(prior, drifts, data):
    """From any prior state (disturbed or not), after one apply the next plan changes nothing."""
    w = World()
    try:
        if w.run(prior) is None:
            return
        w.drift(prior, drifts)
        if w.run(data) is None:
            return
        again = w.run(data)
        assert again is not None
        assert [(c.action.value, c.target, c.reason) for c in to_perform(again.changes)] == []
        assert w.fake.open_handles == []
    finally:
        w.close()


@SETTINGS
@given(a=profiles(), b=profiles(sizes=("1m", "2m"), propagations=("shared", "private")))
def test_a_then_b_equals_b_alone(a, b):
    """Applying A then B leaves the same mount table as applying B on a fresh host (modulo ids and devices).

    B names every tmpfs size and propagation: what a profile does not name is
    left as it is (options.fs_options_match checks only the desired options,
    model.Entry.propagation None means "leave it"), so a size or propagation
    dropped from the profile stays in force; see test_dropped_setting_is_left_in_force.
    """
    alone, path = World(), World()
    try:
        if alone.run(b) is None or path.run(a) is None:
            return
        if path.run(b) is None:
            return
        assert path.table() == alone.table()
    finally:
        alone.close()
        path.close()


@SETTINGS
@given(a=profiles(), b=profiles())
def test_destroy_after_any_history_restores_the_host(a, b):
    """Whatever was applied, destroy leaves the mount table of a fresh host."""
    w = World()
    pristine = w.table()
    try:
        w.run(a)
        w.run(b)
        assert w.destroy() is not None
        assert w.table() == pristine
    finally:
        w.close()


@SETTINGS
@given(data=profiles())
def test_check_mode_predicts_the_apply(data):
    """The plan shown in check mode is the plan applied (same actions, same targets, same order)."""
    w = World()
    try:
        try:
            predicted = engine.reconcile(load_profile(data), w.fake, root=w.root, check=True)
        except PlanError:
            assert w.run(data) is None
            return
        applied = w.run(data)
        assert [(c.action, c.target) for c in predicted.changes] == [(c.action, c.target) for c in applied.changes]
    finally:
        w.close()


@pytest.mark.parametrize("first, then, shown", [
    (["size=1m"], {}, "size=1048576"),
    ([], {"propagation": "shared"}, "shared:"),
], ids=["tmpfs-size", "propagation"])
def test_dropped_setting_is_left_in_force(first, then, shown):
    """By design a filesystem option or propagation removed from the profile is not reset: no change planned."""
    w = World()
    try:
        w.run({"name": "p", "mounts": [tmpfs("/data/t", *first, **then)]})
        report = w.run({"name": "p", "mounts": [tmpfs("/data/t")]})
        assert to_perform(report.changes) == []
        assert shown in w.fake.read_mountinfo()
    finally:
        w.close()
