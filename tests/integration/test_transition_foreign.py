"""Random profile transitions on the real kernel with a foreign mount appearing mid-apply: never touched.

The brief: other people and tools mount on the same hosts, and a foreign
mount appearing at any moment is never touched. tests/reliability/
test_foreign_sweep.py lands one at the target of every step of three fixed
runs; this draws the runs: test_transitions.py's random profiles A and B,
and just before a random system call of B's apply (or of the destroy after
it) an administrator mounts a tmpfs of their own, with a file in it, at a
random path the profiles name (a target of A or B, a parent of one, a
source), or nowhere when that path is not a directory then.

Whatever happens to the run (applied, refused, rolled back, failed), the
foreign mount is still attached where it was, with the same unique id,
options and content; no state of livemount records it; and no later plan
(check mode, after the run and after destroy) has a step acting on it.
"""

import os
import subprocess

from hypothesis import event, given, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import sys_linux, syscalls
from ansible_collections.livemount.core.plugins.module_utils.livemount.observe import read_table
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import to_perform
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore, list_profiles

from tests.reliability.support import RaceSys
from tests.unit.test_properties import profiles

from .helpers import mount_points
from .test_transitions import SETTINGS, Host, rooted


class Foreign:
    """The administrator's mount: made once, at `path`, before mutation `at`; found again by its unique id."""

    def __init__(self, path):
        self.path = path
        self.unique = self.fd = self.options = self.point = None

    def appear(self):
        """Mount a tmpfs with a file in it at the path (nothing when the kernel refuses: not a directory now)."""
        if self.unique is not None:
            return
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "foreign", self.path],
                              capture_output=True, check=False)
        if done.returncode != 0:
            return
        with open(os.path.join(self.path, "theirs"), "w") as f:
            f.write("not livemount's")
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.unique = syscalls.statx_mount(self.fd, syscalls.STATX_MNT_ID_UNIQUE)[2]
        self.options = self._settings(self.live())
        self.point = self.live().mount_point  # mount(8) follows a symlink at the path: where it landed

    def live(self):
        """Return the LiveMount with the foreign mount's unique id, or None when it is not attached any more."""
        return read_table(sys_linux.LinuxSys()).by_unique(self.unique)

    @staticmethod
    def _settings(live):
        return live.flags, live.raw_mount_options, live.raw_super_options, live.propagation

    def check_untouched(self, state_root):
        """Assert the mount is attached at its path, as it was made, and that no state records it as owned."""
        if self.unique is None:
            return
        live = self.live()
        assert live is not None, "the foreign mount at %s was unmounted" % self.point
        assert live.mount_point == self.point, "the foreign mount was moved to %s" % live.mount_point
        assert self._settings(live) == self.options, "the foreign mount changed: %s" % (self._settings(live),)
        with open("/proc/self/fd/%d/theirs" % self.fd) as f:
            assert f.read() == "not livemount's"
        for ns in os.listdir(state_root):
            for name in list_profiles(state_root, ns):
                owned = StateStore(state_root, ns, name).load().owned
                assert self.unique not in {o.unique for o in owned}, "a state records the foreign mount as ours"

    def check_not_planned(self, report):
        """Assert no step of `report`'s plan acts on the foreign mount."""
        if self.unique is None or report is None:
            return
        acting = [c for c in to_perform(report.changes) if c.live is not None and c.live.unique == self.unique]
        assert acting == [], "a plan acts on the foreign mount: %s" % acting

    def close(self):
        if self.fd is not None:
            os.close(self.fd)


def _paths(host, a, b):
    """Return the paths an administrator may mount on: targets of A and B, their parents, the sources."""
    out = set()
    for data in (a, b):
        for m in data["mounts"]:
            out.add(m["target"])
            out.add(os.path.dirname(m["target"]))
    out.update(os.path.join(host.root, p) for p in ("srv/a", "srv/b", "srv/a/x"))
    return sorted(out)


@SETTINGS
@given(a=profiles(), b=profiles(sizes=("1m", "2m"), propagations=("shared", "private")),
       pick=st.integers(0, 10 ** 6), at=st.integers(1, 15), in_destroy=st.booleans())
def test_a_foreign_mount_mid_transition_is_never_touched(scratch, a, b, pick, at, in_destroy):
    """A foreign tmpfs mounted before a random step of A->B (or of the destroy after): never unmounted, moved,
    changed, recorded or planned on."""
    host = Host(scratch)
    a, b = rooted(host.root, a), rooted(host.root, b)
    paths = _paths(host, a, b)
    foreign = Foreign(paths[pick % len(paths)])
    try:
        host.run(a)
        race = RaceSys(at, foreign.appear)
        try:
            if in_destroy:
                host.run(b)
                engine.destroy("p", race, root=host.state)
            else:
                engine.reconcile(load_profile(b), race, root=host.state)
            event("run completed")
        except LivemountError as exc:
            event("run failed: %s" % type(exc).__name__)
        event("foreign mount %s" % ("made" if foreign.unique is not None else "not made"))
        foreign.check_untouched(host.state)
        foreign.check_not_planned(host.run(b, check=True))
        try:
            engine.destroy("p", sys_linux.LinuxSys(), root=host.state)
        except LivemountError:
            event("destroy refused or failed")
        foreign.check_untouched(host.state)
        foreign.check_not_planned(host.run(b, check=True))
    finally:
        foreign.close()
        for point in sorted(mount_points(host.root), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
