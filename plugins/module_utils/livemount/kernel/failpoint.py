"""Failpoints: a mutating Sys call counted and made to fail, or the process killed, at the N-th step.

A *step* is one call to a mutating Sys method (sysapi.MUTATING_CALLS), named as
calls.step_call and calls.step_what name it. FailpointSys wraps any Sys
and, driven by LIVEMOUNT_FAILPOINT, fails or kills the process at the N-th
step; docs/failpoints.md documents the format.
"""

import errno as _errno
import os
import signal

from ..errors import LivemountError, SysError, strerror
from ..kernel.calls import step_call, step_what
from ..kernel.sysapi import Wrapper

ENV = "LIVEMOUNT_FAILPOINT"
FIFO_ENV = "LIVEMOUNT_FAILPOINT_FIFO"
CRASH = "crash"
WAIT = "wait"


def parse_errno(text):
    """Return the errno number named by `text` (`EIO`, `eio` or `5`); ValueError if unknown."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    value = getattr(_errno, text.upper(), None)
    if not isinstance(value, int) or not text.upper().startswith("E"):
        raise ValueError("unknown errno %r" % text)
    return value


def parse_spec(spec):
    """Return {step number: errno, CRASH or WAIT} from `3:EIO,5:crash,7:wait`; LivemountError if malformed."""
    points = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        n, sep, what = item.partition(":")
        try:
            if not sep or not n.strip().isdigit() or int(n) < 1:
                raise ValueError("expected N:ERRNO, N:crash or N:wait with N >= 1")
            word = what.strip().lower()
            points[int(n)] = word if word in (CRASH, WAIT) else parse_errno(what)
        except ValueError as exc:
            raise LivemountError("cannot parse %s=%s: %s" % (ENV, spec, exc))
    return points


def hold(fifo, n):
    """Return None once the other party released step `n`, after telling it that this process holds there.

    The handshake runs over one FIFO the other party made (mkfifo): this
    process opens it for writing, writes `N\n` and closes it (the other
    party, reading, now knows step N is held: nothing of step N has run);
    then opens it for reading and waits for end of file, which comes when
    the other party has opened it for writing and closed it again. Each
    open(2) of a FIFO blocks until the other end is opened too, so neither
    side needs to poll or sleep (fifo(7)).
    """
    with open(fifo, "w", encoding="ascii") as f:
        f.write("%d\n" % n)
    with open(fifo, "r", encoding="ascii") as f:
        f.read()


class FailpointSys(Wrapper):
    """A Sys that counts steps from 1 and fails (or dies) at the steps named in `points`.

    `points` maps a step number to an errno (the step raises SysError without
    being performed), to CRASH (SIGKILL to this process just before it) or
    to WAIT (held before it until released through the FIFO `fifo`: hold).
    Observation calls, hooks, pin() and close() pass through uncounted
    (Wrapper). `count` is the number of steps attempted so far.
    """

    def __init__(self, inner, points, fifo=None):
        super().__init__(inner)
        self.points = dict(points)
        self.count = 0
        self.fifo = fifo
        if WAIT in self.points.values() and not fifo:
            raise LivemountError("cannot use %s=N:wait: %s must name the FIFO to wait on" % (ENV, FIFO_ENV))

    def _step(self, name, *args):
        """Count one step; raise its SysError, or die, when a failpoint is set for it."""
        self.count += 1
        what = self.points.get(self.count)
        if what == CRASH:
            # SIGKILL, not an exception: nothing may run after the crash point
            # (no finally blocks, no journal flush), exactly like a power cut.
            os.kill(os.getpid(), signal.SIGKILL)
        if what == WAIT:
            hold(self.fifo, self.count)  # the other party acts (mounts on top...), then releases
            what = None
        if what is not None:
            raise SysError("cannot %s: %s (failpoint %d)" % (step_what(name, *args), strerror(what), self.count),
                           errno=what, call=step_call(name, *args))

    # ---- the steps: each counted, then the inner Sys's ----------------------
    def mkdir(self, path, mode, uid, gid, writable_view=False):
        """Return what the inner Sys's mkdir returns, unless a failpoint fires at this step."""
        self._step("mkdir", path, mode, uid, gid, writable_view)
        return super().mkdir(path, mode, uid, gid, writable_view)

    def rmdir(self, path, writable_view=False):
        """Return what the inner Sys's rmdir returns, unless a failpoint fires at this step."""
        self._step("rmdir", path, writable_view)
        return super().rmdir(path, writable_view)

    def mkfile(self, path, mode, uid, gid, writable_view=False):
        """Return what the inner Sys's mkfile returns, unless a failpoint fires at this step."""
        self._step("mkfile", path, mode, uid, gid, writable_view)
        return super().mkfile(path, mode, uid, gid, writable_view)

    def unlink(self, path, writable_view=False):
        """Return what the inner Sys's unlink returns, unless a failpoint fires at this step."""
        self._step("unlink", path, writable_view)
        return super().unlink(path, writable_view)

    def symlink(self, content, path, writable_view=False):
        """Return what the inner Sys's symlink returns, unless a failpoint fires at this step."""
        self._step("symlink", content, path, writable_view)
        return super().symlink(content, path, writable_view)

    def rename(self, old, new):
        """Return what the inner Sys's rename returns, unless a failpoint fires at this step."""
        self._step("rename", old, new)
        return super().rename(old, new)

    def clone(self, source, recursive):
        """Return the inner Sys's Handle of a bind of `source`, unless a failpoint fires at this step."""
        self._step("clone", source, recursive)
        return super().clone(source, recursive)

    def clone_mount(self, target, expect=None):
        """Return the inner Sys's Handle of a copy of the mount at `target`, unless a failpoint fires at this step."""
        self._step("clone_mount", target)
        return super().clone_mount(target, expect)

    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return the inner Sys's Handle of a new filesystem, unless a failpoint fires at this step."""
        self._step("create_fs", fstype, source, fs_options, lower, data, upper, work)
        return super().create_fs(fstype, source, fs_options, lower, data, upper, work)

    def attach(self, handle, target, beneath=False, expect=None):
        """Return what the inner Sys's attach returns, unless a failpoint fires at this step."""
        self._step("attach", handle, target, beneath)
        return super().attach(handle, target, beneath, expect)

    def setattr(self, where, flags, propagation=None, expect=None):
        """Return what the inner Sys's setattr returns, unless a failpoint fires at this step."""
        self._step("setattr", where, flags, propagation)
        return super().setattr(where, flags, propagation, expect)

    def reconfigure(self, target, fs_options, expect=None):
        """Return what the inner Sys's reconfigure returns, unless a failpoint fires at this step."""
        self._step("reconfigure", target, fs_options)
        return super().reconfigure(target, fs_options, expect)

    def umount(self, target, detach=False, expect=None):
        """Return what the inner Sys's umount returns, unless a failpoint fires at this step."""
        self._step("umount", target, detach)
        return super().umount(target, detach, expect)


def from_env(inner, environ=None):
    """Return `inner` wrapped in a FailpointSys when LIVEMOUNT_FAILPOINT is set (in `environ`, default os.environ)."""
    spec = (os.environ if environ is None else environ).get(ENV, "")
    if not spec.strip():
        return inner
    # pylint cannot see the steps set on the class by the loop above, so it takes them for abstract.
    return FailpointSys(inner, parse_spec(spec), (os.environ if environ is None else environ).get(FIFO_ENV))
