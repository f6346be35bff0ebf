"""Open paths without following a symlink in any component.

Root acting on a path under a directory someone else can write must not be
redirected by a planted symlink (`/srv/app -> /etc`). Every mutation in
sys_linux.py works on an O_PATH fd obtained here, never on the path again.

openat2(2) with RESOLVE_NO_SYMLINKS does the whole walk in the kernel; on
kernels without it (ENOSYS, before 5.6) we walk one component at a time with
openat(O_PATH|O_NOFOLLOW) and refuse a component that turns out to be a
symlink. Both cross mount points as a normal lookup does, so the fd of a
mount point refers to the mount on top there.
"""

import errno
import os
import stat

from ..kernel import syscalls
from ..errors import SysError, strerror
from ..paths import clean

_O_PATH = os.O_PATH | os.O_CLOEXEC

# Learned on first use: True once openat2 said ENOSYS.
_openat2_missing = False


def _fail(what, err, cause=None):
    """Return a SysError `cannot <what>: <cause>` for errno `err`."""
    return SysError("cannot %s: %s" % (what, cause or strerror(err)), errno=err)


def symlink_component(path):
    """Return the first prefix of clean `path` that is a symlink (lstat), or None."""
    prefix = ""
    for comp in path.strip("/").split("/"):
        if not comp:
            continue
        prefix += "/" + comp
        try:
            st = os.lstat(prefix)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return prefix
    return None


def _refuse(what, path):
    """Return the ELOOP SysError naming the symlink component of `path`."""
    where = symlink_component(path)
    cause = "refusing to follow symlink at %s" % where if where else "refusing to follow a symlink in %s" % path
    return _fail(what, errno.ELOOP, cause)


def _walk(path, flags, what):
    """Return an O_PATH fd for clean `path`, opening one component at a time without following symlinks."""
    fd = os.open("/", _O_PATH | os.O_DIRECTORY)
    comps = [c for c in path.split("/") if c]
    try:
        for i, comp in enumerate(comps):
            last = i == len(comps) - 1
            nfd = os.open(comp, _O_PATH | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                raise _fail(what, errno.ELOOP, "refusing to follow symlink at /" + "/".join(comps[: i + 1]))
            if (not last or flags & os.O_DIRECTORY) and not stat.S_ISDIR(mode):
                raise _fail(what, errno.ENOTDIR)
    except OSError as exc:
        os.close(fd)
        raise _fail(what, exc.errno)
    except SysError:
        os.close(fd)
        raise
    return fd


def _open(path, directory, what, walk):
    global _openat2_missing
    try:
        path = clean(path)
    except ValueError as exc:
        raise _fail(what, errno.EINVAL, str(exc))
    flags = _O_PATH | (os.O_DIRECTORY if directory else 0)
    if walk or _openat2_missing:
        return _walk(path, flags, what)
    try:
        # No O_NOFOLLOW: with RESOLVE_NO_SYMLINKS a trailing symlink is then
        # ELOOP too, instead of an O_PATH fd on the link itself (openat2(2)).
        return syscalls.openat2(syscalls.AT_FDCWD, path, flags, 0, syscalls.RESOLVE_NO_SYMLINKS)
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            _openat2_missing = True
            return _walk(path, flags, what)
        if exc.errno == errno.ELOOP:
            raise _refuse(what, path)
        raise _fail(what, exc.errno)


def open_path(path, *, directory=False, what=None, walk=False):
    """Return an O_PATH|O_CLOEXEC fd for absolute `path`, refusing symlinks in every component.

    Raises SysError `cannot <what>: refusing to follow symlink at <component>`
    (errno ELOOP), or with the errno of any other failure; `what` defaults
    to `open <path>`. `walk` forces the component-by-component fallback (as
    used when openat2 is missing). O_DIRECTORY when `directory`.
    """
    return _open(path, directory, what or "open %s" % path, walk)


def open_parent(path, *, what=None, walk=False):
    """Return (dirfd, basename): an O_PATH fd of the parent directory of `path` and the last component.

    Errors name `what` (default `open <path>`), as for open_path.
    """
    what = what or "open %s" % path
    try:
        path = clean(path)
    except ValueError as exc:
        raise _fail(what, errno.EINVAL, str(exc))
    if path == "/":
        raise _fail(what, errno.EINVAL, "the root has no parent")
    parent, name = path.rsplit("/", 1)
    return _open(parent or "/", True, what, walk), name


# Why a write through a private writable view cannot be done without the new mount API.
NO_VIEW = ("the mount is read-only, and writing through a private writable copy of it needs the new mount api"
           " (open_tree, mount_setattr: linux 5.12)")


def writable_view_of(dfd, what):
    """Return an fd of a detached writable copy of the mount at O_PATH fd `dfd`, rooted at that directory.

    For removing what livemount made inside a mount whose per-mount flag is
    read-only. open_tree(2) OPEN_TREE_CLONE copies the one mount (the same
    superblock, attached nowhere); mount_setattr(2) clears MOUNT_ATTR_RDONLY
    on the copy alone (a per-mount flag), so the visible mount stays
    read-only, and the copy is gone when the fd is closed. Names are then
    looked up one component below that root, so no symlink is followed.
    Failing to make it is SysError EROFS, the refusal it was meant to get
    past, with the reason.
    """
    flags = syscalls.AT_EMPTY_PATH | syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC
    try:
        fd = syscalls.open_tree(dfd, "", flags)
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            raise _fail(what, errno.EROFS, NO_VIEW)
        # EINVAL: an unbindable mount cannot be copied (open_tree(2), like a bind of it).
        raise _fail(what, errno.EROFS, "the mount is read-only and cannot be copied to write through it"
                    " (open_tree: %s)" % strerror(exc.errno))
    try:
        syscalls.mount_setattr(fd, "", syscalls.AT_EMPTY_PATH, 0, syscalls.MOUNT_ATTR_RDONLY, 0)
    except OSError as exc:
        os.close(fd)
        if exc.errno == errno.ENOSYS:
            raise _fail(what, errno.EROFS, NO_VIEW)
        raise _fail(what, errno.EROFS, "the mount is read-only and its copy cannot be made writable"
                    " (mount_setattr: %s)" % strerror(exc.errno))
    return fd
