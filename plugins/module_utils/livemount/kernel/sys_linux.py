"""LinuxSys: the Sys seam on the real kernel.

Mutations act on O_PATH fds from securepath (never on a path a planted symlink
could redirect) and use the new mount API: open_tree/fsopen/fsmount build a
detached mount, move_mount attaches it, mount_setattr and fspick change it.
Kernels without that API (ENOSYS, before 5.2/5.12) fall back to classic
mount(2), see sys_classic.py; `LinuxSys(classic=True)` forces the fallback.

Handles: attach() consumes its Handle (closes the fd) because an open fd on a
mount makes umount2(2) of it EBUSY; close() is idempotent.
"""

import contextlib
import errno
import os
import stat

from ..kernel import identity, sys_classic, syscalls as sc
from ..errors import SysError, strerror
from ..options import flags_to_attrs, propagation_flag
from ..kernel.securepath import NO_VIEW, open_parent, open_path, writable_view_of
from ..kernel.sys_classic import PendingMount
from ..kernel.sys_observe import LinuxObservation
from ..kernel.calls import step_call, step_what
from ..kernel.sysapi import Handle, Pin, Sys


# Causes worth more than strerror for one call (errno, method) -> words.
_CAUSES = {
    (errno.EINVAL, "umount"): "not a mount point",
    (errno.EINVAL, "setattr"): "not a mount point",
    (errno.EINVAL, "reconfigure"): "not a mount point",
    (errno.EBUSY, "umount"): "target is busy",
}


# What _new_api returns when the kernel lacks the new mount API.
_CLASSIC = object()


def conflict_cause(target, expect, found):
    """Return why a step refuses the mount it found at `target`: not `expect`, the one the plan checked."""
    return ("the mount on top there is %s, not %s that livemount checked: someone mounted on it (or in its place) "
            "since; livemount leaves that mount alone" % (found, expect))


def _cause(exc, name=None):
    """Return the words for an OSError: a known cause, our own message, or the lowercase strerror."""
    known = _CAUSES.get((exc.errno, name))
    if known:
        return known
    if exc.strerror and exc.strerror != os.strerror(exc.errno):
        return exc.strerror  # a message this package wrote, not the C library's
    return strerror(exc.errno)


def kernel_messages(fd):
    """Return the fs context's queued messages joined for an error, severity prefixes dropped."""
    msgs = sc.read_fs_messages(fd)
    return "; ".join(m[2:] if m[1:2] == " " and m[:1] in "ewi" else m for m in msgs)


def overlay_hint(err, work):
    """Return words explaining an overlay mount refusal overlayfs only logs to dmesg ('' when none applies).

    Its ESTALE and EINVAL carry no message in the fs context (checked on
    6.18): "failed to verify upper root origin" / "index dir 'upper' xattr"
    and "overlay with incompat feature 'volatile' cannot be mounted".
    """
    if err == errno.ESTALE:
        return ("; the upper or the work directory remembers other layers from a mount with index=on (overlayfs:"
                " failed to verify upper root origin or index dir); use a new empty upper and work, upper_policy"
                " fresh, or index=off")
    if err == errno.EINVAL and work and os.path.lexists(os.path.join(work, "work/incompat/volatile")):
        return ("; %s/work/incompat/volatile was left by a mount with volatile: overlayfs refuses that upper and"
                " work until it is removed (the kernel documentation says to throw both away)" % work)
    return ""


def _fsconfig(fd, key, value):
    """Set one filesystem option on context `fd`: a flag when `value` is None, else a string."""
    if value is None:
        sc.fsconfig(fd, sc.FSCONFIG_SET_FLAG, key)
    else:
        sc.fsconfig(fd, sc.FSCONFIG_SET_STRING, key, str(value))


def _overlay_path(path):
    """Return `path` as fsconfig's upperdir/workdir want it: overlayfs unescapes backslashes there.

    Observed on 6.18: `lowerdir+`/`datadir+` take the path literally, while
    upperdir and workdir go through ovl_unescape (so mountinfo echoes `\\\\`).
    """
    return path.replace("\\", "\\\\")


class _Step:
    """The context manager of one Sys call (LinuxSys._step): a class, not a generator, as it runs on every call
    (a third of the cost of contextlib's)."""

    __slots__ = ("name", "args", "what")

    def __init__(self, name, args):
        self.name = name
        self.args = args
        self.what = step_what(name, *args)

    def __enter__(self):
        return self.what

    def __exit__(self, kind, exc, traceback):
        if exc is None:
            return False
        if isinstance(exc, SysError):
            if exc.call is None:
                exc.call = step_call(self.name, *self.args)
            return False
        if isinstance(exc, OSError):
            raise SysError("cannot %s: %s" % (self.what, _cause(exc, self.name)), errno=exc.errno,
                           call=step_call(self.name, *self.args)) from exc
        return False


class LinuxSys(LinuxObservation, Sys):
    """The real kernel (what it reads: sys_observe.LinuxObservation). `classic` forces mount(2) instead of the new mount API; `walk` forces the
    component-by-component symlink-refusing walk instead of openat2."""

    def __init__(self, classic=False, walk=False, unique_ids=True):
        self.classic = classic
        self.walk = walk
        self.unique_ids = unique_ids

    # ---- plumbing ----------------------------------------------------------
    def _step(self, name, *args):
        """Return the context of one step: `with` gives its `what` words, and any OSError becomes a SysError
        naming the step."""
        return _Step(name, args)

    def _path_fd(self, path, what):
        return open_path(path, what=what, walk=self.walk)

    def _verified_fd(self, target, what, expect):
        """Return an O_PATH fd of the top mount at `target`, checked to be `expect` (an Ident; None: unchecked).

        Another mount there fails with ESTALE: someone mounted on top of the
        checked one, or in its place, since the plan. It is left alone.
        """
        tfd = self._path_fd(target, what)
        if expect is None:
            return tfd
        try:
            found = self.ident(tfd)
        except OSError:
            os.close(tfd)
            raise
        if not expect.matches(found):
            os.close(tfd)
            raise self._fail(what, errno.ESTALE, conflict_cause(target, expect, found))
        return tfd

    def pin(self, target, expect):
        """Return a Pin: an O_PATH fd of the top mount at `target`, checked to be `expect` (not a step)."""
        what = "reach the mount at %s" % target
        try:
            return Pin(self._verified_fd(target, what, expect), target, expect)
        except OSError as exc:
            raise SysError("cannot %s: %s" % (what, _cause(exc)), errno=exc.errno) from exc

    def _identify(self, handle):
        """Return `handle` with its Ident read from its fd (the mount it will be once attached), and its marker
        when the Ident has no unique id (the marker stands in for it: match.recorded_mount reads it only then)."""
        try:
            handle.ident = self.ident(handle.fd)
            if handle.ident.unique is None:
                handle.marker = identity.marker_of(handle.fd)
        except OSError:
            pass  # unknown: the run falls back to checking nothing for this mount
        return handle

    @contextlib.contextmanager
    def _parent(self, path, what, writable_view=False):
        """Yield (O_PATH fd of the parent directory, last component), closing the fd afterwards.

        With `writable_view` the fd is the root of a private writable copy of
        the mount there instead (securepath.writable_view_of).
        """
        dfd, name = open_parent(path, what=what, walk=self.walk)
        try:
            if writable_view:
                if self.classic:
                    raise self._fail(what, errno.EROFS, NO_VIEW)
                view = writable_view_of(dfd, what)
                os.close(dfd)
                dfd = view
                try:
                    yield dfd, name
                except OSError as exc:
                    if exc.errno != errno.EROFS:
                        raise
                    # The per-mount flag is clear on the copy: only the superblock can still refuse.
                    raise self._fail(what, errno.EROFS, "the filesystem itself is read-only, not only its mount")
            else:
                yield dfd, name
        finally:
            os.close(dfd)

    def _fail(self, what, err, cause):
        return SysError("cannot %s: %s" % (what, cause), errno=err)

    # ---- files -------------------------------------------------------------
    def mkdir(self, path, mode, uid, gid, writable_view=False):
        """Return None after creating directory `path` with exactly `mode` (umask ignored) and owner."""
        with self._step("mkdir", path, mode, uid, gid, writable_view) as what, \
                self._parent(path, what, writable_view) as (dfd, name):
            # 0700 until chown+chmod are done: nobody else gets in meanwhile.
            os.mkdir(name, 0o700, dir_fd=dfd)
            try:
                self._own(dfd, name, os.O_RDONLY | os.O_DIRECTORY, mode, uid, gid)
            except OSError:
                os.rmdir(name, dir_fd=dfd)  # one step: all or nothing
                raise

    def _own(self, dfd, name, flags, mode, uid, gid):
        # O_NOFOLLOW: what we chown is what we just created, not a swapped-in link.
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)  # after chown: chown(2) clears set-user/group-ID bits
        finally:
            os.close(fd)

    def rmdir(self, path, writable_view=False):
        """Return None after removing the empty directory `path`."""
        with self._step("rmdir", path, writable_view) as what, self._parent(path, what, writable_view) as (dfd, name):
            os.rmdir(name, dir_fd=dfd)

    def mkfile(self, path, mode, uid, gid, writable_view=False):
        """Return None after creating the empty regular file `path` (O_EXCL) with mode and owner."""
        with self._step("mkfile", path, mode, uid, gid, writable_view) as what, \
                self._parent(path, what, writable_view) as (dfd, name):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            except OSError:
                os.unlink(name, dir_fd=dfd)  # one step: all or nothing
                raise
            finally:
                os.close(fd)

    def unlink(self, path, writable_view=False):
        """Return None after removing the file or symlink `path`."""
        with self._step("unlink", path, writable_view) as what, self._parent(path, what, writable_view) as (dfd, name):
            os.unlink(name, dir_fd=dfd)

    def symlink(self, content, path, writable_view=False):
        """Return None after creating symlink `path` -> `content`."""
        with self._step("symlink", content, path, writable_view) as what, \
                self._parent(path, what, writable_view) as (dfd, name):
            os.symlink(content, name, dir_fd=dfd)

    def rename(self, old, new):
        """Return None after rename(2) of `old` over `new`."""
        with self._step("rename", old, new) as what, self._parent(old, what) as (ofd, oname), \
                self._parent(new, what) as (nfd, nname):
            os.rename(oname, nname, src_dir_fd=ofd, dst_dir_fd=nfd)

    # ---- building detached mounts ------------------------------------------
    def _new_api(self, call):
        """Return call()'s result, or _CLASSIC when the kernel lacks the new mount API (then go classic)."""
        if self.classic:
            return _CLASSIC
        try:
            return call()
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                raise
            self.classic = True
            return _CLASSIC

    def clone(self, source, recursive):
        """Return a Handle `bind SOURCE`: a detached copy of `source` (resolved normally: the user's choice)."""
        with self._step("clone", source, recursive):
            flags = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | (sc.AT_RECURSIVE if recursive else 0)
            fd = self._new_api(lambda: sc.open_tree(sc.AT_FDCWD, source, flags))
            if fd is _CLASSIC:
                return sys_classic.pending_bind(source, recursive)
            return self._identify(Handle(fd, "bind %s" % source))

    def clone_mount(self, target, expect=None):
        """Return a Handle `copy TARGET`: a detached recursive copy of the mount on top at `target` (`expect`).

        Not possible with the classic API (SysError ENOSYS): a bind of a mount
        that is about to be unmounted cannot outlive it there.
        """
        with self._step("clone_mount", target, expect) as what:
            tfd = self._verified_fd(target, what, expect)
            try:
                flags = sc.AT_EMPTY_PATH | sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | sc.AT_RECURSIVE
                fd = self._new_api(lambda: sc.open_tree(tfd, "", flags))
            finally:
                os.close(tfd)
            if fd is _CLASSIC:
                raise self._fail(what, errno.ENOSYS, "needs the new mount api (open_tree)")
            return self._identify(Handle(fd, "copy %s" % target))

    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return a Handle `FSTYPE [SOURCE]`: a new detached filesystem (fsopen, fsconfig..., fsmount).

        A None source becomes `fstype` (tmpfs/overlay show it as their source).
        The kernel's own words (`tmpfs: Unknown parameter 'x'`) are the cause
        of a failure when it gave any.
        """
        with self._step("create_fs", fstype, source, fs_options, lower, data, upper, work) as what:
            source = source or fstype
            desc = fstype if source == fstype else "%s %s" % (fstype, source)
            ctx = self._new_api(lambda: sc.fsopen(fstype, sc.FSOPEN_CLOEXEC))
            if ctx is _CLASSIC:
                return sys_classic.pending_fs(desc, fstype, source, fs_options, lower, data, upper, work)
            try:
                fd = self._configure(ctx, what, source, fs_options, lower, data, upper, work)
            finally:
                os.close(ctx)
            return self._identify(Handle(fd, desc))

    def _configure(self, ctx, what, source, fs_options, lower, data, upper, work):
        """Return a detached mount fd after configuring and creating context `ctx`.

        Overlay layers go one fsconfig each (`lowerdir+`, `datadir+`, top-most
        first: no escaping, no length limit on the list). Before 6.8 there is
        no `lowerdir+`: then one escaped legacy `lowerdir=l1:l2::d1` string.
        """
        params = [("source", source)] + list(fs_options)
        params += [("lowerdir+", p) for p in lower] + [("datadir+", p) for p in data]
        if upper is not None:
            params.append(("upperdir", _overlay_path(upper)))
        if work is not None:
            params.append(("workdir", _overlay_path(work)))
        key = value = None
        try:
            legacy = False
            for key, value in params:
                if legacy and key in ("lowerdir+", "datadir+"):
                    continue
                try:
                    _fsconfig(ctx, key, value)
                except OSError as exc:
                    if key != "lowerdir+" or exc.errno != errno.EINVAL:
                        raise
                    msgs = kernel_messages(ctx)
                    if "Unknown parameter" not in msgs:
                        raise OSError(exc.errno, msgs or os.strerror(exc.errno))
                    legacy = True
                    _fsconfig(ctx, "lowerdir", sys_classic.lowerdir_value(lower, data))
            key = value = None
            sc.fsconfig(ctx, sc.FSCONFIG_CMD_CREATE)
            return sc.fsmount(ctx, sc.FSMOUNT_CLOEXEC, 0)
        except OSError as exc:
            cause = kernel_messages(ctx) or _cause(exc)
            if key is not None and key not in cause:
                # The kernel said nothing: name the parameter it refused.
                cause = "%s %s: %s" % (key, value, cause) if value is not None else "%s: %s" % (key, cause)
            if lower:
                cause += overlay_hint(exc.errno, work)
            raise self._fail(what, exc.errno, cause)

    # ---- attaching and changing mounts -------------------------------------
    def attach(self, handle, target, beneath=False, expect=None):
        """Return None after attaching detached `handle` at `target` (on top, or beneath the top mount).

        Attaching consumes the handle: its fd is closed and `handle.closed` set,
        because any open fd on a mount makes a later umount2(2) of it fail with
        EBUSY (an undo must be able to unmount what was attached). Beneath
        needs Linux 6.5 (EINVAL before) and is impossible with the classic API
        (ENOSYS); the top mount it slides under must be `expect`. The kernel
        slides it under whatever is on top when it runs: the check comes
        right before (docs/design.md says what that leaves).
        """
        with self._step("attach", handle, target, beneath, expect) as what:
            if handle.closed:
                raise self._fail(what, errno.EBADF, "the mount was already attached or released")
            tfd = self._verified_fd(target, what, expect if beneath else None)
            try:
                if isinstance(handle, PendingMount):
                    if beneath:
                        raise self._fail(what, errno.ENOSYS, "mounting beneath needs the new mount api")
                    sys_classic.attach(handle, tfd, lambda: self._path_fd(target, what), self.ident)
                else:
                    flags = sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH
                    if beneath:
                        flags |= sc.MOVE_MOUNT_BENEATH
                    sc.move_mount(handle.fd, "", tfd, "", flags)
            finally:
                os.close(tfd)
            self.close(handle)

    def setattr(self, where, flags, propagation=None, expect=None):
        """Return None after setting per-mount `flags` exactly and/or `propagation` (None: leave alone).

        On a path, it acts on the very mount checked to be `expect`
        (mount_setattr(2) or a bind remount of /proc/self/fd/N): a mount
        stacked on it meanwhile is never the one changed.
        """
        with self._step("setattr", where, flags, propagation, expect) as what:
            try:
                attr_set, attr_clr = flags_to_attrs(flags) if flags is not None else (0, 0)
                prop = propagation_flag(propagation) if propagation is not None else 0
            except ValueError as exc:
                raise self._fail(what, errno.EINVAL, str(exc))
            if isinstance(where, Handle):
                if where.closed:
                    raise self._fail(what, errno.EBADF, "the mount was already attached or released")
                if isinstance(where, PendingMount):
                    sys_classic.remember_attrs(where, flags is not None, attr_set, prop)
                    return
                fd = where.fd
                done = self._new_api(lambda: sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH, attr_set, attr_clr, prop))
                if done is _CLASSIC:
                    sys_classic.setattr(fd, flags is not None, attr_set, prop)  # a Pin: an attached mount
                return
            tfd = self._verified_fd(where, what, expect)
            try:
                done = self._new_api(lambda: sc.mount_setattr(tfd, "", sc.AT_EMPTY_PATH, attr_set, attr_clr, prop))
                if done is _CLASSIC:
                    sys_classic.setattr(tfd, flags is not None, attr_set, prop)
            finally:
                os.close(tfd)

    def reconfigure(self, target, fs_options, expect=None):
        """Return None after changing filesystem options of the mount at `target` live (fspick).

        fspick(2) (or MS_REMOUNT of /proc/self/fd/N) opens the superblock of
        the very mount checked to be `expect`, never of one stacked on it.
        """
        with self._step("reconfigure", target, fs_options, expect) as what:
            if isinstance(target, Pin):
                if target.closed:
                    raise self._fail(what, errno.EBADF, "the mount was already released")
                tfd = os.dup(target.fd)
            else:
                tfd = self._verified_fd(target, what, expect)
            try:
                flags = sc.FSPICK_EMPTY_PATH | sc.FSPICK_NO_AUTOMOUNT | sc.FSPICK_CLOEXEC
                ctx = self._new_api(lambda: sc.fspick(tfd, "", flags))
                if ctx is _CLASSIC:
                    sys_classic.reconfigure(tfd, fs_options)
                    return
                try:
                    for key, value in fs_options:
                        _fsconfig(ctx, key, value)
                    sc.fsconfig(ctx, sc.FSCONFIG_CMD_RECONFIGURE)
                except OSError as exc:
                    raise self._fail(what, exc.errno, kernel_messages(ctx) or _cause(exc))
                finally:
                    os.close(ctx)
            finally:
                os.close(tfd)

    def umount(self, target, detach=False, expect=None):
        """Return None after unmounting the top mount at `target`, checked to be `expect` (never through a symlink).

        umount2(2) acts on the top mount at a path whatever it is given: even
        /proc/self/fd/N of a checked mount resolves to what is stacked on it
        (its lookup ends on the topmost mount there, observed on 6.18), and
        an fd on the mount makes a plain unmount EBUSY. So the top mount is
        checked to be `expect` through a fd, the fd closed, and the last
        component unmounted at once: from inside the parent directory
        (opened without symlinks) with UMOUNT_NOFOLLOW, changing back after.
        Afterwards the checked mount must be gone (statmount(2)); if a mount
        was stacked on it in the instant between, that one went instead,
        and the step says so. The working directory is process wide: other
        threads must not use relative paths meanwhile (livemount is
        single-threaded).
        """
        with self._step("umount", target, detach, expect) as what, self._parent(target, what) as (dfd, name):
            if stat.S_ISLNK(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                raise self._fail(what, errno.ELOOP, "refusing to follow symlink at %s" % target)
            if expect is not None:
                os.close(self._verified_fd(target, what, expect))
            flags = sc.UMOUNT_NOFOLLOW | (sc.MNT_DETACH if detach else 0)
            cwd = os.open(".", os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
            try:
                os.fchdir(dfd)
                sc.umount2(name, flags)
            finally:
                os.fchdir(cwd)
                os.close(cwd)
            if expect is not None and expect.unique is not None and identity.exists(expect.unique):
                raise self._fail(what, errno.ESTALE, "a mount stacked on %s at that very instant was unmounted "
                                 "instead of %s; it is gone, %s is still there" % (target, expect, expect))

    def close(self, handle):
        """Return None after releasing `handle` (a detached mount vanishes with its last fd)."""
        if handle.closed:
            return
        handle.closed = True
        if handle.fd is not None:
            os.close(handle.fd)
