"""Random profile transitions through a read-only directory on the real kernel: writable mimics.

docs/namespaces.md, "Writable mimic": a mount point that must be made in a
read-only directory D is refused unless its entry says `mimic: true`; then D
is covered by a tmpfs showing D's old content (copies of its files and
directories, as mounts), kept while an entry needs it, and taken away when
the last one goes, leaving D as it was. Mimics one inside another are made
in one change.

Each example has its own read-only directory: /ro, a read-only bind (made by
the test, so someone else's mount) of /srv/ro, which holds a directory d
with a directory e in it, a file f and a symlink l; in some examples
someone else's tmpfs is mounted at /ro/d/e too (a copy of d carries it). Profiles A and B draw
entries below /ro (and beside it, under /data) of every kind, each allowed a
mimic or not. From A to B, on the real kernel:
* check mode predicts B's apply step for step and writes nothing;
* a refused B changes neither the table nor the tree;
* an applied B is exactly live (the mimic mounts aside: the state records
  them as synthetic), converged, and /ro still shows D's old content where no
  entry covers it;
* destroy leaves only the test's own /ro mount, and the tree as set up;
* /srv/ro, D's real content, is never changed.
"""

import errno
import os
import signal
import subprocess

from hypothesis import example, given, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore, list_profiles

from tests.unit.planner_world import bind, symlink, tmpfs

from .helpers import check_live, linux_sys, mount_points, real_sys, snapshot, state_meaning, top
from .test_transitions import SETTINGS, Host, _steps, rooted

TARGETS = ("/ro/new", "/ro/d/n2", "/ro/d/e/x", "/ro/d", "/ro/f", "/data/a", "/data/a/b")
CONTENT = {"d/e/keep": "e", "f": "f"}  # /srv/ro's files; l -> f besides


@st.composite
def mimic_profiles(draw):
    """Return a random valid profile `p` of entries at TARGETS (files at /ro/f), each allowed a mimic or not."""
    targets = draw(st.lists(st.sampled_from(TARGETS), unique=True, max_size=4))
    mounts = []
    for t in sorted(targets):
        leaf = not any(paths.is_under(o, t) for o in targets)
        if t == "/ro/f":
            kind = draw(st.sampled_from(["file"] + (["symlink"] if leaf else [])))
        else:
            kind = draw(st.sampled_from(["bind", "tmpfs"] + (["symlink"] if leaf else [])))
        extra = {"mimic": True} if draw(st.booleans()) else {}
        if kind == "symlink":
            mounts.append(symlink(t, "/srv/a", **extra))
        elif kind == "file":
            mounts.append(bind("/srv/conf", t, **extra))
        elif kind == "bind":
            mounts.append(bind(draw(st.sampled_from(["/srv/a", "/srv/b"])), t, *draw(st.lists(
                st.sampled_from(["ro", "nosuid"]), unique=True)), **extra))
        else:
            mounts.append(tmpfs(t, "size=1m", **extra))
    return {"name": "p", "mounts": draw(st.permutations(mounts))}


class MimicHost(Host):
    """Host with a read-only /ro (a bind of /srv/ro made by the test) that mount points need a mimic in."""

    def __init__(self, scratch, foreign_inside=False):
        super().__init__(scratch)
        ro, self.d = os.path.join(self.root, "ro"), os.path.join(self.root, "srv", "ro")
        os.makedirs(os.path.join(self.d, "d", "e"))
        for f, text in CONTENT.items():
            with open(os.path.join(self.d, f), "w") as fh:
                fh.write(text)
        os.symlink("f", os.path.join(self.d, "l"))
        os.makedirs(ro)
        subprocess.run(["mount", "--bind", self.d, ro], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        self.ro = ro
        self.ro_id = top(ro).mount_id  # the test's own bind (its mountinfo id): a mimic's tmpfs may go on top of it
        self.foreign = []
        self.drifted = False
        if foreign_inside:  # someone else's mount inside D: a copy of D's directory carries it along
            self.foreign = [os.path.join(ro, "d", "e")]
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "theirs", self.foreign[0]], check=True)
        self.tree0 = self.tree()
        self.d0 = self.d_tree()

    def d_tree(self):
        """Return D's real content: [(path, kind, text)] under /srv/ro."""
        out = []
        for dirpath, dirs, files in os.walk(self.d):
            for name in sorted(dirs + files):
                full = os.path.join(dirpath, name)
                text = open(full).read() if os.path.isfile(full) and not os.path.islink(full) else None
                out.append((os.path.relpath(full, self.d), os.path.islink(full), text))
        return sorted(out)

    def synthetic(self):
        """Return the targets the state records as mimic mounts (synthetic entries)."""
        out = set()
        for ns in os.listdir(self.state):
            for name in list_profiles(self.state, ns):
                out.update(o.entry.target for o in StateStore(self.state, ns, name).load().owned
                           if o.synthetic_for is not None)
        return out

    def destroy(self):
        """Return None after destroying `p`: only the test's /ro left mounted, the tree as set up."""
        assert self.run({"name": "p", "mounts": []}) is not None
        assert mount_points(self.root) == sorted([self.ro] + self.foreign)
        left = set(self.tree()) - self.may_keep
        if self.drifted and self.foreign:
            # A directory livemount made through a copy of the foreign mount (the same filesystem) that was detached
            # by hand is out of its sight from then on: forgotten, not removed (as in the source of such a bind).
            left = {x for x in left if not x[0].startswith("ro/d/e/")}
        assert sorted(left) == self.tree0
        assert self.d_tree() == self.d0, "D's real content changed"

    def umount_by_hand(self, picks):
        """Return None after detaching (umount -l) mounts below /ro picked by index: an entry's, a mimic's, a copy."""
        for i in picks:
            ours = [p for p in mount_points(self.ro) if p not in self.foreign]
            if top(self.ro).mount_id != self.ro_id:
                ours.insert(0, self.ro)  # a mimic's tmpfs on the test's /ro (a bind): detached with all on it
            if ours:
                subprocess.run(["umount", "-l", ours[i % len(ours)]], capture_output=True, check=False)

    def old_content_shows(self, data):
        """Assert /ro shows D's old files where no entry of `data` is at or above them."""
        covered = [m["target"] for m in data["mounts"]] + self.foreign
        for f, text in CONTENT.items():
            path = os.path.join(self.ro, f)
            if not any(path == t or paths.is_under(path, t) for t in covered):
                with open(path) as fh:
                    assert fh.read() == text, "%s does not show D's content through the mimic" % path


# Found by random runs, kept. A profile entry where the mimic puts a copy back: both were mounted, the state kept
# one record, and destroy failed EBUSY on /ro.
COPY_AT_ENTRY = ({"name": "p", "mounts": []},
                 {"name": "p", "mounts": [bind("/srv/conf", "/ro/f"), bind("/srv/a", "/ro/new", mimic=True)]})
# A copy of /ro/d made after A's tmpfs there went, recorded with that tmpfs's flags: every rerun remounted it.
COPY_OF_GONE = ({"name": "p", "mounts": [tmpfs("/ro/d", "size=1m")]},
                {"name": "p", "mounts": [tmpfs("/ro/new", "size=1m", mimic=True)]})
# /ro/d/n2 hidden under A's bind at /ro/d in read-only D: planned as a mkdir, failed EROFS at apply.
HIDDEN_IN_RO = ({"name": "p", "mounts": [bind("/srv/a", "/ro/d")]},
                {"name": "p", "mounts": [bind("/srv/a", "/ro/d/n2")]})

# An outer mimic (of /ro) whose copy of /ro/d carried an earlier inner mimic and the entry in it along.
CARRIED = ({"name": "p", "mounts": [bind("/srv/a", "/ro/d/e/x", mimic=True)]},
           {"name": "p", "mounts": [bind("/srv/a", "/ro/d/e/x"), tmpfs("/ro/new", "size=1m", mimic=True)]})
# A mimic of /ro/d, where the profile's own read-only bind is: kept (a tmpfs on it), or going first (the wrong
# content listed, the copies failed ENOENT).
OWN_RO_AT_D = ({"name": "p", "mounts": [bind("/srv/a", "/ro/d", "ro")]},
               {"name": "p", "mounts": [bind("/srv/a", "/ro/d", "ro", "nosuid"),
                                        tmpfs("/ro/d/n2", "size=1m", mimic=True)]})
D_SHOWN_GOING = (OWN_RO_AT_D[0], {"name": "p", "mounts": [tmpfs("/ro/d/n2", "size=1m", mimic=True)]})
# A's mimic of /ro/d detached by hand; B's entry at /ro/d then replaced its record, and B's mimic of /ro put a
# copy back there too: two mounts stacked at /ro/d.
ENTRY_OVER_LOST_MIMIC = ({"name": "p", "mounts": [tmpfs("/ro/d/n2", "size=1m", mimic=True)]},
                         {"name": "p", "mounts": [tmpfs("/ro/d", "size=1m"), tmpfs("/ro/new", "size=1m", mimic=True)]})


@SETTINGS
@given(a=mimic_profiles(), b=mimic_profiles(), foreign_inside=st.booleans(),
       drifts=st.lists(st.integers(0, 30), max_size=2))
@example(foreign_inside=False, drifts=[], a=COPY_AT_ENTRY[0], b=COPY_AT_ENTRY[1])
@example(foreign_inside=False, drifts=[], a=COPY_AT_ENTRY[1], b={"name": "p", "mounts": []})
@example(foreign_inside=False, drifts=[], a=COPY_OF_GONE[0], b=COPY_OF_GONE[1])
@example(foreign_inside=False, drifts=[], a=HIDDEN_IN_RO[0], b=HIDDEN_IN_RO[1])
@example(foreign_inside=False, drifts=[], a=CARRIED[0], b=CARRIED[1])
@example(foreign_inside=False, drifts=[], a=OWN_RO_AT_D[0], b=OWN_RO_AT_D[1])
@example(foreign_inside=False, drifts=[], a=D_SHOWN_GOING[0], b=D_SHOWN_GOING[1])
@example(foreign_inside=True, drifts=[0], a=ENTRY_OVER_LOST_MIMIC[0], b=ENTRY_OVER_LOST_MIMIC[1])
def test_a_then_b_through_a_read_only_directory(scratch, a, b, foreign_inside, drifts):
    """A then B with mount points in a read-only directory: mimics made, kept and taken down as promised."""
    host = MimicHost(scratch, foreign_inside)
    try:
        a, b = rooted(host.root, a), rooted(host.root, b)
        if host.run(a) is not None and drifts:
            host.umount_by_hand(drifts)
            host.sources_may_keep()
            host.drifted = True
        assert host.d_tree() == host.d0, "D's real content changed"
        before = (host.table(b), host.tree(), host.stored())
        preview = host.run(b, check=True)
        assert (host.table(b), host.tree(), host.stored()) == before, "check mode changed something"
        applied = host.run(b)
        assert (preview is None) == (applied is None), "check mode and the apply disagree on refusing B"
        assert host.d_tree() == host.d0, "D's real content changed"
        if applied is None:
            assert (host.table(b), host.tree(), host.stored()) == before, "a refused plan changed something"
        else:
            assert _steps(applied) == _steps(preview), "check mode predicted other steps than the apply made"
            assert check_live(host.root, b, foreign=[host.ro] + host.foreign + sorted(host.synthetic())) == []
            assert to_perform(host.run(b, check=True).changes) == []
            if not drifts:  # a copy unmounted by hand cannot be put back: its original is under the tmpfs
                host.old_content_shows(b)
        host.destroy()
    finally:
        for point in sorted(mount_points(host.root), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


# ---- B failed or killed at a random step (as test_transition_faults.py does for the other profiles) ----------

def _mimic_example(scratch, a, b, foreign_inside):
    """Return (MimicHost with A applied, rooted B), or None when A or B is refused or B has nothing to do."""
    host = MimicHost(scratch, foreign_inside)
    a, b = rooted(host.root, a), rooted(host.root, b)
    if host.run(a) is None:
        return None
    preview = host.run(b, check=True)
    if preview is None or not to_perform(preview.changes):
        return None
    return host, b


def _looks(host):
    """Return what a rollback must give back: the table under the root, the tree, and the state (ids aside)."""
    return snapshot(host.root), host.tree(), state_meaning(host.root, "p"), host.d_tree()


@SETTINGS
@given(a=mimic_profiles(), b=mimic_profiles(), foreign_inside=st.booleans(), at=st.integers(1, 40))
def test_a_failed_step_through_a_read_only_directory_rolls_back_exactly(scratch, a, b, foreign_inside, at):
    """B fails (EIO) at a random step, mimics among its steps: exactly A's table, tree and state; then B applies."""
    ready = _mimic_example(scratch, a, b, foreign_inside)
    if ready is None:
        return
    host, b = ready
    try:
        before = _looks(host)
        try:
            host_run = engine.reconcile(load_profile(b), failpoint.FailpointSys(linux_sys(), {at: errno.EIO}),
                                        root=host.state)
        except ApplyError as exc:
            assert "(failpoint %d)" % at in str(exc), exc
            assert _looks(host) == before, "the rollback left another table, tree or state"
            host_run = None
        assert host_run is None or check_live(host.root, b, foreign=[host.ro] + host.foreign
                                              + sorted(host.synthetic())) == []
        host.run(b)
        assert check_live(host.root, b, foreign=[host.ro] + host.foreign + sorted(host.synthetic())) == []
        assert to_perform(host.run(b, check=True).changes) == []
        host.destroy()
    finally:
        for point in sorted(mount_points(host.root), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


# Found by random runs, kept: destroy killed after the mimic's tmpfs at /ro went (its links unlinked first);
# recovery kept owning the link /ro/l, since the original l it had copied showed there again with the same
# content, and the rerun unlinked it through a writable view of the read-only /ro: someone else's file.
KILLED_AFTER_THE_TMPFS = ({"name": "p", "mounts": [tmpfs("/data/a", "size=1m"), symlink("/ro/d/e/x", "/srv/a"),
                                                   symlink("/ro/new", "/srv/a", mimic=True)]},
                          {"name": "p", "mounts": []}, 10)


@SETTINGS
@given(a=mimic_profiles(), b=mimic_profiles(), foreign_inside=st.booleans(), at=st.integers(1, 40))
@example(a=KILLED_AFTER_THE_TMPFS[0], b=KILLED_AFTER_THE_TMPFS[1], foreign_inside=True, at=KILLED_AFTER_THE_TMPFS[2])
def test_a_killed_step_through_a_read_only_directory_is_recovered(scratch, a, b, foreign_inside, at):
    """B killed before a random step, mimics among its steps: the next run recovers and converges, every mount
    under /ro but the test's own is one the state records; destroy leaves only those."""
    ready = _mimic_example(scratch, a, b, foreign_inside)
    if ready is None:
        return
    host, b = ready
    try:
        system = failpoint.FailpointSys(linux_sys(), {at: failpoint.CRASH})
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            code = 70
            try:
                engine.reconcile(load_profile(b), system, root=host.state)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL
            report = host.run(b)
            assert report is not None and report.recovered, "the rerun did not recover"
        assert check_live(host.root, b, foreign=[host.ro] + host.foreign + sorted(host.synthetic())) == []
        assert to_perform(host.run(b, check=True).changes) == []
        owned = {e["target"] for r in engine.status(real_sys(), root=host.state) for e in r["entries"]
                 if e["type"] != "symlink"}
        # The test's own mount points (a mimic's tmpfs or copy of ours may sit there too) aside.
        mine = {host.ro} | set(host.foreign)
        assert set(mount_points(host.root)) - mine == owned - mine, "mounts nobody owns"
        host.destroy()
    finally:
        for point in sorted(mount_points(host.root), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
