"""What a fresh overlay upper gets when some paths are reset, and copying it there, offline.

Planning (plan_paths): resetting overlay path P means the merged view at P
(and below) becomes the lower view at P, and nothing else changes. Leaving
P's upper entries out of the copy gives that wherever the upper directories
above P merge with the same lower directories as the lower view does. Below
an opaque directory or a redirect (a renamed directory) they do not: the
lower-view object is then copied into the new upper at P (a copy-up done by
us, offline; a directory marked opaque when something would merge into it),
or a whiteout is made when the lower view has nothing at P. Below a path the
overlay deleted or replaced by a non-directory, P cannot be reset alone:
refused, naming the path to reset instead.

Copying (seed_upper, copy_upper, copy_object) is exact in what overlayfs and
the users of the overlay can see: file type (whiteouts are character devices
0/0, made with mknod), every xattr (trusted.overlay.* / user.overlay.*
markers included: opaque, redirect, metacopy, origin, whiteout), owner,
permission bits, atime and mtime (the ctime cannot be set: it is the time of
the copy), symlink targets, device numbers, holes (a metacopy file stays a
file of its size with no data blocks), and hard links between copied files.

The source is only read: regular files are opened with O_NOATIME and
directories are listed through an O_NOATIME descriptor (open(2): O_NOATIME
needs to own the file or CAP_FOWNER; root has it). Nothing here goes through
Sys: the destination is a directory no mount uses yet, and these are file
copies, not mount changes (docs/overlay-reset.md says what failpoints cover).
"""

import errno
import os
import stat
from typing import Optional, Tuple

from .. import paths
from ..errors import LivemountError
from ..overlay.stack import OVERLAY_XATTRS, UPPER, Obj, lstat, type_name
from ..records import field, record

DROP = "drop"  # leave P's upper entries out of the copy: the lower view shows through
COPY = "copy"  # also copy the lower-view object into the new upper at P
WHITEOUT = "whiteout"  # also hide what the merged side would show at P

_CHUNK = 1 << 20
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOATIME", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@record
class PathPlan:
    """How the new upper gets the lower view at overlay path `path` (how: drop, copy or whiteout).

    `parents` are (overlay path, Obj) of directories the new upper lacks
    above `path`, made like the merged directory there; `source` is the
    lower view's (Obj, child stack) for a copy, `opaque` whether the copied
    directory must hide what would merge into it.
    """

    path: str
    how: str
    parents: Tuple = field(default=(), compare=False)
    source: Optional[Tuple] = field(default=None, compare=False)
    opaque: bool = False


def plan_paths(target, upper, layers, wanted):
    """Return a PathPlan for each overlay path of `wanted`, read from upper dir `upper` and `layers`.

    Raises LivemountError for a path below a deleted or replaced directory,
    and for the old name of a renamed directory that is kept: the reset
    would show its lower directory at both names, and overlayfs refuses a
    second path to one directory (lookups fail with ESTALE, seen on 6.18).
    """
    plans = [_plan_one(target, upper, layers, p) for p in wanted]
    if wanted:
        for path, origin in redirects(upper, layers, skip=wanted):
            hit = [p for p in wanted if paths.is_at_or_under(origin, p)]
            if hit and layers.find(layers.root_stack(), origin.strip("/"))[0] is not None:
                raise _refused(target, hit[0], "directory %s was renamed from %s and is kept: overlayfs cannot show"
                                               " one lower directory at two paths; reset %s too" % (path, origin, path))
    return plans


def redirects(upper, layers, skip=()):
    """Return [(overlay path, origin)] of the directories in upper dir `upper` that carry a redirect.

    The origin is the overlay path the directory was renamed from. Subtrees
    at overlay paths in `skip` are not visited.
    """
    out = []
    todo = [("/", upper)]
    while todo:
        rel, real = todo.pop()
        with os.scandir(real) as it:
            for e in it:
                path = paths.join(rel, e.name)
                if path in skip or not e.is_dir(follow_symlinks=False):
                    continue
                redirect = layers.redirect_of(Obj(e.path, None, UPPER, entry=e))
                if redirect is not None:
                    out.append((path, "/" + redirect.strip("/") if redirect.startswith("/")
                                else paths.join(rel, redirect)))
                todo.append((path, e.path))
    return sorted(out)


def _plan_one(target, upper, layers, path):
    """Return the PathPlan of one path: walk its ancestors, following merged and lower-view stacks."""
    names = path.strip("/").split("/")
    mstack = lstack = layers.root_stack()
    udir = upper
    parents = []
    for i, name in enumerate(names[:-1]):
        here = "/" + "/".join(names[:i + 1])
        lobj, lchild = layers.find(lstack, name)
        mobj, mchild = (lobj, lchild) if mstack == lstack else layers.find(mstack, name)
        lchild = lchild if lobj is not None and lobj.is_dir else ()
        mchild = mchild if mobj is not None and mobj.is_dir else ()
        st = None if udir is None else lstat(os.path.join(udir, name))
        if st is None:
            if mobj is None or not mobj.is_dir:
                raise _refused(target, path, "%s is not a directory in the overlay; reset %s instead" % (here, here))
            parents.append((here, mobj))
            udir = None
        else:
            obj = Obj(os.path.join(udir, name), st, UPPER)
            if layers.is_whiteout(obj):
                raise _refused(target, path, "%s is deleted in the overlay; reset %s instead" % (here, here))
            if not obj.is_dir:
                raise _refused(target, path, "%s is a %s in the overlay, not a directory; reset %s instead"
                               % (here, type_name(st.st_mode), here))
            redirect = layers.redirect_of(obj)
            if redirect is not None:  # a renamed directory: its lower content comes from elsewhere
                mchild = layers.follow(mstack, name, redirect, UPPER)[1]
            elif layers.is_opaque(obj):
                mchild = ()
            udir = obj.path
        mstack, lstack = mchild, lchild
    if mstack == lstack:
        return PathPlan(path, DROP)
    lobj, lchild = layers.find(lstack, names[-1])
    mobj = layers.find(mstack, names[-1])[0]
    if lobj is None:
        return PathPlan(path, DROP if mobj is None else WHITEOUT, tuple(parents) if mobj is not None else ())
    return PathPlan(path, COPY, tuple(parents), (lobj, lchild),
                    opaque=lobj.is_dir and mobj is not None and mobj.is_dir)


def _refused(target, path, why):
    return LivemountError("cannot reset %s in overlay %s: %s" % (path, target, why))


def seed_upper(old_upper, new_upper, plans, layers):
    """Return the number of entries written into the empty `new_upper`: the old upper minus the plans' paths.

    Then each COPY/WHITEOUT plan writes the lower view at its path. Parent
    directories written into keep the times the old upper gave them.
    """
    count = copy_upper(old_upper, new_upper, skip=[p.path for p in plans])
    for p in plans:
        if p.how == DROP:
            continue
        for here, obj in p.parents:
            d = new_upper + here
            if not os.path.lexists(d):
                with _times_kept(os.path.dirname(d)):
                    make_dir_like(obj, d)
                count += 1
        dst = new_upper + p.path
        with _times_kept(os.path.dirname(dst)):
            if p.how == WHITEOUT:
                make_whiteout(dst)
                count += 1
            else:
                count += copy_object(layers, p.source[0], p.source[1], dst, opaque=p.opaque)
    # The new overlay will show these files as they are on disk: written before it is swapped in.
    os.sync()
    return count


class _times_kept:
    """Context manager: the directory's atime/mtime after the block are what they were before it."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.st = os.lstat(self.path)

    def __exit__(self, *exc):
        os.utime(self.path, ns=(self.st.st_atime_ns, self.st.st_mtime_ns), follow_symlinks=False)


# ---- copying -----------------------------------------------------------------------------------

def copy_upper(src, dst, skip=()):
    """Return the number of entries copied from upper directory `src` into the empty directory `dst`.

    `skip` holds overlay paths (`/etc/app.conf`) left out with everything
    below them. The root's own xattrs, owner, mode and times are copied
    onto `dst`. Hard links between copied files stay hard links; whiteouts
    (one shared inode in overlayfs) are each made anew.
    """
    copier = _UpperCopy(set(skip))
    copier.tree(src, dst, "/")
    return copier.count


def copy_object(layers, obj, child_stack, dst, opaque=False):
    """Return the number of entries written when copying lower-view object `obj` to new path `dst`.

    `obj` and `child_stack` are what overlay_stack.Layers.find() returned;
    a directory is copied with the merged content of its whole stack
    (listing() applies whiteouts and opaque directories of the layers), a
    metacopy file with the data it takes from below. Only xattrs a user of
    the overlay sees are copied (the lower layers' own overlay markers
    describe the lower layers, not this copy). `opaque` marks a copied
    directory opaque, so nothing below merges into it.
    """
    count = 1
    st = obj.stat
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
        if opaque:
            os.setxattr(dst, layers.opaque_key, b"y", follow_symlinks=False)
        for name, (child, stack) in sorted(layers.listing(child_stack).items()):
            count += copy_object(layers, child, stack, os.path.join(dst, name))
    else:
        data = layers.data_path(obj) if stat.S_ISREG(st.st_mode) else obj.path
        _make(st, data, dst)
    _finish(st, dst, layers.user_xattrs(obj))
    return count


def make_whiteout(dst):
    """Return None after making a whiteout (character device 0/0) at `dst`: the name is deleted in the overlay."""
    os.mknod(dst, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def make_dir_like(obj, dst):
    """Return None after making directory `dst` with the owner, mode, user xattrs and times of `obj` (an Obj)."""
    os.mkdir(dst, 0o700)
    _finish(obj.stat, dst, {k: os.getxattr(obj.path, k, follow_symlinks=False) for k in _xattr_names(obj.path)
                            if not k.startswith(OVERLAY_XATTRS)})


def xattrs(path):
    """Return {name: value} of every xattr of `path` (not following a symlink)."""
    return {k: os.getxattr(path, k, follow_symlinks=False) for k in _xattr_names(path)}


class _UpperCopy:
    """One copy of an upper tree: counts entries and remembers hard-link groups."""

    def __init__(self, skip):
        self.skip = skip
        self.count = 0
        self.links = {}  # (st_dev, st_ino) of a source file with nlink > 1 -> its first copy

    def tree(self, src, dst, rel):
        """Return None after copying the contents of directory `src` into existing `dst`, then its attributes."""
        st = os.lstat(src)
        fd = os.open(src, _READ | os.O_DIRECTORY)
        try:
            names = sorted(os.listdir(fd))
        finally:
            os.close(fd)
        for name in names:
            path = rel.rstrip("/") + "/" + name
            if path in self.skip:
                continue
            self.entry(os.path.join(src, name), os.path.join(dst, name), path)
        # Last: creating the children changed the directory's mtime.
        _finish(st, dst, xattrs(src))

    def entry(self, src, dst, rel):
        """Return None after copying one entry of the upper (a directory with its whole subtree)."""
        st = os.lstat(src)
        self.count += 1
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, 0o700)
            self.tree(src, dst, rel)
            return
        whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not whiteout:
            first = self.links.get(key)
            if first is not None:
                os.link(first, dst, follow_symlinks=False)
                return
            self.links[key] = dst
        _make(st, src, dst)
        _finish(st, dst, xattrs(src))


def _make(st, src, dst):
    """Return None after creating `dst` with the type of `st`, the data of regular file / target of symlink `src`."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        fd = os.open(dst, _CREATE, 0o600)
        try:
            _copy_data(src, fd, st.st_size)
        finally:
            os.close(fd)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    else:  # character/block devices (whiteouts too), fifos, sockets: mknod(2) makes every one
        os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)


def _copy_data(src, fd, size):
    """Return None after writing the data of `src` into `fd`, holes kept as holes, then setting the size.

    lseek(2) SEEK_DATA/SEEK_HOLE find the data; a metacopy file has none
    (ENXIO at once) and becomes a file of the same size without blocks.
    """
    sfd = os.open(src, _READ)
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(sfd, pos, os.SEEK_DATA)
                end = os.lseek(sfd, start, os.SEEK_HOLE)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break  # only a hole from here on
                if exc.errno != errno.EINVAL:
                    raise
                start, end = pos, size  # no SEEK_DATA on this filesystem: copy everything
            while start < end:
                chunk = os.pread(sfd, min(_CHUNK, end - start), start)
                if not chunk:
                    break
                _write_all(fd, chunk, start)
                start += len(chunk)
            pos = end
        os.ftruncate(fd, size)
    finally:
        os.close(sfd)


def _write_all(fd, data, offset):
    """Return None after writing all of `data` at `offset`: pwrite(2) may write less (a full disk says so next)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]
        offset += n


def _finish(st, dst, attrs):
    """Return None after giving `dst` the owner, mode, xattrs and times of `st`.

    In this order because chown(2) clears set-user-ID bits and
    security.capability, and every change but utime moves the mtime.
    """
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in sorted(attrs):
        os.setxattr(dst, name, attrs[name], follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _xattr_names(path):
    """Return the sorted xattr names of `path`; none where the filesystem has no xattrs."""
    try:
        return sorted(os.listxattr(path, follow_symlinks=False))
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise
