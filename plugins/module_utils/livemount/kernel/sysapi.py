"""The one seam between livemount and the kernel: the Sys interface.

The executor receives a Sys and never calls os/ctypes itself. Implementations:
* sys_linux.LinuxSys: the real kernel, via ctypes (new mount API, openat2).
* failpoint.FailpointSys: wraps another Sys, fails or crashes at the N-th mutation.
* tests/unit/fakesys.py: a recording fake for unit tests.

Every *mutating* method is one "step" for failpoints and recorders: it either
happens completely or raises SysError with the errno, and the canonical call
string (see `call_string`) names it. Observing methods never mutate.

Paths handed to mutating methods are resolved without following a symlink in
any component (openat2 RESOLVE_NO_SYMLINKS, or an O_PATH|O_NOFOLLOW walk), and
the operation is done on the resulting fd; a planted symlink raises SysError
with errno ELOOP and a "refusing to follow symlink" message. The exception is
`clone(source)`: a bind source is the user's choice and is resolved normally.

mkdir, rmdir, mkfile, unlink and symlink take `writable_view` (default
False). With True the call is made through a private writable copy of the
mount holding the parent directory (open_tree(2) OPEN_TREE_CLONE, then
mount_setattr(2) clearing MOUNT_ATTR_RDONLY on that detached copy only): it
removes, or puts back on undo, what livemount itself made inside a mount
that is read-only by its per-mount flag, without changing anything anyone
sees. A filesystem that is read-only itself (superblock) still says EROFS,
and so does a Sys that cannot make such a copy (classic API); both say why.

Verify, then act: umount, setattr (on a path), reconfigure, clone_mount and
a beneath attach take `expect`, the model.Ident of the mount the plan
checked at that target. The call opens the target (no symlinks), checks
that the mount it lands on is that very one, and acts on that open handle
where the kernel allows it (mount_setattr(2) and fspick(2) with
AT_EMPTY_PATH, open_tree(2)); umount2(2) and MOVE_MOUNT_BENEATH always act
on the top mount at a path, so they follow the check at once. Another
mount there (stacked on it since the plan, or in its place) fails the step
with ESTALE and is left alone. `expect` None checks nothing (a mount the
run has no identity for).
"""

import abc

from ..model import Ident

MUTATIONS = (
    "mkdir",
    "rmdir",
    "mkfile",
    "unlink",
    "symlink",
    "rename",
    "clone",
    "clone_mount",
    "create_fs",
    "attach",
    "setattr",
    "reconfigure",
    "umount",
)


class Handle:
    """A detached mount (an fd from open_tree/fsmount); `desc` names it in call strings.

    `ident` (model.Ident) is the mount it is and stays once attached (a move
    keeps the mount, and so its ids); `marker` names its superblock and root
    (kernel/identity.py). Either is None when the Sys cannot tell (yet: a
    classic mount(2) stand-in learns both when it is attached).
    """

    def __init__(self, fd, desc, ident=None, marker=None):
        self.fd = fd
        self.desc = desc
        self.closed = False
        self.ident = ident
        self.marker = marker

    def __repr__(self):
        return "<mount %s>" % self.desc


class Pin(Handle):
    """An attached mount held by an fd (Sys.pin): setattr and reconfigure on it change that very mount.

    Call strings and messages name it by its target, as a path would be: the
    pin is how the step reaches the mount, not what the step does.
    """

    def __repr__(self):
        return '"%s"' % self.desc


class Sys(abc.ABC):
    """The interface (abstract: every implementation provides every method).

    Methods raise SysError(message, errno, call) on failure.
    """

    # ---- observation -------------------------------------------------------
    @abc.abstractmethod
    def read_mountinfo(self):
        """Return the text of /proc/self/mountinfo of the current mount namespace."""

    @abc.abstractmethod
    def lstat(self, path):
        """Return a model.PathFact for `path` without following a final symlink (MISSING if absent).

        For a directory, `empty` tells whether it has no entries.
        """

    @abc.abstractmethod
    def realpath(self, path):
        """Return `path` with every symlink resolved (os.path.realpath semantics)."""

    @abc.abstractmethod
    def listdir(self, path):
        """Return the sorted names in directory `path` (a writable mimic puts each one back)."""

    @abc.abstractmethod
    def getxattr(self, path, name):
        """Return the value (bytes) of xattr `name` of `path`, not following a final symlink.

        None when the path has no such xattr, is missing, or its filesystem
        keeps no xattrs (overlay_rules reads trusted.overlay.* with it).
        """

    @abc.abstractmethod
    def file_handle(self, path):
        """Return (handle type, handle bytes, filesystem uuid bytes or None) of `path` (name_to_handle_at(2)).

        None when its filesystem cannot make file handles. The uuid is what
        FS_IOC_GETFSUUID says (overlayfs stores both in struct ovl_fb).
        """

    @abc.abstractmethod
    def overlay_defaults(self):
        """Return {param: value} from /sys/module/overlay/parameters ({} if not loaded)."""

    @abc.abstractmethod
    def namespace_id(self):
        """Return the identity of the current mount namespace, e.g. `mnt:[4026531841]`."""

    @abc.abstractmethod
    def mount_ids(self):
        """Return {mountinfo id: unique mount id} of every mount of the namespace ({} if the kernel cannot tell).

        Read it between two reads of read_mountinfo() that agree (observe.read_table).
        """

    @abc.abstractmethod
    def pin(self, target, expect):
        """Return a Pin of the top mount at `target` after checking it is `expect` (SysError ESTALE otherwise).

        Not a step: it changes nothing. setattr and reconfigure given the Pin
        act on that mount even if another is stacked on it since; close() it
        before unmounting that mount (an fd on a mount makes umount2(2) EBUSY).
        """

    @abc.abstractmethod
    def marker(self, path):
        """Return the marker (kernel/identity.py) of the mount on top at `path`, None when unknown or not a mount."""

    # ---- mutations (each is one step) --------------------------------------
    @abc.abstractmethod
    def mkdir(self, path, mode, uid, gid, writable_view=False):
        """Create directory `path` (parent must exist) with mode/owner; EEXIST if present."""

    @abc.abstractmethod
    def rmdir(self, path, writable_view=False):
        """Remove the empty directory `path`."""

    @abc.abstractmethod
    def mkfile(self, path, mode, uid, gid, writable_view=False):
        """Create an empty regular file (O_EXCL) as a mount point for a file bind."""

    @abc.abstractmethod
    def unlink(self, path, writable_view=False):
        """Remove a file or symlink (not a directory)."""

    @abc.abstractmethod
    def symlink(self, content, path, writable_view=False):
        """Create symlink `path` pointing at `content`."""

    @abc.abstractmethod
    def rename(self, old, new):
        """rename(2) `old` over `new` (atomic switch of a symlink)."""

    @abc.abstractmethod
    def clone(self, source, recursive):
        """Return a Handle: a detached bind of `source` (open_tree OPEN_TREE_CLONE[, AT_RECURSIVE])."""

    @abc.abstractmethod
    def clone_mount(self, target, expect=None):
        """Return a Handle: a detached copy of the mount on top at `target` (that is `expect`), kept for undo."""

    @abc.abstractmethod
    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return a Handle: a new detached filesystem mount (fsopen, fsconfig..., fsmount).

        `fs_options` is a sequence of (key, value-or-None). Overlay layers go
        one `lowerdir+`/`datadir+` call each. On failure the kernel's message
        from the fs context is part of the SysError message.
        """

    @abc.abstractmethod
    def attach(self, handle, target, beneath=False, expect=None):
        """Attach a detached mount at `target` (move_mount); `beneath` slides it under the top mount (`expect`)."""

    @abc.abstractmethod
    def setattr(self, where, flags, propagation=None, expect=None):
        """Set per-mount flags exactly (mount_setattr): those in `flags` on, the rest of MOUNT_FLAGS off.

        `where` is a path (the top mount there, that is `expect`) or a Handle (a detached mount).
        `flags` None leaves flags alone; `propagation` None leaves it alone.
        """

    @abc.abstractmethod
    def reconfigure(self, target, fs_options, expect=None):
        """Change filesystem options of the mount at `target` (that is `expect`, or a Pin) live (fspick + RECONFIGURE)."""

    @abc.abstractmethod
    def umount(self, target, detach=False, expect=None):
        """Unmount the top mount at `target`, that is `expect` (UMOUNT_NOFOLLOW; MNT_DETACH when `detach`)."""

    @abc.abstractmethod
    def close(self, handle):
        """Release a Handle (not a step: a detached mount vanishes when its last fd closes)."""


def call_string(name, *args):
    """Return the canonical text of a call, as recorders and error messages show it.

    Strings are double-quoted, sets are joined sorted with commas, handles by desc:
    `attach <mount tmpfs> "/srv/t"`. Which mount a step checks (an Ident) is
    not part of what it does: left out (failpoint.step_call drops `expect`).
    """
    parts = [name]
    for a in args:
        if isinstance(a, Ident):
            continue
        if isinstance(a, str):
            parts.append('"%s"' % a)
        elif isinstance(a, (set, frozenset)):
            parts.append(",".join(sorted(a)) or "-")
        elif isinstance(a, Handle):
            parts.append(repr(a))
        elif isinstance(a, (list, tuple)):
            parts.append(
                "[" + ",".join(k if v is None else "%s=%s" % (k, v) for k, v in a) + "]"
                if a and isinstance(a[0], tuple)
                else "[" + ",".join(str(x) for x in a) + "]"
            )
        elif a is None:
            parts.append("-")
        else:
            parts.append(str(a))
    return " ".join(parts)
