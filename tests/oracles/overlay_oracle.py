"""The full-walk oracle: what an overlay changed, found the slow and obvious way.

It walks the whole merged tree through the mounted overlay (the kernel's
answer), stacks the lower layers by hand into the tree they show without the
upper, and compares the two trees path by path: every attribute, and file
contents byte for byte. It shares no code with overlay_changes on purpose:
the tests and the benchmark hold that walk of the upper alone against this.

The by-hand stacking knows whiteouts (char 0/0 and zero-size files with
`overlay.whiteout`) and opaque directories inside lower layers. It refuses
lower layers holding redirects or metacopy files (ValueError): to check
those, mount the lower layers as a read-only overlay and pass walk_tree()
of that mount to diff_trees().
"""

import errno
import os
import stat

# What can differ, in the order items list it (the same words overlay_changes uses).
CHANGED = ("type", "mode", "uid", "gid", "size", "content", "target", "rdev", "xattrs")
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_CHUNK = 1 << 16


class Node:
    """One file of a tree: where to read it and its lstat, link target and user-visible xattrs."""

    __slots__ = ("real", "st", "link", "xattrs")

    def __init__(self, real, st, xattrs):
        self.real = real
        self.st = st
        self.link = os.readlink(real) if stat.S_ISLNK(st.st_mode) else None
        self.xattrs = xattrs


def oracle(merged, lowers, xattr_prefix="trusted."):
    """Return the differences (see diff_trees) between the lower layers stacked by hand and the merged tree."""
    return diff_trees(stack_layers(lowers, xattr_prefix), walk_tree(merged))


def walk_tree(root):
    """Return {overlay path: Node} of every file under directory `root`, root itself as "/"."""
    tree = {"/": Node(root, os.lstat(root), _xattrs(root))}
    todo = [("/", root)]
    while todo:
        rel, real = todo.pop()
        with os.scandir(real) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    # Readdir of an overlay lists an upper xattr whiteout that
                    # lookup then refuses (seen on 6.18): the name is not there.
                    continue
                path = _join(rel, e.name)
                tree[path] = Node(e.path, st, _xattrs(e.path))
                if stat.S_ISDIR(st.st_mode):
                    todo.append((path, e.path))
    return tree


def stack_layers(layers, xattr_prefix="trusted."):
    """Return {overlay path: Node}: the tree that `layers` (top first) show when stacked read-only."""
    keys = {name: xattr_prefix + "overlay." + name for name in ("opaque", "whiteout", "redirect", "metacopy")}
    top = layers[0]
    tree = {"/": Node(top, os.lstat(top), _xattrs(top))}
    _stack_dir("/", list(layers), tree, keys)
    return tree


def _stack_dir(rel, dirs, tree, keys):
    """Add to `tree` the entries of the directories `dirs` (top first) merging at `rel`."""
    decided = set()
    for depth, d in enumerate(dirs):
        for name in os.listdir(d):
            if name in decided:
                continue
            decided.add(name)  # the top-most layer decides; lower ones only merge into directories
            real = os.path.join(d, name)
            st = os.lstat(real)
            raw = _raw_xattrs(real)
            if _is_whiteout(st, raw, keys):
                continue
            if keys["redirect"] in raw or keys["metacopy"] in raw:
                raise ValueError("the oracle does not stack layers holding redirects or metacopy files: %s" % real)
            path = _join(rel, name)
            tree[path] = Node(real, st, _visible(raw))
            if not stat.S_ISDIR(st.st_mode):
                continue
            merged = [real]
            if raw.get(keys["opaque"]) != b"y":
                for below in dirs[depth + 1:]:
                    other = os.path.join(below, name)
                    try:
                        ost = os.lstat(other)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    oraw = _raw_xattrs(other)
                    if _is_whiteout(ost, oraw, keys) or not stat.S_ISDIR(ost.st_mode):
                        break
                    merged.append(other)
                    if oraw.get(keys["opaque"]) == b"y":
                        break
            _stack_dir(path, merged, tree, keys)


def diff_trees(before, after):
    """Return [{path, diff, changed}] sorted by path: what differs going from tree `before` to `after`.

    diff is added, deleted or modified; changed lists the differing
    attributes in CHANGED order ([] for added and deleted, ["type"] alone
    when the file type changed). Timestamps are not compared.
    """
    out = []
    for path in sorted(set(before) | set(after), key=lambda p: p + "/"):
        b, a = before.get(path), after.get(path)
        if b is None:
            out.append({"path": path, "diff": "added", "changed": []})
        elif a is None:
            out.append({"path": path, "diff": "deleted", "changed": []})
        else:
            changed = _compare(b, a)
            if changed:
                out.append({"path": path, "diff": "modified", "changed": changed})
    return out


def by_path(diffs):
    """Return {path: (diff, changed tuple)} of a diff_trees() list (the form overlay_changes.as_diff gives)."""
    return {d["path"]: (d["diff"], tuple(d["changed"])) for d in diffs}


def _compare(b, a):
    """Return the attributes that differ between Nodes `b` and `a`, in CHANGED order."""
    bs, as_ = b.st, a.st
    if stat.S_IFMT(bs.st_mode) != stat.S_IFMT(as_.st_mode):
        return ["type"]
    found = set()
    if stat.S_IMODE(bs.st_mode) != stat.S_IMODE(as_.st_mode):
        found.add("mode")
    if bs.st_uid != as_.st_uid:
        found.add("uid")
    if bs.st_gid != as_.st_gid:
        found.add("gid")
    if stat.S_ISREG(bs.st_mode):
        if bs.st_size != as_.st_size:
            found.update(("size", "content"))
        elif not _same_bytes(b.real, a.real):
            found.add("content")
    if b.link != a.link:
        found.add("target")
    if (stat.S_ISCHR(bs.st_mode) or stat.S_ISBLK(bs.st_mode)) and bs.st_rdev != as_.st_rdev:
        found.add("rdev")
    if b.xattrs != a.xattrs:
        found.add("xattrs")
    return [w for w in CHANGED if w in found]


def _same_bytes(x, y):
    with open(x, "rb") as fx, open(y, "rb") as fy:
        while True:
            bx, by = fx.read(_CHUNK), fy.read(_CHUNK)
            if bx != by:
                return False
            if not bx:
                return True


def _is_whiteout(st, raw, keys):
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev == 0
    return stat.S_ISREG(st.st_mode) and st.st_size == 0 and keys["whiteout"] in raw


def _raw_xattrs(path):
    try:
        return {n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)}
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):  # a filesystem without xattrs
            return {}
        raise


def _xattrs(path):
    return _visible(_raw_xattrs(path))


def _visible(raw):
    return {k: v for k, v in raw.items() if not k.startswith(_OVERLAY_XATTRS)}


def _join(rel, name):
    return "/" + name if rel == "/" else rel + "/" + name
