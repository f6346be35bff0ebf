"""Steps and failpoints: how a mutating Sys call is named, counted and made to fail.

A *step* is one call to a mutating Sys method (sysapi.MUTATIONS). Every Sys
implementation names a step the same way (`step_call`, `step_what`) so a
recorder transcript, a SysError.call and a failpoint message agree.

FailpointSys wraps any Sys and, driven by LIVEMOUNT_FAILPOINT, fails or kills
the process at the N-th step; docs/failpoints.md documents the format.
"""

import errno as _errno
import inspect
import os
import signal

from ..errors import LivemountError, SysError
from ..kernel.sysapi import MUTATIONS, Handle, Sys, call_string

ENV = "LIVEMOUNT_FAILPOINT"
FIFO_ENV = "LIVEMOUNT_FAILPOINT_FIFO"
CRASH = "crash"
WAIT = "wait"


class _Mode(int):
    """A permission mode that prints as octal in call strings (`0o755`)."""

    def __str__(self):
        return "0o%o" % int(self)


_SIGNATURES = {}


def _signature(name):
    """Return the signature of Sys.<name>, computed once (every system call names itself)."""
    sig = _SIGNATURES.get(name)
    if sig is None:
        sig = _SIGNATURES[name] = inspect.signature(getattr(Sys, name))
    return sig


_PARAMS = {}


def _arguments(name, args, kwargs):
    """Return {parameter: value} of a call to Sys.<name>, defaults applied (what Signature.bind gives).

    Every system call names itself (step_what), so this runs once per step:
    positional calls with every parameter known take a plain zip over the
    cached parameter names and defaults; anything else (keywords, a wrong
    argument count) goes through Signature.bind, which also raises the
    TypeError a wrong call deserves.
    """
    params = _PARAMS.get(name)
    if params is None:
        params = _PARAMS[name] = tuple((p.name, p.default) for p in list(_signature(name).parameters.values())[1:])
    if not kwargs and len(args) <= len(params):
        values = {}
        for i, (pname, default) in enumerate(params):
            if i < len(args):
                values[pname] = args[i]
            elif default is inspect.Parameter.empty:
                break
            else:
                values[pname] = default
        else:
            return values
    bound = _signature(name).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "self"}


def _bound(name, args, kwargs):
    """Return the argument values of Sys.<name>, defaults applied, trailing defaults dropped."""
    sig = _signature(name)
    bound = sig.bind(None, *args, **kwargs)
    bound.apply_defaults()
    # Which mount a step checks (`expect`) is not part of what it does: call strings leave it out.
    params = [p for p in list(sig.parameters.values())[1:] if p.name != "expect"]
    values = [bound.arguments[p.name] for p in params]
    # Drop trailing arguments still at their default, so `attach(h, t)` and
    # `attach(h, t, beneath=False)` are one spelling: `attach <mount x> "/t"`.
    while params and params[-1].default is not inspect.Parameter.empty and values[-1] == params[-1].default:
        params.pop()
        values.pop()
    return [_Mode(v) if p.name == "mode" and isinstance(v, int) else v for p, v in zip(params, values)]


def step_call(name, *args, **kwargs):
    """Return the canonical call string of one step, e.g. `mkdir "/t" 0o755 0 0`."""
    return call_string(name, *_bound(name, args, kwargs))


def _desc(where):
    """Return how a message names a path or a Handle."""
    return where.desc if isinstance(where, Handle) else where


def step_what(name, *args, **kwargs):
    """Return what a step does in words (`create directory /t`), for `cannot <what>: <cause>`."""
    v = _arguments(name, args, kwargs)
    if name == "mkdir":
        return "create directory %s" % v["path"]
    if name == "rmdir":
        return "remove directory %s" % v["path"]
    if name == "mkfile":
        return "create file %s" % v["path"]
    if name == "unlink":
        return "remove %s" % v["path"]
    if name == "symlink":
        return "create symlink %s" % v["path"]
    if name == "rename":
        return "rename %s to %s" % (v["old"], v["new"])
    if name == "clone":
        return "bind %s%s" % (v["source"], " recursively" if v["recursive"] else "")
    if name == "clone_mount":
        return "copy the mount at %s" % v["target"]
    if name == "create_fs":
        return "create %s filesystem" % v["fstype"]
    if name == "attach":
        return "mount %s %s %s" % (v["handle"].desc, "beneath" if v["beneath"] else "on", v["target"])
    if name == "setattr":
        return "set mount attributes of %s" % _desc(v["where"])
    if name == "reconfigure":
        return "reconfigure %s" % _desc(v["target"])
    if name == "umount":
        return "unmount %s" % v["target"]
    return name


def strerror(err):
    """Return the C library's text for `err` in lowercase (`no such file or directory`)."""
    text = os.strerror(err)
    return text[:1].lower() + text[1:]


def errno_name(err):
    """Return the symbolic name of an errno (`EIO`), or the number as text."""
    return _errno.errorcode.get(err, str(err))


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


class FailpointSys(Sys):
    """A Sys that counts steps from 1 and fails (or dies) at the steps named in `points`.

    `points` maps a step number to an errno (the step raises SysError without
    being performed) or to CRASH (SIGKILL to this process just before it).
    Observation calls and close() pass through uncounted. `count` is the
    number of steps attempted so far.
    """

    def __init__(self, inner, points, fifo=None):
        self.inner = inner
        self.points = dict(points)
        self.count = 0
        self.fifo = fifo
        if WAIT in self.points.values() and not fifo:
            raise LivemountError("cannot use %s=N:wait: %s must name the FIFO to wait on" % (ENV, FIFO_ENV))

    def _step(self, name, args, kwargs):
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
            raise SysError(
                "cannot %s: %s (failpoint %d)" % (step_what(name, *args, **kwargs), strerror(what), self.count),
                errno=what,
                call=step_call(name, *args, **kwargs),
            )
        return getattr(self.inner, name)(*args, **kwargs)

    # ---- observation: uncounted ---------------------------------------------
    def read_mountinfo(self):
        """Return the inner Sys's mountinfo text."""
        return self.inner.read_mountinfo()

    def lstat(self, path):
        """Return the inner Sys's PathFact for `path`."""
        return self.inner.lstat(path)

    def realpath(self, path):
        """Return the inner Sys's resolved path."""
        return self.inner.realpath(path)

    def listdir(self, path):
        """Return the inner Sys's listing of `path`."""
        return self.inner.listdir(path)

    def getxattr(self, path, name):
        """Return the inner Sys's xattr value."""
        return self.inner.getxattr(path, name)

    def file_handle(self, path):
        """Return the inner Sys's file handle of `path`."""
        return self.inner.file_handle(path)

    def overlay_defaults(self):
        """Return the inner Sys's overlay defaults."""
        return self.inner.overlay_defaults()

    def namespace_id(self):
        """Return the inner Sys's namespace identity."""
        return self.inner.namespace_id()

    def mount_ids(self):
        """Return the inner Sys's unique mount ids."""
        return self.inner.mount_ids()

    def marker(self, path):
        """Return the inner Sys's marker of the mount at `path`."""
        return self.inner.marker(path)

    def pin(self, target, expect):
        """Return the inner Sys's Pin of the mount at `target` (not a step)."""
        return self.inner.pin(target, expect)

    def close(self, handle):
        """Return None after closing `handle` in the inner Sys (not a step)."""
        return self.inner.close(handle)


def _make_step(name):
    def step(self, *args, **kwargs):
        return self._step(name, args, kwargs)

    step.__name__ = name
    step.__doc__ = "Return what the inner Sys's %s returns, unless a failpoint fires at this step." % name
    return step


for _name in MUTATIONS:
    setattr(FailpointSys, _name, _make_step(_name))
# The steps were added after the class was made: tell abc they are there (abc.update_abstractmethods is 3.10+).
FailpointSys.__abstractmethods__ = frozenset(
    n for n in FailpointSys.__abstractmethods__ if getattr(getattr(FailpointSys, n), "__isabstractmethod__", False))


def from_env(inner, environ=os.environ):
    """Return `inner` wrapped in a FailpointSys when LIVEMOUNT_FAILPOINT is set, else `inner`."""
    spec = environ.get(ENV, "")
    if not spec.strip():
        return inner
    return FailpointSys(inner, parse_spec(spec), environ.get(FIFO_ENV))
