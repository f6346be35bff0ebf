"""The one seam between livemount and the kernel: the Sys interface.

The executor receives a Sys and never calls os/ctypes itself. Implementations:
* sys_linux.LinuxSys: the real kernel, via ctypes (new mount API, openat2).
* failpoint.FailpointSys: wraps another Sys, fails or crashes at the N-th mutation.
* nsexec.NamespaceSys, nsexec.Configured: another mount namespace (Wrapper).
* tests/unit/fakesys.py: a recording fake for unit tests.

Everything the engine asks of a Sys is declared here: the observing and
mutating methods (abstract), and the hooks a Sys may answer differently
(`features`, `proc_fd`, `target_record`, `adapt_world`), which have a
default. Nobody probes a Sys with getattr or isinstance.

Every *mutating* method (MUTATING_CALLS) is one "step" for failpoints and
recorders: it either happens completely or raises SysError with the errno,
and calls.py names it (`mkdir "/t" 0o755 0 0`, `create directory /t`) the
same way for every implementation. Observing methods never mutate.

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
run has no identity for). A Pin (`pin`) holds a checked mount for a
remount: setattr and reconfigure given it change that very mount.
"""

import abc
import dataclasses

from ..errors import StateError
from ..model import Ident  # noqa: F401  # pylint: disable=unused-import  # what `expect` is (model.Ident)
from ..records import record

# The Sys methods that change something: each call is one step (failpoints count them, recorders write them).
MUTATING_CALLS = (
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


@record
class Features:
    """What the kernel under a Sys can do, where livemount takes another way without it.

    `beneath`: move_mount(2) MOVE_MOUNT_BENEATH (Linux 6.5): a replace slides
    the new mount under the old one, so lookups never see the target empty.
    """

    beneath: bool = False


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

    @property
    def detached(self):
        """Return True: a real detached mount, which exists apart from any path until attached.

        False for a stand-in that only records the mount(2) call to make at
        attach time (the classic API, sys_classic.PendingMount): it looks its
        source up by path then, not now.
        """
        return True

    def __repr__(self):
        return "<mount %s>" % self.desc


class Pin(Handle):
    """An attached mount held by an fd (Sys.pin): setattr and reconfigure on it change that very mount.

    Call strings and messages name it by its target, as a path would be: the
    pin is how the step reaches the mount, not what the step does.
    """

    def __repr__(self):
        return '"%s"' % self.desc


# How often a table is read again when it changed while its unique ids were listed (Sys.mountinfo_with_ids).
TABLE_TRIES = 20


def table_changed():
    """Return the SysError of a table that kept changing while its ids were listed."""
    import errno

    from ..errors import SysError

    return SysError("cannot read the mount table: it changed %d times while livemount read it; try again"
                    % TABLE_TRIES, errno.EAGAIN)


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

    def mountinfo_with_ids(self, read=None):
        """Return (mountinfo text, {mountinfo id: unique id} or None) read together, each line with its mount's id.

        The ids are listed between two reads of read_mountinfo() that agree,
        so each line gets the id of the mount it shows: a mount that went and
        came back meanwhile with the same line (a recycled mountinfo id and
        device, the very case unique ids are for) gets the id of the one now
        there. None when the kernel lists no ids. A table that changed
        TABLE_TRIES times in a row is a SysError (EAGAIN): a table without ids
        would be read as a kernel's without them. A Sys that can tell more
        cheaply overrides this (LinuxObservation). `read` reads the text
        (default: read_mountinfo): a Wrapper's own, whose inner Sys lists the ids.
        """
        read = read or self.read_mountinfo
        text = read()
        for _try in range(TABLE_TRIES):
            ids = self.mount_ids()
            if not ids:
                return text, None
            again = read()
            if again == text:
                return text, ids
            text = again
        raise table_changed()

    def old_ids_of(self, uniques):
        """Return {unique id: its mountinfo id, None when no mount of the namespace has it} for each of `uniques`.

        None (not a dict) when the kernel cannot tell (before Linux 6.8). The
        default lists every mount's (mount_ids); a Sys that can ask about one
        mount overrides it (LinuxObservation: one statmount(2) each).
        """
        listed = self.mount_ids()
        if not listed:
            return None
        by_unique = {u: old for old, u in listed.items()}
        return {u: by_unique.get(u) for u in uniques}

    @abc.abstractmethod
    def marker(self, path):
        """Return the marker (kernel/identity.py) of the mount on top at `path`, None when unknown or not a mount."""

    @abc.abstractmethod
    def pin(self, target, expect):
        """Return a Pin of the top mount at `target` after checking it is `expect` (SysError ESTALE otherwise).

        Not a step: it changes nothing. setattr and reconfigure given the Pin
        act on that mount even if another is stacked on it since; close() it
        before unmounting that mount (an fd on a mount makes umount2(2) EBUSY).
        """

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

        `where` is a path (the top mount there, that is `expect`), a Pin, or a Handle (a detached mount).
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

    # ---- hooks, with the defaults of a Sys acting in its own namespace -----
    def features(self):
        """Return the Features of the kernel (default: none of them)."""
        return Features()

    def tmpfs_defaults(self):
        """Return {"ram_pages": N, "page_size": N}, what tmpfs sizes its defaults by ({}: not known).

        A tmpfs's size and nr_inodes default to half of RAM in pages, and
        mountinfo does not show them then (mm/shmem.c, shmem_show_options):
        the undo of a resize needs the number to put back (steps._remount).
        """
        return {}

    def proc_fd(self):
        """Return an fd of the /proc that shows who uses this namespace's mounts, or None for this process's /proc.

        holders.py scans it to name the processes holding a busy mount.
        """
        return None

    def target_record(self):
        """Return the JSON record naming the mount namespace acted in, or None when it is the caller's own.

        A Sys acting inside another namespace (nsexec.NamespaceSys) says how
        it was named (`{"pid": N}`, `{"namespace_file": path}`): the state
        keeps it, and no isolation warning is given for a namespace named on purpose.
        """
        return None

    def adapt_world(self, world):
        """Return `world` completed with what this Sys knows beyond its namespace's own view (default: unchanged).

        nsexec.NamespaceSys adds the bind sources it saw in the caller's
        namespace before entering the target (observe.py calls this).
        """
        return world

    def facts(self, paths):
        """Return {path: PathFact} of each of `paths`: lstat() less `empty` (None), the facts a plan reads.

        No planner decision depends on whether a directory is empty: a plan
        whose fingerprint nobody asks for (`livemount plan` without --out)
        observes with this, saving a directory opened and read per target,
        most of the system calls of a plan of 5,000 entries (observe's
        `empty`). Default: lstat() of each path, `empty` dropped; the real
        kernel never opens them.
        """
        out = {}
        for p in paths:
            fact = self.lstat(p)
            out[p] = fact if fact.empty is None else dataclasses.replace(fact, empty=None)
        return out


class Wrapper(Sys):
    """A Sys passing every call to `inner`: the base of the Sys that change a few of them.

    Every method is spelled out, so a reader (or a tool) follows each call.
    """

    def __init__(self, inner):
        self.inner = inner

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

    def tmpfs_defaults(self):
        """Return the inner Sys's tmpfs defaults."""
        return self.inner.tmpfs_defaults()

    def namespace_id(self):
        """Return the inner Sys's namespace identity."""
        return self.inner.namespace_id()

    def mount_ids(self):
        """Return the inner Sys's unique mount ids."""
        return self.inner.mount_ids()

    def mountinfo_with_ids(self, read=None):
        """Return the mount table text, read by this Sys (its read_mountinfo), with the ids the inner Sys lists."""
        return self.inner.mountinfo_with_ids(read or self.read_mountinfo)

    def old_ids_of(self, uniques):
        """Return the inner Sys's mountinfo ids of the mounts `uniques` name."""
        return self.inner.old_ids_of(uniques)

    def marker(self, path):
        """Return the inner Sys's marker of the mount at `path`."""
        return self.inner.marker(path)

    def pin(self, target, expect):
        """Return the inner Sys's Pin of the mount at `target` (not a step)."""
        return self.inner.pin(target, expect)

    def mkdir(self, path, mode, uid, gid, writable_view=False):
        """Return what the inner Sys's mkdir returns."""
        return self.inner.mkdir(path, mode, uid, gid, writable_view)

    def rmdir(self, path, writable_view=False):
        """Return what the inner Sys's rmdir returns."""
        return self.inner.rmdir(path, writable_view)

    def mkfile(self, path, mode, uid, gid, writable_view=False):
        """Return what the inner Sys's mkfile returns."""
        return self.inner.mkfile(path, mode, uid, gid, writable_view)

    def unlink(self, path, writable_view=False):
        """Return what the inner Sys's unlink returns."""
        return self.inner.unlink(path, writable_view)

    def symlink(self, content, path, writable_view=False):
        """Return what the inner Sys's symlink returns."""
        return self.inner.symlink(content, path, writable_view)

    def rename(self, old, new):
        """Return what the inner Sys's rename returns."""
        return self.inner.rename(old, new)

    def clone(self, source, recursive):
        """Return the inner Sys's Handle of a bind of `source`."""
        return self.inner.clone(source, recursive)

    def clone_mount(self, target, expect=None):
        """Return the inner Sys's Handle of a copy of the mount at `target`."""
        return self.inner.clone_mount(target, expect)

    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return the inner Sys's Handle of a new filesystem."""
        return self.inner.create_fs(fstype, source, fs_options, lower, data, upper, work)

    def attach(self, handle, target, beneath=False, expect=None):
        """Return what the inner Sys's attach returns."""
        return self.inner.attach(handle, target, beneath, expect)

    def setattr(self, where, flags, propagation=None, expect=None):
        """Return what the inner Sys's setattr returns."""
        return self.inner.setattr(where, flags, propagation, expect)

    def reconfigure(self, target, fs_options, expect=None):
        """Return what the inner Sys's reconfigure returns."""
        return self.inner.reconfigure(target, fs_options, expect)

    def umount(self, target, detach=False, expect=None):
        """Return what the inner Sys's umount returns."""
        return self.inner.umount(target, detach, expect)

    def close(self, handle):
        """Return None after the inner Sys released `handle`."""
        return self.inner.close(handle)

    def features(self):
        """Return the inner Sys's Features."""
        return self.inner.features()

    def proc_fd(self):
        """Return the inner Sys's /proc fd (or None)."""
        return self.inner.proc_fd()

    def target_record(self):
        """Return the inner Sys's namespace record (or None)."""
        return self.inner.target_record()

    def adapt_world(self, world):
        """Return `world` as the inner Sys completes it."""
        return self.inner.adapt_world(world)

    def facts(self, paths):
        """Return the inner Sys's facts of `paths`."""
        return self.inner.facts(paths)


def perform(system, name, args):
    """Return what mutation `name` of `system` returns for `args`: an operation that was kept as data.

    Recovery works out from the journal (untrusted input) which operations
    an interrupted apply still needs, as (name, args) pairs; only a declared
    mutation is ever called by name, anything else is refused.
    """
    if name not in MUTATING_CALLS or not isinstance(args, (list, tuple)):
        raise StateError("cannot perform %r from the journal: not a Sys mutation with arguments (one of %s)"
                         % (name, ", ".join(MUTATING_CALLS)))
    return getattr(system, name)(*args)
