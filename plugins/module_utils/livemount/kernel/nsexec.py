"""Acting inside another mount namespace: enter it in a child, hand results and errors back.

setns(2) with CLONE_NEWNS fails with EINVAL in a multi-threaded process and
changes the caller's root and working directory for good, so the engine never
enters a namespace itself: `run` forks a (single-threaded) child, which
prepares what must be seen from the caller's side, enters the target, runs
the engine there and sends back, pickled over a pipe, progress calls as they
happen and then the result or the exception (LivemountError subclasses keep
their attributes: pickle restores an exception's __dict__).

What the child prepares before setns(2), because afterwards `/` and `/proc`
are the target's (a container's /proc belongs to another PID namespace, so
its /proc/self does not even exist for us):
* an fd of the state root's parent directory: after setns it changes into
  it, so state, journal and lock stay in the caller's /run/livemount, keyed
  by the target namespace's nsfs inode;
* an fd of the caller's /proc, for the target's mount table (`self/mountinfo`
  shows the namespace and root of the reader) and for busy diagnostics;
* the overlay module defaults (the target may have no /sys);
* for bind entries flagged `source_namespace: host`: the source's facts and
  bind identity in the caller's table, and (apply mode) a detached clone made
  with open_tree(OPEN_TREE_CLONE), which move_mount(2) can attach after setns
  while a fresh clone of a mount of another namespace would be EINVAL.
"""

import errno
import fcntl
import os
import pickle
import struct
import sys

from ..errors import LivemountError, StateError, SysError
from ..kernel import syscalls
from ..kernel.syscalls import CLONE_NEWNS
from ..kernel.sysapi import Wrapper
from ..model import BIND
from ..observe import observe_host
from ..state import StateStore

NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), ioctl_ns(2)


class NamespaceGoneError(LivemountError):
    """The namespace named by a file or pid no longer exists; `target` is the Target that named it."""

    def __init__(self, message, target=None):
        self.target = target
        super().__init__(message)


# ---- naming a namespace ------------------------------------------------------------------

class Target:
    """A mount namespace other than the caller's: an nsfs file or a process id."""

    def __init__(self, path=None, pid=None):
        if (path is None) == (pid is None):
            raise ValueError("cannot name a mount namespace: give exactly one of a namespace file and a pid")
        self.path = os.path.abspath(path) if path is not None else None
        self.pid = int(pid) if pid is not None else None
        self.fd = None
        self.namespace_id = None

    @property
    def label(self):
        """Return how messages name it: the file, or `of pid N`."""
        return self.path if self.pid is None else "of pid %d" % self.pid

    def record(self):
        """Return the JSON form kept in the state; /proc/N/ns/mnt and pid N are one record."""
        m = self.path and self.path.split("/")
        if m and len(m) == 5 and m[1] == "proc" and m[2].isdigit() and m[3:] == ["ns", "mnt"]:
            return {"pid": int(m[2])}
        return {"pid": self.pid} if self.pid is not None else {"namespace_file": self.path}

    def open(self):
        """Return self after opening the nsfs file (fd kept for setns); NamespaceGoneError if it is gone."""
        where = self.path or "/proc/%d/ns/mnt" % self.pid
        gone = "cannot enter mount namespace %s: it no longer exists" % self.label
        try:
            fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NamespaceGoneError(gone + (" (no such process)" if self.pid is not None else " (no such file)"),
                                     self)
        except OSError as exc:
            raise LivemountError("cannot enter mount namespace %s: %s" % (self.label, exc.strerror.lower()))
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            # Not an nsfs file: what is left where a namespace was bound once
            # (snapd leaves an empty /run/snapd/ns/NAME.mnt after discarding it).
            os.close(fd)
            raise NamespaceGoneError(gone, self)
        if kind != CLONE_NEWNS:
            os.close(fd)
            raise LivemountError("cannot enter mount namespace %s: it is a namespace of another kind (0x%x)"
                                 % (self.label, kind))
        self.fd = fd
        self.namespace_id = "mnt:[%d]" % os.fstat(fd).st_ino  # what readlink(/proc/PID/ns/mnt) shows
        return self

    def close(self):
        """Release the nsfs fd."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Configured(Wrapper):
    """A Sys carrying run options chosen where the Sys is made (the CLI's global options).

    The engine's entry points take `namespace`, `pid` and `on_busy` from it
    when their own arguments are None (`resolve`); every other call is the inner Sys's.
    """

    def __init__(self, inner, namespace=None, pid=None, on_busy=None):
        super().__init__(inner)
        self.namespace = namespace
        self.pid = pid
        self.on_busy = on_busy

    def _target(self):
        return None if self.namespace is None and self.pid is None else Target(self.namespace, self.pid)

    def namespace_id(self):
        """Return the identity of the namespace acted in: the target's when one is named."""
        target = self._target()
        if target is None:
            return self.inner.namespace_id()
        target.open().close()
        return target.namespace_id

    def read_mountinfo(self):
        """Return the mount table of the namespace acted in (read from inside the target when one is named)."""
        target = self._target()
        if target is None:
            return self.inner.read_mountinfo()
        return run(target, self.inner, lambda s, r, p: s.read_mountinfo(), "/")

    def mount_ids(self):
        """Return the unique mount ids of the namespace acted in (listed from inside the target when one is named)."""
        target = self._target()
        if target is None:
            return self.inner.mount_ids()
        return run(target, self.inner, lambda s, r, p: s.mount_ids(), "/")

    def old_ids_of(self, uniques):
        """Return the mountinfo ids of the mounts `uniques` name in the namespace acted in (looked up there)."""
        target = self._target()
        if target is None:
            return self.inner.old_ids_of(uniques)
        return run(target, self.inner, lambda s, r, p: s.old_ids_of(uniques), "/")

    def mountinfo_with_ids(self, read=None):
        """Return the mount table text and unique ids of the namespace acted in, both read inside the target (one
        process there, not one per read) when one is named."""
        target = self._target()
        if target is None:
            return self.inner.mountinfo_with_ids(read)
        return run(target, self.inner, lambda s, r, p: s.mountinfo_with_ids(), "/")


def resolve(system, namespace=None, pid=None, on_busy=None):
    """Return (system, Target or None, on_busy): explicit arguments first, then a Configured system's."""
    if isinstance(system, Configured):
        namespace = namespace if namespace is not None else system.namespace
        pid = pid if pid is not None else system.pid
        on_busy = on_busy if on_busy is not None else system.on_busy
        system = system.inner
    if namespace is None and pid is None:
        return system, None, on_busy
    if namespace is not None and pid is not None:
        raise LivemountError("cannot target a mount namespace: give a namespace file or a pid, not both")
    return system, Target(namespace, pid), on_busy


# ---- running in the target ---------------------------------------------------------------

def run(target, system, fn, root, progress=None, profile=None, names=(), clone=False):
    """Return fn(NamespaceSys, state root, progress) as computed by a child inside `target`'s namespace.

    `root` is the caller's state root. `profile` and the states of `names`
    tell which binds take their source from the caller's namespace; `clone`
    (apply mode) makes their detached clones. Exceptions raised by `fn` are
    raised here, attributes intact.
    """
    target.open()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            forward = progress is not None
            _child(wfd, lambda send: _inside(target, system, fn, root, profile, names, clone,
                                             send if forward else None))
        os.close(wfd)
        try:
            return _collect(rfd, pid, target, progress)
        finally:
            os.close(rfd)
    finally:
        target.close()


def _inside(target, system, fn, root, profile, names, clone, send):
    """Return fn's result after preparing on the caller's side, then entering (runs in the child)."""
    root = os.path.abspath(root)
    entries = host_entries(profile, root, target.namespace_id, names)
    host = observe_host(system, entries, _targets(profile))
    handles = {}
    for e in entries if clone else ():
        if host.facts[host.realpaths[e.source]].kind != "missing":  # else the plan says so
            h = system.clone(e.source, e.recursive)
            handles.setdefault((e.source, e.recursive), []).append(h)
            if not h.detached:  # a classic mount(2) stand-in would look the source up inside the target
                raise SysError("cannot bind %s from the caller's mount namespace: needs the new mount api "
                               "(open_tree, Linux 5.2+)" % e.source, errno.ENOSYS)
    proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    overlay = system.overlay_defaults()
    root_fd, rel_root = _open_state_parent(root)
    setns(target.fd, target.label)
    os.fchdir(root_fd)  # the caller's state directory, whatever the target's / holds
    nssys = NamespaceSys(system, target, proc_fd, overlay, host, handles)
    try:
        return fn(nssys, rel_root, (lambda k, n, c: send(("progress", (k, n, c)))) if send else None)
    finally:
        for h in [h for hs in handles.values() for h in hs]:
            system.close(h)  # clones no change used


def setns(fd, label):
    """Return None after moving this (single-threaded) process into the mount namespace of nsfs `fd`."""
    try:
        syscalls.setns(fd, CLONE_NEWNS)
    except OSError as exc:
        # EPERM: needs CAP_SYS_ADMIN (in the namespace's user namespace) and CAP_SYS_CHROOT.
        raise SysError("cannot enter mount namespace %s: %s" % (label, os.strerror(exc.errno).lower()), exc.errno)


def _open_state_parent(root):
    """Return (fd, relative root): an fd of the nearest existing directory above `root`, and root from there.

    The parent, not the root itself: the engine then creates and checks the
    root as usual (ownership, mode, not a symlink), and messages name it.
    """
    path, rest = os.path.dirname(root), [os.path.basename(root)] if root != "/" else []
    while True:
        try:
            return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), os.path.join(*rest) if rest else "."
        except FileNotFoundError:
            path, name = os.path.split(path)
            rest.insert(0, name)
        except OSError as exc:
            raise StateError("cannot use state directory %s: %s" % (root, exc.strerror.lower()))


def _child(wfd, work):
    """Send ("result", value) or ("error", exception) of work(send) over `wfd`, then _exit (never returns)."""
    code = 0

    def send(msg):
        _send(wfd, msg)

    try:
        try:
            send(("result", work(send)))
        except BaseException as exc:  # everything goes back to the caller, which decides
            send(("error", _picklable(exc)))
    except BaseException:
        code = 70  # EX_SOFTWARE: the caller reports a child that died without an answer
    finally:
        os._exit(code)


def _picklable(exc):
    """Return `exc` if it survives pickling, else a LivemountError carrying its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure means: send words instead
        return LivemountError("cannot act in the mount namespace: %s: %s" % (type(exc).__name__, exc))


def _send(fd, msg):
    data = pickle.dumps(msg)
    data = struct.pack("!Q", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _collect(fd, pid, target, progress):
    """Return the child's result (forwarding progress), raise its exception, or say how it died."""
    buf, answer = b"", None
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8 and len(buf) >= 8 + struct.unpack("!Q", buf[:8])[0]:
                size = struct.unpack("!Q", buf[:8])[0]
                kind, value = pickle.loads(buf[8:8 + size])
                buf = buf[8 + size:]
                if kind == "progress":
                    if progress is not None:
                        progress(*value)
                else:
                    answer = (kind, value)
    finally:
        # Wait even when interrupted: the child finishes (or rolls back) its apply.
        _pid, status = os.waitpid(pid, 0)
    if answer is None:
        how = ("was killed by signal %d" % os.WTERMSIG(status) if os.WIFSIGNALED(status)
               else "exited with status %d" % os.WEXITSTATUS(status))
        raise LivemountError("cannot act in mount namespace %s: the process acting there %s without an answer"
                             % (target.namespace_id or target.label, how))
    if answer[0] == "error":
        raise answer[1]
    return answer[1]


# ---- the Sys inside ----------------------------------------------------------------------

class NamespaceSys(Wrapper):
    """The Sys the engine uses inside a target namespace: the caller's Sys plus what was seen before entering.

    Paths resolve in the target (its root is ours now); the mount table comes
    through the caller's /proc; binds from the caller's namespace get their
    pre-made clones. Everything else is the inner Sys's.
    """

    def __init__(self, inner, target, proc_fd, overlay, host, handles):
        super().__init__(inner)
        self._proc_fd = proc_fd
        self._record = target.record()
        self._label = target.label
        self._nsid = target.namespace_id
        self._overlay = dict(overlay)
        self._host = host
        self._handles = handles

    def proc_fd(self):
        """Return the fd of the caller's /proc: it shows the target's processes too (holders.py scans it)."""
        return self._proc_fd

    def target_record(self):
        """Return how the target namespace was named (`{"pid": N}` or `{"namespace_file": path}`)."""
        return self._record

    def read_mountinfo(self):
        """Return the target's mount table, paths relative to its root (read through the caller's /proc)."""
        try:
            fd = os.open("self/mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self._proc_fd)
            with os.fdopen(fd, encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except OSError as exc:
            raise SysError("cannot read the mount table of %s: %s" % (self._nsid, os.strerror(exc.errno).lower()),
                           errno=exc.errno)

    def namespace_id(self):
        """Return the target's identity, `mnt:[inode]` of its nsfs file (survives the file being re-bound)."""
        return self._nsid

    def overlay_defaults(self):
        """Return the overlay module parameters as read on the caller's side."""
        return dict(self._overlay)

    def clone(self, source, recursive):
        """Return a Handle: the pre-made clone of a caller-side source, or the inner Sys's clone of a target path."""
        if source in self._host.sources:
            made = self._handles.get((source, recursive))
            if not made:
                raise SysError("cannot bind %s from the caller's mount namespace into %s: it was not cloned before "
                               "entering (only one mount per entry and run)" % (source, self._label))
            return made.pop(0)
        return self.inner.clone(source, recursive)

    def adapt_world(self, world):
        """Return `world` with the facts and bind identities of caller-side sources (observe.py calls this)."""
        return self._host.adapt(world)


def host_entries(profile, root, namespace_id, names=()):
    """Return the bind entries whose source lives in the caller's namespace: desired, and owned by `names`."""
    out = []
    if profile is not None:
        wanted = host_targets(profile)
        out.extend(e for e in profile.entries if e.target in wanted)
        names = list(names) + [profile.name]
    for name in names:
        store = StateStore(root, namespace_id, name)
        try:
            state = store.load()
        except StateError:
            continue  # the engine reports it once inside, under the lock
        marked = set(store.meta.get("host_sources", ()))
        out.extend(o.entry for o in state.owned if o.entry.target in marked and o.entry.type == BIND)
    return out


def host_targets(profile):
    """Return the targets of `profile`'s bind entries flagged `source_namespace: host`."""
    reserved = getattr(profile, "reserved_for", None)  # engine._Empty (destroy) has none
    if reserved is None:
        return set()
    return {e.target for i, e in enumerate(profile.entries)
            if e.type == BIND and reserved(i).source_namespace == "host"}


def _targets(profile):
    return [e.target for e in profile.entries] if profile is not None else []


def namespace_meta(meta, profile, owned_targets, system):
    """Return the state's meta for a run through `system`: how the namespace was named, which binds are host-sourced.

    Unchanged (and so left out of the file) for runs in the caller's own namespace.
    """
    record = system.target_record()
    if record is None:
        return meta
    out = dict(meta)
    desired = {e.target for e in profile.entries}
    wanted = host_targets(profile)
    previous = set(meta.get("host_sources", ()))
    hs = sorted(t for t in owned_targets if t in wanted or (t not in desired and t in previous))
    if hs:
        out["host_sources"] = hs
    else:
        out.pop("host_sources", None)
    out["targets"] = [r for r in meta.get("targets", []) if r != record] + [record]
    return out
