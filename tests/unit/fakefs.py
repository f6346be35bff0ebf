"""An in-memory mount namespace for FakeSys: filesystems as node trees, mounts as the kernel links them.

Each filesystem (one superblock, one device number) owns a tree of Nodes.
A Mount shows one node of one filesystem (its root) and sits on a node (its
mount point) of its parent mount, exactly like struct mount's mnt_parent and
mnt_mountpoint. So what a path shows depends on the mount stack: a bind
shares the source's nodes (a file written through one side shows on the
other), a child mount of the source is not visible through a non-recursive
bind, a directory created inside a mounted tmpfs lives on that tmpfs and
vanishes with it. Mount points are never kept as strings: a rename moves
them along with their node.

Model errors are FsError(errno, cause); fakesys.py turns them into SysError.
Simplifications: no permissions, no propagation of mount events between
peers (only the shared/master/unbindable state is kept), an overlay is a
snapshot of its merged layers taken at creation (writes do not reach upper).
"""

import errno
import os
import re

from ansible_collections.livemount.core.plugins.module_utils.livemount import paths

from tests.unit.mountinfo_gen import format_mountinfo_line

MAX_SYMLINKS = 40  # path_resolution(7)
ROOT_DEV = (8, 1)
ROOT_ID = 21
ANON_FS = frozenset({"tmpfs", "ramfs", "overlay", "proc", "sysfs", "devpts", "mqueue", "cgroup2"})
BLOCK_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat"})
TMPFS_FLAGS = frozenset({"inode32", "inode64", "noswap", "quota", "usrquota", "grpquota"})
_TMPFS_VALUES = {
    "size": r"\d+[kmgtpe%]?", "nr_blocks": r"\d+[kmgtpe]?", "nr_inodes": r"\d+[kmgtpe]?",
    "mode": r"[0-7]+", "uid": r"\d+", "gid": r"\d+", "huge": r"never|always|within_size|advise|deny|force",
    "mpol": r".+",
}


class FsError(Exception):
    """A refusal of the model: `errno` and the words that follow `cannot <what>: `."""

    def __init__(self, err, cause=None):
        self.errno = err
        text = os.strerror(err)
        self.cause = cause or text[:1].lower() + text[1:]
        super().__init__(self.cause)


def tmpfs_check(fs_options):
    """Raise FsError as tmpfs's parser would for an unknown parameter or a bad value."""
    for key, value in fs_options:
        if key in TMPFS_FLAGS and value is None:
            continue
        pattern = _TMPFS_VALUES.get(key)
        if pattern is None:
            raise FsError(errno.EINVAL, "tmpfs: Unknown parameter '%s'" % key)
        if value is None or not re.fullmatch(pattern, str(value), re.IGNORECASE):
            raise FsError(errno.EINVAL, "tmpfs: Bad value for '%s'" % key)


def _merge(dst, src):
    """Lay directory `src` over `dst` (overlay semantics: upper entries win, directories merge)."""
    for name, child in src.children.items():
        mine = dst.children.get(name)
        if mine is not None and mine.kind == "dir" and child.kind == "dir":
            _merge(mine, child)
        else:
            dst.add(name, child.copy())


class Node:
    """One inode: a directory (with `children`), a file, a symlink (`link`) or something else."""

    def __init__(self, kind, mode=0o755, uid=0, gid=0, link=None):
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.link = link
        self.children = {} if kind == "dir" else None
        self.parent = None
        self.name = ""

    def add(self, name, node):
        """Return `node` after linking it into this directory as `name`."""
        node.parent, node.name = self, name
        self.children[name] = node
        return node

    def is_below(self, other):
        """Return True if this node is `other` or lies inside it."""
        n = self
        while n is not None:
            if n is other:
                return True
            n = n.parent
        return False

    def copy(self):
        """Return a deep copy of this node (for overlay snapshots)."""
        c = Node(self.kind, self.mode, self.uid, self.gid, self.link)
        for name, child in (self.children or {}).items():
            c.add(name, child.copy())
        return c


class Fs:
    """One superblock: device, type, source, options, overlay layers and the root node."""

    def __init__(self, dev, fstype, source, options=(), root=None, readonly=False, layers=((), (), None, None)):
        self.dev = dev
        self.fstype = fstype
        self.source = source
        self.options = tuple(options)
        self.root = root or Node("dir")
        self.readonly = readonly
        self.lower, self.data, self.upper, self.work = layers

    def path_of(self, node):
        """Return the path of `node` inside this filesystem (`/` for the root), as mountinfo's root field."""
        names = []
        n = node
        while n is not self.root:
            if n.parent is None or n.parent.children.get(n.name) is not n:
                return "/" + "/".join(reversed(names)) + "//deleted"
            names.append(n.name)
            n = n.parent
        return "/" + "/".join(reversed(names))


class Mount:
    """One mount: `root` node of `fs`, on node `mp` of mount `parent` (both None while detached)."""

    def __init__(self, mid, fs, root, flags=frozenset()):
        self.id = mid
        self.fs = fs
        self.root = root
        self.flags = frozenset(flags)
        self.parent = None
        self.mp = None
        self.peer = None
        self.master = None
        self.unbindable = False
        self.busy = False  # something holds it open: umount without detach says EBUSY
        self.detached_children = []  # submounts of a detached copy, attached along with it


class Namespace:
    """The mounts of one namespace, with path lookup as the kernel does it."""

    def __init__(self):
        self._next_id = ROOT_ID + 1
        self._next_minor = 40
        self._next_peer = 1
        rootfs = Fs(ROOT_DEV, "ext4", "/dev/sda1", [("errors", "remount-ro")])
        self.root = Mount(ROOT_ID, rootfs, rootfs.root)
        self.mounts = [self.root]  # attached mounts, in the order they appeared
        self._block = {}  # (fstype, source) -> Fs: a device mounted twice is one superblock

    # ---- allocation ----------------------------------------------------------
    def new_dev(self):
        """Return a fresh anonymous device number (0, N)."""
        self._next_minor += 1
        return (0, self._next_minor)

    def new_mount(self, fs, root, flags=frozenset()):
        """Return a new detached Mount of `fs` showing `root`."""
        self._next_id += 1
        return Mount(self._next_id, fs, root, flags)

    def new_peer(self):
        """Return a fresh peer group number."""
        self._next_peer += 1
        return self._next_peer - 1

    def new_fs(self, fstype, source, fs_options, lower, data, upper, work):
        """Return a new Fs (a block device already mounted is the same superblock again).

        tmpfs checks its options like the kernel's parser, an overlay merges
        its layers (FsError naming the layer that is missing), an unknown
        type is ENODEV.
        """
        fs_options = tuple(fs_options)
        if fstype in BLOCK_FS:
            fs = self._block.get((fstype, source))
            if fs is None:
                self.walk(source, "all")  # ENOENT for a missing device
                fs = self._block[(fstype, source)] = Fs(self.new_dev(), fstype, source, fs_options)
            return fs
        if fstype == "overlay":
            return self._overlay(source, fs_options, lower, data, upper, work)
        if fstype not in ANON_FS:
            raise FsError(errno.ENODEV)
        root = Node("dir", 0o755)
        if fstype == "tmpfs":
            tmpfs_check(fs_options)
            opts = dict(fs_options)
            root = Node("dir", int(opts.get("mode", "1777"), 8), int(opts.get("uid", 0)), int(opts.get("gid", 0)))
        return Fs(self.new_dev(), fstype, source, fs_options, root)

    def _overlay(self, source, fs_options, lower, data, upper, work):
        # overlayfs logs these to dmesg only, not to the fs context: plain EINVAL.
        if not lower or (upper is None) != (work is None):
            raise FsError(errno.EINVAL)
        layers = []
        for key, path in [("lowerdir+", p) for p in lower] + [("datadir+", p) for p in data] + [
                ("upperdir", upper), ("workdir", work)]:
            if path is None:
                continue
            try:
                node = self.walk(path, "all")[1]
            except FsError as exc:
                raise FsError(exc.errno, "%s %s: %s" % (key, path, exc.cause))
            if node.kind != "dir":
                raise FsError(errno.ENOTDIR, "%s %s: not a directory" % (key, path))
            if key in ("lowerdir+", "upperdir"):
                layers.append(node)
        top = layers[-1] if upper is not None else layers[0]
        root = Node("dir", top.mode, top.uid, top.gid)
        for node in reversed(layers[:len(lower)]):
            _merge(root, node)
        if upper is not None:
            _merge(root, layers[-1])
        return Fs(self.new_dev(), "overlay", source, fs_options, root, readonly=upper is None,
                  layers=(lower, data, upper, work))

    # ---- structure -----------------------------------------------------------
    def above(self, mount, node):
        """Return the mount attached on `node` of `mount`, or None."""
        for m in self.mounts:
            if m.parent is mount and m.mp is node:
                return m
        return None

    def top(self, mount, node):
        """Return (mount, node) after crossing every mount stacked on `node` of `mount`."""
        while True:
            m = self.above(mount, node)
            if m is None:
                return mount, node
            mount, node = m, m.root

    def children(self, mount):
        """Return the attached mounts whose parent is `mount`."""
        return [m for m in self.mounts if m.parent is mount]

    def subtree(self, mount):
        """Return `mount` and every attached mount below it, parents first."""
        out = [mount]
        for m in out:
            out.extend(self.children(m))
        return out

    def mount_point(self, mount):
        """Return the absolute mount point of an attached mount."""
        if mount is self.root:
            return "/"
        return self.abs_path(mount.parent, mount.mp)

    def abs_path(self, mount, node):
        """Return the absolute path at which `node` of attached `mount` is reached."""
        names = []
        n = node
        while n is not mount.root and n is not None:
            names.append(n.name)
            n = n.parent
        return paths.join(self.mount_point(mount), "/".join(reversed(names)))

    # ---- lookup --------------------------------------------------------------
    def _up(self, mount, node):
        while node is mount.root and mount.parent is not None:
            mount, node = mount.parent, mount.mp
        if node is mount.root or node.parent is None:
            return mount, node
        return self.top(mount, node.parent)

    def walk(self, path, follow):
        """Return (mount, node) for absolute `path`.

        follow: "all" resolves every symlink, "inner" all but a final one
        (lstat), "none" refuses any (FsError ELOOP naming the component), as
        securepath does for every mutation.
        """
        if follow == "none":
            try:
                path = paths.clean(path)
            except ValueError as exc:
                raise FsError(errno.EINVAL, str(exc))
        elif not path.startswith("/"):
            raise FsError(errno.EINVAL, "path must be absolute")
        comps = [c for c in path.split("/") if c]
        mount, node = self.top(self.root, self.root.root)
        walked, hops = "", 0
        while comps:
            c = comps.pop(0)
            if c == ".":
                continue
            if c == "..":
                mount, node = self._up(mount, node)
                continue
            if node.kind != "dir":
                raise FsError(errno.ENOTDIR)
            child = node.children.get(c)
            if child is None:
                raise FsError(errno.ENOENT)
            walked += "/" + c
            m2, n2 = self.top(mount, child)
            if n2.kind == "symlink":
                if follow == "none":
                    raise FsError(errno.ELOOP, "refusing to follow symlink at %s" % walked)
                if follow == "inner" and not comps:
                    return m2, n2
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise FsError(errno.ELOOP)
                if n2.link.startswith("/"):
                    mount, node = self.top(self.root, self.root.root)
                comps = [x for x in n2.link.split("/") if x] + comps
                continue
            mount, node = m2, n2
        return mount, node

    def parent_of(self, path):
        """Return (mount, directory node, name) for the last component of `path`, refusing symlinks."""
        try:
            path = paths.clean(path)
        except ValueError as exc:
            raise FsError(errno.EINVAL, str(exc))
        if path == "/":
            raise FsError(errno.EINVAL, "the root has no parent")
        parent, name = path.rsplit("/", 1)
        mount, node = self.walk(parent or "/", "none")
        if node.kind != "dir":
            raise FsError(errno.ENOTDIR)
        return mount, node, name

    def mount_root_at(self, path):
        """Return the top mount at `path` (no symlinks), FsError EINVAL if `path` is not a mount point."""
        mount, node = self.walk(path, "none")
        if node is not mount.root:
            raise FsError(errno.EINVAL, "not a mount point")
        return mount

    # ---- mount tree operations ---------------------------------------------------
    def copy_tree(self, mount, node, recursive):
        """Return a detached copy of `mount` showing `node` (plus the submounts below it when recursive)."""
        if mount.unbindable:
            raise FsError(errno.EINVAL)
        new = self._clone(mount, node)
        if recursive:
            pending = [(mount, new)]
            while pending:
                old, copy = pending.pop()
                for child in self.children(old):
                    if child.unbindable or not child.mp.is_below(node if old is mount else old.root):
                        continue
                    c = self._clone(child, child.root)
                    c.parent, c.mp = copy, child.mp
                    copy.detached_children.append(c)
                    pending.append((child, c))
        return new

    def _clone(self, mount, node):
        c = self.new_mount(mount.fs, node, mount.flags)
        if mount.peer is not None:
            c.peer = mount.peer  # clone_mnt(): a clone of a shared mount joins its peer group
        return c

    def attach(self, tree, mount, node, beneath):
        """Attach detached `tree` on `node` of `mount` (the top there), or beneath that top mount."""
        if (node.kind == "dir") != (tree.root.kind == "dir"):
            raise FsError(errno.EINVAL)  # move_mount(2) says EINVAL where mount(2) says ENOTDIR
        if beneath:
            if node is not mount.root or mount is self.root:
                raise FsError(errno.EINVAL)
            tree.parent, tree.mp = mount.parent, mount.mp
            mount.parent, mount.mp = tree, tree.root
        else:
            tree.parent, tree.mp = mount, node
        # attach_recursive_mnt(): a tree attached below a shared mount is made shared, every mount of it.
        shared = tree.parent.peer is not None
        todo = [tree]
        for m in todo:
            self.mounts.append(m)
            todo.extend(m.detached_children)
            m.detached_children = []
            if shared and m.peer is None:
                m.peer = self.new_peer()

    def umount(self, mount, detach):
        """Remove attached `mount` (with its whole subtree when `detach`)."""
        if mount is self.root:
            raise FsError(errno.EINVAL, "not a mount point")
        if not detach and (mount.busy or self.children(mount)):
            raise FsError(errno.EBUSY, "target is busy")
        gone = self.subtree(mount)
        self.mounts = [m for m in self.mounts if m not in gone]

    def set_propagation(self, mount, name):
        """Change the propagation of `mount` as mount_setattr(2) would (no events travel, see module doc)."""
        if name == "shared":
            if mount.peer is None:
                mount.peer = self.new_peer()
            mount.unbindable = False
        elif name == "slave":
            peers = [m for m in self.mounts if m is not mount and mount.peer is not None and m.peer == mount.peer]
            if peers:
                mount.master = mount.peer  # the group it leaves becomes its master
            mount.peer = None
            mount.unbindable = False
        else:
            mount.peer = mount.master = None
            mount.unbindable = name == "unbindable"

    # ---- rendering ---------------------------------------------------------------
    def mountinfo(self):
        """Return the namespace as /proc/self/mountinfo text, in the order mounts appeared."""
        lines = []
        for m in self.mounts:
            opts = ["ro" if "ro" in m.flags else "rw"]
            opts += [f for f in ("nosuid", "nodev", "noexec", "noatime", "nodiratime") if f in m.flags]
            if not m.flags & {"noatime", "strictatime"}:
                opts.append("relatime")  # strictatime prints no word (fs/proc_namespace.c)
            optional = []
            if m.peer is not None:
                optional.append("shared:%d" % m.peer)
            if m.master is not None:
                optional.append("master:%d" % m.master)
            if m.unbindable:
                optional.append("unbindable")
            fs = m.fs
            supers = [("ro" if fs.readonly else "rw", None)] + list(fs.options)
            supers += [("lowerdir+", p) for p in fs.lower] + [("datadir+", p) for p in fs.data]
            # overlayfs echoes upperdir/workdir as handed to it, i.e. backslash-escaped.
            supers += [(k, v.replace("\\", "\\\\")) for k, v in (("upperdir", fs.upper), ("workdir", fs.work)) if v]
            lines.append(format_mountinfo_line(
                m.id, 1 if m is self.root else m.parent.id, fs.dev, fs.path_of(m.root), self.mount_point(m),
                ",".join(opts), optional, fs.fstype, fs.source, supers))
        return "\n".join(lines) + "\n"
