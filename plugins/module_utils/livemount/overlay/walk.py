"""The walk behind overlay.changes.changes(): only the upper tree, and the lower paths it names.

Where the merged and the lower view of a directory draw on the same lower
directories (no opaque, no redirect on the way), everything not in the
upper is the same on both sides and is never listed. When lookups show a
cold cache, worker threads make the walk's lookups ahead of it
(overlay_prefetch.Prefetch) so disk reads overlap; the walk itself stays one
thread. Items are the dicts overlay_changes.py documents; docs/overlay.md has
the rules and what the kernel does (checked on Linux 6.18).
"""

import os
import stat
import time

from ..overlay.prefetch import Prefetch
from ..overlay.stack import UPPER, Obj, type_name
from ..paths import join

CHANGED = ("type", "mode", "uid", "gid", "size", "content", "target", "rdev", "xattrs")
_CHUNK = 1 << 16
_NOTHING = (None, ())
# A lookup answered from the dentry cache takes a few microseconds; one that
# reads the disk 70 us or more (a directory block on the benchmark's virtio
# disk; an inode table block, with ext4's readahead, 250 us). After several
# such lookups the cache is taken to be cold and lookups ahead of the walk
# start (Prefetch): with a warm cache they would only compete with the walk
# for the interpreter lock (twice the time, measured). Several, not one: on a
# loaded machine a cached lookup is now and then preempted and looks slow.
_SLOW = 100e-6
_SLOW_LOOKUPS = 8


def walk(upper, layers):
    """Return the change items (unsorted) of upper directory `upper` over overlay_stack.Layers `layers`.

    Raises OSError when a directory cannot be read.
    """
    w = _Walk(layers, Prefetch(upper, layers))
    try:
        w.root(upper)
    finally:
        w.prefetch.close()
    return w.items


class _Walk:
    """One walk of an upper directory against a lower stack, collecting items."""

    def __init__(self, layers, prefetch):
        self.layers = layers
        self.prefetch = prefetch
        self.slow = 0
        self.items = []

    def root(self, upper):
        """Return None after walking everything below the upper root `upper`."""
        top = self.layers.root_stack()
        m = Obj(upper, os.lstat(upper), UPPER)
        lv = self.layers.find_root()
        if lv is not None:
            changed = self._changed(m, lv)
            if changed:
                self._add("/", "modified", m, _describe(changed, m, lv), changed)
        self._dir("/", upper, top, top)

    # ---- directories -----------------------------------------------------------
    def _dir(self, rel, udir, mstack, lstack):
        """Visit merged directory `rel`: upper dir `udir` (or None) over lower stack `mstack`.

        `lstack` is the stack the lower view has at `rel`. When both stacks
        are equal, a name missing from the upper resolves the same on both
        sides, so only upper entries are looked at (and each looked up
        below); otherwise both stacks are listed in full.
        """
        same = mstack == lstack
        if udir is None and same:
            return
        entries = {}
        if udir is not None:
            with os.scandir(udir) as it:
                for e in it:
                    entries[e.name] = e
        if same:
            find = self.layers.find
            for name, ue in entries.items():
                t0 = time.perf_counter()
                lres = find(lstack, name)
                if time.perf_counter() - t0 > _SLOW:
                    self.slow += 1
                    if self.slow == _SLOW_LOOKUPS:
                        self.prefetch.start()
                self._entry(rel, name, ue, mstack, lstack, None, lres)
            return
        mlist = self.layers.listing(mstack)
        llist = self.layers.listing(lstack)
        for name in set(entries).union(mlist, llist):
            self._entry(rel, name, entries.get(name), mstack, lstack, mlist.get(name, _NOTHING),
                        llist.get(name, _NOTHING))

    def _entry(self, rel, name, ue, mstack, lstack, mres, lres):
        """Compare one name of directory `rel`, merged against lower view.

        `ue` is the upper entry (or None); `lres` is (object, child stack)
        of the lower view; `mres` the same for the merged side's lower
        stack, None when it equals `lres` (same stacks).
        """
        path = join(rel, name)
        layers = self.layers
        lv, lchild = lres
        redirect = None
        if ue is None:
            m, mchild = mres
        else:
            m = Obj(ue.path, None, UPPER, entry=ue)
            mchild = ()
            if layers.is_whiteout(m):
                m = None
            elif m.is_dir:
                redirect = layers.redirect_of(m)
                if redirect is not None:
                    mchild = layers.follow(mstack, name, redirect, UPPER)[1]
                elif not layers.is_opaque(m):
                    mchild = (mres or lres)[1]
            elif m.is_reg and lv is not None:
                m.cont = (mstack, 0, name)  # where a metacopy file's data is looked up
            elif m.is_reg and m.stat.st_size and not m.stat.st_blocks and layers.is_metacopy(m):
                # Only a metacopy file (no data blocks of its own) can carry
                # the redirect of a rename; other new files cost no xattr read.
                redirect = layers.redirect_of(m)
        if m is None:
            if lv is not None:
                self._add(path, "deleted", lv, "", [])
                self._gone(path, lchild)
            return
        udir = ue.path if ue is not None and m.is_dir else None
        if lv is None:
            if redirect is not None:
                self._add(path, "renamed", m, "from %s" % _origin(rel, redirect), [])
            else:
                self._add(path, "added", m, "", [])
            if m.is_dir:
                self._dir(path, udir, mchild, ())
            return
        changed = self._changed(m, lv)
        kind = "modified"
        if ue is not None and m.is_dir and lv.is_dir and (redirect is not None or layers.is_opaque(m)):
            kind = "opaque"
        elif ue is not None and layers.is_metacopy(m):
            kind = "metacopy"
        if changed or kind == "opaque":
            detail = _describe(changed, m, lv)
            if kind == "opaque":
                how = "hides the lower directory"
                if redirect is not None:
                    how = "replaces the lower directory with %s (renamed)" % _origin(rel, redirect)
                detail = how + (", " + detail if detail else "")
            elif kind == "metacopy":
                detail = "metadata only: " + detail
            self._add(path, kind, m, detail, changed)
        if m.is_dir:
            self._dir(path, udir, mchild, lchild if lv.is_dir else ())
        elif lv.is_dir:
            self._gone(path, lchild)

    def _gone(self, rel, lstack):
        """Report everything the lower view has below `rel` as deleted."""
        for name, (obj, child) in self.layers.listing(lstack).items():
            path = join(rel, name)
            self._add(path, "deleted", obj, "", [])
            if obj.is_dir:
                self._gone(path, child)

    def _add(self, path, kind, obj, detail, changed):
        self.items.append({"path": path, "kind": kind, "type": obj.type, "detail": detail,
                           "changed": changed})

    # ---- comparing one path ------------------------------------------------------
    def _changed(self, m, lv):
        """Return what differs between merged object `m` and lower-view object `lv`, in CHANGED order.

        Timestamps are never compared: copy-up keeps mtime, and a rewrite of
        the same bytes (new mtime) is not a change of what the file holds.
        """
        ms, ls = m.stat, lv.stat
        if stat.S_IFMT(ms.st_mode) != stat.S_IFMT(ls.st_mode):
            return ["type"]
        out = []
        if stat.S_IMODE(ms.st_mode) != stat.S_IMODE(ls.st_mode):
            out.append("mode")
        if ms.st_uid != ls.st_uid:
            out.append("uid")
        if ms.st_gid != ls.st_gid:
            out.append("gid")
        if m.is_reg:
            if ms.st_size != ls.st_size:
                out += ["size", "content"]
            elif not self._same_content(m, lv):
                out.append("content")
        elif stat.S_ISLNK(ms.st_mode):
            if os.readlink(m.path) != os.readlink(lv.path):
                out.append("target")
        elif stat.S_ISCHR(ms.st_mode) or stat.S_ISBLK(ms.st_mode):
            if ms.st_rdev != ls.st_rdev:
                out.append("rdev")
        if self.layers.user_xattrs(m) != self.layers.user_xattrs(lv):
            out.append("xattrs")
        return out

    def _same_content(self, m, lv):
        """Return True if the data of `m` and `lv` (same size) is byte for byte equal; stops at the first difference."""
        a, b = self.layers.data_path(m), self.layers.data_path(lv)
        if a == b:
            return True  # a metacopy upper over its own origin: one file
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(_CHUNK), fb.read(_CHUNK)
                if x != y:
                    return False
                if not x:
                    return True


def _origin(rel, redirect):
    """Return the overlay path a redirect names: absolute as is, relative to the parent `rel`."""
    if redirect.startswith("/"):
        return "/" + redirect.strip("/")
    return join(rel, redirect)


def _describe(changed, m, lv):
    """Return the human text of `changed`: `mode 0644 -> 0600, content`."""
    ms, ls = m.stat, lv.stat
    words = []
    for what in changed:
        if what == "type":
            words.append("%s -> %s" % (type_name(ls.st_mode), type_name(ms.st_mode)))
        elif what == "mode":
            words.append("mode %04o -> %04o" % (stat.S_IMODE(ls.st_mode), stat.S_IMODE(ms.st_mode)))
        elif what == "uid":
            words.append("uid %d -> %d" % (ls.st_uid, ms.st_uid))
        elif what == "gid":
            words.append("gid %d -> %d" % (ls.st_gid, ms.st_gid))
        elif what == "size":
            words.append("size %d -> %d" % (ls.st_size, ms.st_size))
        elif what == "content" and "size" in changed:
            continue
        else:
            words.append(what)
    return ", ".join(words)
