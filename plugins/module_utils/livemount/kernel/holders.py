"""Who keeps a mount busy, and what to do about it (on_busy: fail or detach).

umount2(2) without MNT_DETACH fails with EBUSY while anything references the
mount: a process with an open file, its working directory or its root in it,
a file mapped into memory from it, or another mount below it. This module
names them, by scanning /proc and matching *mounts*, not paths: the `mnt_id`
line of /proc/PID/fdinfo/N is the mount an fd was opened through (proc(5)),
and opening /proc/PID/cwd, root or map_files/ADDR with O_PATH lands on the
very mount the process uses, whose id our own fdinfo then tells. Paths
would lie: the same file is reachable through several binds, and the
process may live in another mount namespace where paths differ.

The scan reads the caller's /proc through a directory fd when given one
(nsexec.py opens it before entering a target namespace, whose own /proc may
belong to another PID namespace).
"""

import os
import re

from .. import paths
from ..errors import SysError
from ..mountinfo import parse_mountinfo

FAIL = "fail"
DETACH = "detach"
POLICIES = (FAIL, DETACH)

OPEN_FILE = "open file"
CWD = "cwd"
ROOT = "root"
MMAP = "mmap"

_MAPS_LINE = re.compile(r"^([0-9a-f]+-[0-9a-f]+) \S+ \S+ ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$")


class Proc:
    """A /proc to read: a path, or a directory fd opened earlier (kept open by its owner)."""

    def __init__(self, where=None):
        self._own = not isinstance(where, int)
        self.fd = os.open(where or "/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if self._own else where

    def close(self):
        """Release the fd if this Proc opened it."""
        if self._own and self.fd is not None:
            os.close(self.fd)
        self.fd = None

    def pids(self):
        """Return the process ids listed, ascending."""
        return sorted(int(n) for n in os.listdir(self.fd) if n.isdigit())

    def text(self, rel):
        """Return the text of file `rel` (relative to /proc)."""
        fd = os.open(rel, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        with os.fdopen(fd, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()

    def listdir(self, rel):
        """Return the names in directory `rel`."""
        fd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def readlink(self, rel):
        """Return what the (magic) link `rel` shows."""
        return os.readlink(rel, dir_fd=self.fd)

    def fd_mount_id(self, fd_number, pid="self"):
        """Return the mnt_id of fd `fd_number` of process `pid` (fdinfo, Linux 3.15+)."""
        for line in self.text("%s/fdinfo/%d" % (pid, fd_number)).splitlines():
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
        raise OSError(0, "no mnt_id in fdinfo")

    def mount_id(self, rel):
        """Return the mnt_id of the mount that magic link `rel` (PID/cwd, PID/root, PID/map_files/X) leads to."""
        fd = os.open(rel, os.O_PATH | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            return self.fd_mount_id(fd)
        finally:
            os.close(fd)


def mount_id_of(path, proc):
    """Return the mnt_id of the mount a lookup of absolute `path` lands in (final symlink not followed)."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return proc.fd_mount_id(fd)
    finally:
        os.close(fd)


def find_holders(mounts, proc, by_device=True):
    """Return [{pid, comm, how, path}] of every process using one of `mounts` ({mnt_id: (major, minor)}).

    `how` is "open file", "cwd", "root" or "mmap"; one row per (pid, how,
    path), sorted. Processes that exit during the scan, or whose /proc
    entries cannot be read, are skipped. `by_device` looks up mount ids only
    for files on those devices (one stat each); not for an overlay, whose
    non-directory files report the st_dev of their layer (overlayfs.rst).
    """
    rows = set()
    devs = {os.makedev(*dev) for dev in mounts.values()} if by_device else None
    for pid in proc.pids():
        try:
            comm = proc.text("%d/comm" % pid).strip()
        except OSError:
            continue
        for how, rel in ((CWD, "%d/cwd" % pid), (ROOT, "%d/root" % pid)):
            try:
                # st_dev first (one stat), the mount id only for candidates: binds share a device.
                if _on(proc, rel, devs) and proc.mount_id(rel) in mounts:
                    rows.add((pid, comm, how, proc.readlink(rel)))
            except OSError:
                pass  # a kernel thread, or gone
        for how, rel, mnt in _fds(proc, pid, devs) + _mappings(proc, pid, devs):
            if mnt in mounts:
                try:
                    rows.add((pid, comm, how, proc.readlink(rel)))
                except OSError:
                    pass
    return [{"pid": p, "comm": c, "how": h, "path": path} for p, c, h, path in sorted(rows)]


def _on(proc, rel, devs):
    """Return True when magic link `rel` leads to a file on one of the devices `devs`."""
    return devs is None or os.stat(rel, dir_fd=proc.fd).st_dev in devs


def _fds(proc, pid, devs):
    """Return [("open file", link, mnt_id)] for the open fds of `pid` on one of the devices `devs`."""
    out = []
    try:
        names = proc.listdir("%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        rel = "%d/fd/%s" % (pid, n)
        try:
            if _on(proc, rel, devs):
                out.append((OPEN_FILE, rel, proc.fd_mount_id(int(n), pid)))
        except (OSError, ValueError):
            continue  # closed meanwhile
    return out


def _mappings(proc, pid, devs):
    """Return [("mmap", link, mnt_id)] for file mappings of `pid` on one of the devices `devs` (st_dev numbers)."""
    out = []
    try:
        maps = proc.text("%d/maps" % pid)
    except OSError:
        return out
    seen = set()
    for line in maps.splitlines():
        m = _MAPS_LINE.match(line)
        if not m or m.group(4) == "0":
            continue
        if devs is not None and os.makedev(int(m.group(2), 16), int(m.group(3), 16)) not in devs:
            continue
        key = (m.group(2), m.group(3), m.group(4))
        if key in seen:
            continue  # one file mapped several times (text, data...): one row
        seen.add(key)
        rel = "%d/map_files/%s" % (pid, m.group(1))
        try:
            # map_files/ links open the mapped file itself, through its mount (needs CAP_SYS_ADMIN).
            out.append((MMAP, rel, proc.mount_id(rel)))
        except OSError:
            continue
    return out


def describe(holders, below=()):
    """Return `held by pid 42 (sleep): cwd /srv/x; mounted below it: /srv/x/y`, or '' when nothing is known."""
    parts = []
    if holders:
        parts.append("held by " + ", ".join("pid %d (%s): %s %s" % (h["pid"], h["comm"], h["how"], h["path"])
                                            for h in holders))
    if below:
        parts.append("mounted below it: " + ", ".join(below))
    return "; ".join(parts)


def explain(system, target, proc=None):
    """Return (holders, mount points below): why the top mount at `target` is busy, as far as can be told.

    The table comes from `system`; the scan runs only when the kernel's own
    answer for `target` is that very mount (not a Sys that models another
    world, nor a table that changed meanwhile).
    """
    table = parse_mountinfo(system.read_mountinfo())
    top = table.top(target)
    if top is None:
        return [], []
    below = [m.mount_point for m in table.submounts(target)]
    proc = Proc(proc)
    try:
        if mount_id_of(target, proc) != top.mount_id:
            return [], below
        return find_holders({top.mount_id: top.dev}, proc, by_device=top.fstype != "overlay"), below
    except OSError:
        return [], below
    finally:
        proc.close()


def entry_policies(profile, state):
    """Return {target: on_busy} from the state's last applied profile, then the profile's entries.

    An entry taken out of the profile keeps the on_busy it was applied with
    (as recorded in the state's profile_data).
    """
    out = {}
    for m in ((state.profile_data or {}).get("mounts") or []):
        if isinstance(m, dict) and m.get("on_busy") in POLICIES and isinstance(m.get("target"), str):
            try:
                out[paths.clean(m["target"])] = m["on_busy"]
            except ValueError:
                continue
    reserved = getattr(profile, "reserved_for", None)
    for i, e in enumerate(profile.entries if reserved is not None else ()):
        out[e.target] = reserved(i).on_busy
    return out


class BusyPolicy:
    """What the executor does when an unmount meets EBUSY (steps.py asks it through `Executor.busy`).

    `run_policy` (fail/detach, None: per entry) overrides `per_target`
    ({target: policy}); the default is fail. `proc` is a /proc path or fd.
    """

    def __init__(self, run_policy=None, per_target=None, proc=None):
        if run_policy not in (None,) + POLICIES:
            raise ValueError("on_busy must be fail or detach, not %r" % (run_policy,))
        self.run_policy = run_policy
        self.per_target = dict(per_target or {})
        self.proc = proc

    def policy(self, target):
        """Return "fail" or "detach" for the mount at `target`."""
        return self.run_policy or self.per_target.get(target) or FAIL

    def on_busy(self, run, target, exc, expect=None):
        """Return None after unmounting `target` (the mount `expect`) lazily (detach), or raise `exc` naming who holds it (fail)."""
        holders, below = explain(run.system, target, self.proc)
        said = describe(holders, below)
        if self.policy(target) == DETACH:
            # MNT_DETACH (umount2(2)): gone from the tree now, freed when the last user lets go.
            run.system.umount(target, True, expect)
            run.warn("unmounted %s lazily (on_busy: detach) although it was busy: %s" % (
                target, "its old tree lives on for the processes using it until they let go"
                + (" (%s)" % said if said else "")))
            return
        err = SysError("%s (%s)" % (exc, said) if said else str(exc), errno=exc.errno, call=exc.call)
        err.busy = holders
        err.below = below
        raise err
