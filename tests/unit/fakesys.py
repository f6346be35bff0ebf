"""FakeSys: a recording, fault-injecting Sys over an in-memory mount namespace (fakefs.py).

Transcript: every step (a call to a mutating method, sysapi.MUTATING_CALLS) is
appended to `calls` as its canonical string (calls.step_call), e.g.
`mkdir "/t" 0o755 0 0` or `attach <mount tmpfs> "/t" True`. A step that
fails is recorded too, suffixed with ` -> ` and its errno name
(`umount "/t" -> EBUSY`), whether the failure was injected or the model's
own (EEXIST, EBUSY...). A failed step changes nothing. close() is not a
step and is not recorded; `open_handles` shows what was never released.

Injection: `fail_at(n, err)` fails the n-th step (counted from 1 over the
fake's life, failed steps included, see `count`); `fail_on(pattern, err)`
fails the first later step whose call string contains `pattern`. Each fires
once. `err` is an errno number or name ("EIO").

Setup without recording: seed_dir/seed_file/seed_symlink/seed_mount/
seed_bind build the starting world, busy(path) pins a mount as if a file
were open in it. Errors and call strings match LinuxSys.
"""

import errno
import struct

from ansible_collections.livemount.core.plugins.module_utils.livemount import options, paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import SysError, strerror
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import parse_errno
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import conflict_cause
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import MISSING, Ident, PathFact
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.calls import step_call, step_what
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import Features, Handle, Pin, Sys

from tests.unit.fakefs import FsError, Namespace, Node, tmpfs_check

NAMESPACE_ID = "mnt:[4026531841]"
OVERLAY_PARAMS = {"index": "N", "metacopy": "N", "redirect_dir": "N", "xino_auto": "N", "nfs_export": "N",
                  "redirect_always_follow": "Y"}
_RELEASED = "the mount was already attached or released"
UNIQUE_BASE = 1 << 31  # unique ids start there, as the kernel's do: a mix-up with mountinfo ids shows


def ident_of(mount):
    """Return the Ident of a fake Mount (its mountinfo id is never reused in the fake, its unique id neither)."""
    return Ident(UNIQUE_BASE + mount.id, mount.id, mount.fs.dev)


def marker_of(mount):
    """Return the fake marker of a Mount: its superblock (device) and root."""
    return "fake:%d:%d:%s" % (mount.fs.dev + (mount.fs.path_of(mount.root),))


def errno_name(err):
    """Return the symbolic name of an errno (`EIO`) for the transcript, or the number as text."""
    return errno.errorcode.get(err, str(err))


class FakeSys(Sys):
    """An in-memory Sys that records every step and fails where told."""

    def __init__(self, namespace_id=NAMESPACE_ID, overlay_params=None, beneath=True):
        self.ns = Namespace()
        self.beneath = beneath  # what features() says: attach(beneath=True) works either way, as a recorder
        self.calls = []
        self.count = 0
        self._fail_at = {}
        self._fail_on = []
        self._trees = {}  # fd -> detached Mount of a live Handle
        self._handles = []
        self._next_fd = 1000
        self._nsid = namespace_id
        self._overlay_params = dict(OVERLAY_PARAMS if overlay_params is None else overlay_params)
        self._xattrs = {}  # Node -> {name: bytes}, set with seed_xattr
        self._inodes = {}  # Node -> its number in file handles, given on first use
        self.unique_ids = True  # False: a kernel before 6.8 (no unique mount ids)
        self._pins = []  # Pins handed out: an open one makes a plain unmount of its mount EBUSY, as an fd does

    # ---- injection -----------------------------------------------------------
    def fail_at(self, n, err=errno.EIO):
        """Make the n-th step (from 1) fail with `err` without being performed."""
        self._fail_at[n] = parse_errno(err) if isinstance(err, str) else err

    def fail_on(self, pattern, err=errno.EIO):
        """Make the first later step whose call string contains `pattern` fail with `err`."""
        self._fail_on.append((pattern, parse_errno(err) if isinstance(err, str) else err))

    @property
    def open_handles(self):
        """Return the Handles neither attached nor closed (leaks, at the end of a test)."""
        return [h for h in self._handles if not h.closed]

    def _step(self, name, args, kwargs, fn):
        self.count += 1
        call = step_call(name, *args, **kwargs)
        err = self._fail_at.pop(self.count, None)
        if err is None:
            for i, (pattern, e) in enumerate(self._fail_on):
                if pattern in call:
                    err = e
                    del self._fail_on[i]
                    break
        what = step_what(name, *args, **kwargs)
        if err is not None:
            self.calls.append("%s -> %s" % (call, errno_name(err)))
            raise SysError("cannot %s: %s (injected)" % (what, strerror(err)), errno=err, call=call)
        try:
            result = fn()
        except FsError as exc:
            self.calls.append("%s -> %s" % (call, errno_name(exc.errno)))
            raise SysError("cannot %s: %s" % (what, exc.cause), errno=exc.errno, call=call) from None
        self.calls.append(call)
        return result

    # ---- observation ---------------------------------------------------------
    def read_mountinfo(self):
        """Return the fake namespace rendered as /proc/self/mountinfo text."""
        return self.ns.mountinfo()

    def lstat(self, path):
        """Return a PathFact for `path`, following symlinks except a final one (MISSING if absent)."""
        try:
            mount, node = self.ns.walk(path, "inner")
        except FsError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return MISSING
            raise SysError("cannot inspect %s: %s" % (path, exc.cause), errno=exc.errno)
        return PathFact(kind=node.kind, link=node.link, mode=node.mode, uid=node.uid, gid=node.gid,
                        dev=mount.fs.dev, empty=(not node.children) if node.kind == "dir" else None,
                        ino=self._inodes.setdefault(node, len(self._inodes) + 2))

    def realpath(self, path):
        """Return `path` with every symlink resolved; a missing tail is kept as written."""
        comps = [c for c in path.split("/") if c]
        for i in range(len(comps), -1, -1):
            try:
                mount, node = self.ns.walk("/" + "/".join(comps[:i]), "all")
            except FsError:
                continue
            return paths.join(self.ns.abs_path(mount, node), "/".join(comps[i:]))
        return path

    def listdir(self, path):
        """Return the sorted names in directory `path` (following symlinks, like listdir(3))."""
        try:
            _mount, node = self.ns.walk(path, "all")
        except FsError as exc:
            raise SysError("cannot list %s: %s" % (path, exc.cause), errno=exc.errno)
        if node.kind != "dir":
            raise SysError("cannot list %s: not a directory" % path, errno=errno.ENOTDIR)
        return sorted(node.children)

    def getxattr(self, path, name):
        """Return the seeded xattr `name` of `path` (final symlink not followed), None if absent."""
        try:
            _mount, node = self.ns.walk(path, "inner")
        except FsError:
            return None
        return self._xattrs.get(node, {}).get(name)

    def file_handle(self, path):
        """Return (1, handle bytes, uuid) of `path`: like tmpfs, generation 0 and a per-node number."""
        try:
            mount, node = self.ns.walk(path, "all")
        except FsError as exc:
            raise SysError("cannot get a file handle of %s: %s" % (path, exc.cause), errno=exc.errno)
        number = self._inodes.setdefault(node, len(self._inodes) + 2)
        return 1, struct.pack("<IQ", 0, number), struct.pack("<4I", 0xFA4E, mount.fs.dev[0], mount.fs.dev[1], 0)

    def overlay_defaults(self):
        """Return the fake overlay module parameters."""
        return dict(self._overlay_params)

    def namespace_id(self):
        """Return the fake namespace identity."""
        return self._nsid

    def mount_ids(self):
        """Return {mountinfo id: unique id} of the attached mounts (`unique_ids` False: {} as before Linux 6.8)."""
        if not self.unique_ids:
            return {}
        return {m.id: ident_of(m).unique for m in self.ns.mounts}

    def marker(self, path):
        """Return the fake marker of the top mount at `path`, None if it is not a mount point."""
        try:
            return marker_of(self.ns.mount_root_at(path))
        except FsError:
            return None

    def pin(self, target, expect):
        """Return a Pin of the top mount at `target`, checked to be `expect` (not a step, not recorded)."""
        try:
            mount = self._checked(target, expect)
        except FsError as exc:
            raise SysError("cannot reach the mount at %s: %s" % (target, exc.cause), errno=exc.errno) from None
        self._next_fd += 1
        pin = Pin(self._next_fd, target, expect)
        self._trees[pin.fd] = mount
        self._pins.append(pin)
        return pin

    def _checked(self, target, expect):
        """Return the top mount at `target` after checking it is `expect` (FsError ESTALE otherwise), as LinuxSys."""
        mount = self.ns.mount_root_at(target)
        if expect is not None:
            found = ident_of(mount)
            if not self.unique_ids:
                found = Ident(None, found.mount_id, found.dev)
            if not expect.matches(found):
                raise FsError(errno.ESTALE, conflict_cause(target, expect, found))
        return mount

    def features(self):
        """Return Features with MOVE_MOUNT_BENEATH as `beneath` says (on unless a test turns it off)."""
        return Features(beneath=self.beneath)

    # ---- files ---------------------------------------------------------------
    def _writable(self, mount, view=False):
        # A writable view (sysapi) is a detached copy with the per-mount ro cleared: only the filesystem can refuse.
        if view and mount.unbindable:
            raise FsError(errno.EROFS, "the mount is read-only and cannot be copied to write through it"
                                       " (open_tree: invalid argument)")
        if view and mount.fs.readonly:
            raise FsError(errno.EROFS, "the filesystem itself is read-only, not only its mount")
        if "ro" in mount.flags and not view or mount.fs.readonly:
            raise FsError(errno.EROFS)

    def _is_mount_point(self, node):
        return any(m.mp is node for m in self.ns.mounts)

    def _create(self, path, node, view=False):
        mount, parent, name = self.ns.parent_of(path)
        if name in parent.children:
            raise FsError(errno.EEXIST)
        self._writable(mount, view)
        parent.add(name, node)

    def _existing(self, path):
        mount, parent, name = self.ns.parent_of(path)
        node = parent.children.get(name)
        if node is None:
            raise FsError(errno.ENOENT)
        return mount, parent, name, node

    def mkdir(self, path, mode, uid, gid, writable_view=False):
        """Create directory `path` in the filesystem visible at its parent."""
        return self._step("mkdir", (path, mode, uid, gid, writable_view), {},
                          lambda: self._create(path, Node("dir", mode, uid, gid), writable_view))

    def mkfile(self, path, mode, uid, gid, writable_view=False):
        """Create an empty file `path`."""
        return self._step("mkfile", (path, mode, uid, gid, writable_view), {},
                          lambda: self._create(path, Node("file", mode, uid, gid), writable_view))

    def symlink(self, content, path, writable_view=False):
        """Create symlink `path` -> `content`."""
        return self._step("symlink", (content, path, writable_view), {},
                          lambda: self._create(path, Node("symlink", 0o777, link=content), writable_view))

    def rmdir(self, path, writable_view=False):
        """Remove the empty directory `path` (EBUSY if something is mounted on it)."""
        def do():
            mount, parent, name, node = self._existing(path)
            if node.kind != "dir":
                raise FsError(errno.ENOTDIR)
            self._writable(mount, writable_view)
            if self._is_mount_point(node):
                raise FsError(errno.EBUSY)
            if node.children:
                raise FsError(errno.ENOTEMPTY)
            del parent.children[name]
        return self._step("rmdir", (path, writable_view), {}, do)

    def unlink(self, path, writable_view=False):
        """Remove file or symlink `path`."""
        def do():
            mount, parent, name, node = self._existing(path)
            if node.kind == "dir":
                raise FsError(errno.EISDIR)
            self._writable(mount, writable_view)
            if self._is_mount_point(node):
                raise FsError(errno.EBUSY)
            del parent.children[name]
        return self._step("unlink", (path, writable_view), {}, do)

    def rename(self, old, new):
        """rename(2) `old` over `new` (EXDEV across mounts, even of one filesystem)."""
        def do():
            mount, parent, name, node = self._existing(old)
            nmount, nparent, nname = self.ns.parent_of(new)
            if nmount is not mount:
                raise FsError(errno.EXDEV)
            self._writable(mount)
            if node.kind == "dir" and nparent.is_below(node):
                raise FsError(errno.EINVAL)
            dst = nparent.children.get(nname)
            if dst is node:
                return
            if self._is_mount_point(node) or (dst is not None and self._is_mount_point(dst)):
                raise FsError(errno.EBUSY)
            if dst is not None:
                if node.kind == "dir" and dst.kind != "dir":
                    raise FsError(errno.ENOTDIR)
                if node.kind != "dir" and dst.kind == "dir":
                    raise FsError(errno.EISDIR)
                if dst.kind == "dir" and dst.children:
                    raise FsError(errno.ENOTEMPTY)
            del parent.children[name]
            nparent.add(nname, node)
        return self._step("rename", (old, new), {}, do)

    # ---- detached mounts -----------------------------------------------------
    def _handle(self, tree, desc):
        self._next_fd += 1
        ident = ident_of(tree)
        if not self.unique_ids:
            ident = Ident(None, ident.mount_id, ident.dev)
        h = Handle(self._next_fd, desc, ident, marker_of(tree))
        self._trees[h.fd] = tree
        self._handles.append(h)
        return h

    def _tree(self, handle):
        tree = self._trees.get(handle.fd)
        if handle.closed or tree is None:
            raise FsError(errno.EBADF, _RELEASED)
        return tree

    def clone(self, source, recursive):
        """Return a Handle `bind SOURCE` (source resolved following symlinks, like open_tree)."""
        def do():
            mount, node = self.ns.walk(source, "all")
            return self._handle(self.ns.copy_tree(mount, node, recursive), "bind %s" % source)
        return self._step("clone", (source, recursive), {}, do)

    def clone_mount(self, target, expect=None):
        """Return a Handle `copy TARGET`: a recursive copy of what is on top at `target` (checked to be `expect`)."""
        def do():
            mount, node = self.ns.walk(target, "none")
            if expect is not None:
                self._checked(target, expect)
            return self._handle(self.ns.copy_tree(mount, node, True), "copy %s" % target)
        return self._step("clone_mount", (target,), {"expect": expect}, do)

    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return a Handle for a new detached filesystem (a new device number; block devices shared)."""
        args = (fstype, source, fs_options, lower, data, upper, work)
        return self._step("create_fs", args, {}, lambda: self._new_fs(*args))

    def _new_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        source = source or fstype
        fs = self.ns.new_fs(fstype, source, fs_options, tuple(lower), tuple(data), upper, work)
        return self._handle(self.ns.new_mount(fs, fs.root), fstype if source == fstype else "%s %s" % (fstype, source))

    # ---- attaching and changing mounts ---------------------------------------
    def attach(self, handle, target, beneath=False, expect=None):
        """Attach `handle` at `target` (on top, or beneath the top mount, checked to be `expect`); consumes it."""
        def do():
            tree = self._tree(handle)
            mount, node = self.ns.walk(target, "none")
            if beneath and expect is not None:
                self._checked(target, expect)
            self.ns.attach(tree, mount, node, beneath)
            self.close(handle)
        return self._step("attach", (handle, target, beneath), {"expect": expect}, do)

    def setattr(self, where, flags, propagation=None, expect=None):
        """Set per-mount flags exactly and/or propagation of the top mount at a path (`expect`) or of a Handle."""
        def do():
            mount = self._tree(where) if isinstance(where, Handle) else self._checked(where, expect)
            try:
                if flags is not None:
                    options.flags_to_attrs(flags)
                if propagation is not None:
                    options.propagation_flag(propagation)
            except ValueError as exc:
                raise FsError(errno.EINVAL, str(exc))
            if flags is not None:
                mount.flags = frozenset(flags)
            if propagation is not None:
                self.ns.set_propagation(mount, propagation)
        return self._step("setattr", (where, flags, propagation), {"expect": expect}, do)

    def reconfigure(self, target, fs_options, expect=None):
        """Change filesystem options of the mount at `target` (`expect`; every mount of that superblock sees it)."""
        def do():
            fs = (self._tree(target) if isinstance(target, Pin) else self._checked(target, expect)).fs
            changes = tuple(fs_options)
            if fs.fstype == "tmpfs":
                tmpfs_check(changes)
            if fs.fstype == "overlay" and any(k in options.OVERLAY_LAYER_KEYS for k, _ in changes):
                raise FsError(errno.EINVAL, "overlayfs: No changes allowed in reconfigure")
            merged = dict(fs.options)
            merged.update(changes)
            fs.options = tuple(merged.items())
        return self._step("reconfigure", (target, fs_options), {"expect": expect}, do)

    def umount(self, target, detach=False, expect=None):
        """Unmount the top mount at `target`, checked to be `expect` (EINVAL if none, EBUSY if busy or with submounts)."""
        def do():
            mount, parent, name, node = self._existing(target)
            top, _ = self.ns.top(mount, node)
            if top is mount:
                if node.kind == "symlink":
                    raise FsError(errno.ELOOP, "refusing to follow symlink at %s" % paths.clean(target))
                raise FsError(errno.EINVAL, "not a mount point")
            if expect is not None:
                self._checked(target, expect)
            if not detach and any(not p.closed and self._trees.get(p.fd) is top for p in self._pins):
                raise FsError(errno.EBUSY, "target is busy")
            self.ns.umount(top, detach)
        return self._step("umount", (target, detach), {"expect": expect}, do)

    def close(self, handle):
        """Release `handle` (not a step, not recorded); a detached mount vanishes with it."""
        handle.closed = True
        self._trees.pop(handle.fd, None)

    # ---- seeding the world (not recorded) ------------------------------------
    def seed_dir(self, path, mode=0o755, uid=0, gid=0):
        """Return `path` after creating it and missing parents (mkdir -p, following symlinks)."""
        comps = [c for c in path.split("/") if c]
        for i in range(1, len(comps) + 1):
            try:
                self.ns.walk("/" + "/".join(comps[:i]), "all")
            except FsError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                parent = self.ns.walk("/" + "/".join(comps[:i - 1]), "all")[1]
                parent.add(comps[i - 1], Node("dir", mode, uid, gid))
        return path

    def _seed(self, path, node):
        parent, name = paths.clean(path).rsplit("/", 1)
        self.seed_dir(parent or "/")
        directory = self.ns.walk(parent or "/", "all")[1]
        if name in directory.children:
            raise FsError(errno.EEXIST)
        directory.add(name, node)
        return path

    def seed_file(self, path, mode=0o644, uid=0, gid=0):
        """Return `path` after creating an empty file there (parents too)."""
        return self._seed(path, Node("file", mode, uid, gid))

    def seed_xattr(self, path, name, value):
        """Return `path` after setting xattr `name` to bytes `value` on it (None removes it)."""
        node = self.ns.walk(path, "inner")[1]
        if value is None:
            self._xattrs.get(node, {}).pop(name, None)
        else:
            self._xattrs.setdefault(node, {})[name] = bytes(value)
        return path

    def seed_symlink(self, path, content):
        """Return `path` after creating symlink `path` -> `content` (parents too)."""
        return self._seed(path, Node("symlink", 0o777, link=content))

    def _seed_attach(self, handle, target, flags, propagation):
        tree = self._tree(handle)
        if flags:
            tree.flags = frozenset(flags)
        mount, node = self.ns.walk(target, "all")
        self.ns.attach(tree, mount, node, False)
        self.close(handle)
        if propagation:
            self.ns.set_propagation(tree, propagation)
        return tree.id

    def seed_mount(self, fstype, target, source=None, fs_options=(), flags=(), propagation=None, lower=(), data=(),
                   upper=None, work=None):
        """Return the mount id after mounting a new `fstype` at `target` (created as a directory if missing)."""
        if self.lstat(target).kind == "missing":
            self.seed_dir(target)
        h = self._new_fs(fstype, source, fs_options, lower, data, upper, work)
        return self._seed_attach(h, target, flags, propagation)

    def seed_bind(self, source, target, recursive=False, flags=(), propagation=None):
        """Return the mount id after binding `source` at `target` (created like the source if missing)."""
        if self.lstat(target).kind == "missing":
            if self.lstat(source).kind == "dir":
                self.seed_dir(target)
            else:
                self.seed_file(target)
        mount, node = self.ns.walk(source, "all")
        h = self._handle(self.ns.copy_tree(mount, node, recursive), "bind %s" % source)
        return self._seed_attach(h, target, flags, propagation)

    def busy(self, path, on=True):
        """Mark the top mount at `path` busy (as if a file were open in it): umount says EBUSY."""
        self.ns.mount_root_at(path).busy = on
