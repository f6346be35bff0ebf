"""What an overlay changed relative to its lower layers, found by walking only the upper directory.

The answer is a path-wise diff of the merged tree against the "lower view"
(what the lower layers alone would show, stacked as overlayfs stacks them):
exactly the paths that differ, one item each, sorted so a directory comes
just before its contents. Structural kinds refine the plain diff kinds:

    added     in the merged tree, not below          (diff: added)
    renamed   added, carrying a redirect: a renamed directory or metacopy file (diff: added)
    deleted   below, gone from the merged tree       (diff: deleted)
    modified  in both, type/metadata/content differ  (diff: modified)
    metacopy  modified, but only metadata was copied up (diff: modified)
    opaque    a directory that hides the lower one at its path; listed even
              when its own attributes are unchanged, because it explains
              the deletions below it       (diff: modified if `changed`, else none)

Each item is a plain dict: {path, kind, type, detail, changed}; `changed`
names what differs, in CHANGED order. `as_diff` projects items onto plain
diff kinds, the form the full-walk oracle (overlay_oracle) produces.

Only the upper tree and the lower paths it names are visited: where the
merged and the lower view of a directory draw on the same lower directories
(no opaque, no redirect on the way), everything not in the upper is the same
on both sides and is never listed. When lookups show a cold cache, worker
threads make the walk's lookups ahead of it (overlay_stack.Prefetch) so disk
reads overlap; the walk itself stays one thread. See docs/overlay.md for the
rules and what the kernel does (checked on Linux 6.18).
"""

import errno
import os
import stat
import time

from .errors import LivemountError, SysError
from .model import OVERLAY
from .mountinfo import parse_mountinfo
from .overlay_stack import UPPER, Layers, Obj, Prefetch, type_name
from .paths import clean, join, sort_key

KINDS = ("added", "renamed", "deleted", "modified", "metacopy", "opaque")
CHANGED = ("type", "mode", "uid", "gid", "size", "content", "target", "rdev", "xattrs")
_DIFF = {"added": "added", "renamed": "added", "deleted": "deleted", "modified": "modified",
         "metacopy": "modified"}
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


def changes(upper, lowers, xattr_prefix="trusted.", data=()):
    """Return the list of changes (dicts, sorted by path) that upper dir `upper` makes over `lowers`.

    `lowers` are the lower layer directories, top-most first; `data` the
    data-only layers (they only supply content to metacopy files);
    `xattr_prefix` is "trusted." or "user." (mount option userxattr).
    """
    if xattr_prefix == "trusted." and os.geteuid() != 0:
        # Without CAP_SYS_ADMIN trusted.* xattrs read as absent, silently:
        # opaque directories and redirects would be missed (xattr(7)).
        raise LivemountError("cannot read overlay xattrs under %s: trusted.overlay.* needs root (CAP_SYS_ADMIN)"
                             % upper)
    layers = Layers(lowers, data, xattr_prefix)
    walk = _Walk(layers, Prefetch(upper, layers))
    try:
        walk.root(upper)
    except OSError as exc:
        raise LivemountError("cannot list overlay changes of %s: %s: %s"
                             % (upper, exc.filename or upper, exc.strerror or exc)) from exc
    finally:
        walk.prefetch.close()
    walk.items.sort(key=lambda it: sort_key(it["path"]))
    return walk.items


def as_diff(items):
    """Return {path: (diff kind, changed tuple)}: the items as the full-walk oracle states them.

    An `opaque` item with nothing changed on the directory itself is no
    difference of the path (it only explains the deletions below it).
    """
    out = {}
    for it in items:
        kind = _DIFF.get(it["kind"])
        if it["kind"] == "opaque":
            kind = "modified" if it["changed"] else None
        if kind is not None:
            out[it["path"]] = (kind, tuple(it["changed"]))
    return out


def collapse(items):
    """Return `items` with the contents of added, renamed and deleted directories folded into them.

    A folded item gains `count`: how many items below it were folded (same
    diff kind, all the way down). Modified, metacopy and opaque items are
    never folded, nor is anything below them that differs in another way.
    """
    out = []
    stack = []  # (path, diff kind, item) of open folding directories
    for it in items:
        path = it["path"]
        while stack and not path.startswith(stack[-1][0] + "/"):  # the root never folds
            stack.pop()
        kind = _DIFF.get(it["kind"])
        if stack and kind == stack[-1][1]:
            stack[-1][2]["count"] += 1
            continue
        it = dict(it)
        if it["type"] == "dir" and it["kind"] in ("added", "renamed", "deleted"):
            it["count"] = 0
            stack.append((path, kind, it))
        out.append(it)
    return out


def counts(items):
    """Return {kind: number of items} for the kinds present."""
    out = {}
    for it in items:
        out[it["kind"]] = out.get(it["kind"], 0) + 1
    return out


def xattr_prefix(live):
    """Return the xattr namespace overlay `live` keeps its metadata in: "user." with userxattr, else "trusted."."""
    return "user." if any(key == "userxattr" for key, _ in live.fs_options) else "trusted."


def find_overlay(table, target):
    """Return the LiveMount of the overlay on top at mount point `target` in LiveTable `table`."""
    path = clean(target)
    live = table.top(path)
    if live is None:
        raise LivemountError("cannot list overlay changes of %s: it is not a mount point" % path)
    if live.fstype != OVERLAY:
        raise LivemountError("cannot list overlay changes of %s: the mount there is %s, not overlay"
                             % (path, live.fstype))
    return live


def for_mount(live, freeze=False, sys=None):
    """Return the changes (see changes()) the mounted overlay `live` (a LiveMount) made.

    With `freeze` a writable mount is made read-only for the duration of
    the walk (mount_setattr through `sys`, a Sys) and then given its flags
    back, so no writer through it changes the upper under the walk. A
    process holding a file open for writing makes the freeze fail (EBUSY).
    """
    if live.fstype != OVERLAY:
        raise LivemountError("cannot list overlay changes of %s: it is %s, not overlay"
                             % (live.mount_point, live.fstype))
    if live.upper is None:
        return []  # no upper layer: a read-only overlay changes nothing
    for path in (live.upper,) + live.lower + live.data:
        if not path.startswith("/"):
            raise LivemountError("cannot list overlay changes of %s: layer path %r is relative (mounted from"
                                 " another working directory)" % (live.mount_point, path))
    if not freeze or _read_only(live):
        return changes(live.upper, live.lower, xattr_prefix(live), data=live.data)
    sys = _real_sys(sys)
    _freeze(sys, live)
    try:
        return changes(live.upper, live.lower, xattr_prefix(live), data=live.data)
    finally:
        _thaw(sys, live)


def report(target, freeze=False, sys=None):
    """Return the JSON-ready report of what the overlay mounted at `target` changed.

    Keys: target, upper, lower, data, xattr_prefix, frozen, changes (the
    item list), counts ({kind: n}) and warnings (why the listing may be
    inexact).
    """
    sys = _real_sys(sys)
    table = parse_mountinfo(sys.read_mountinfo())
    live = find_overlay(table, sys.realpath(target))
    items = for_mount(live, freeze=freeze, sys=sys)
    warnings = []
    if live.upper is not None and "ro" not in live.raw_super_options.split(","):
        if "ro" not in live.flags and not freeze:
            warnings.append("the overlay is writable and was not frozen: a concurrent writer can make this"
                            " listing inexact (use --freeze)")
        others = sorted(m.mount_point for m in table.mounts
                        if m.dev == live.dev and m.mount_id != live.mount_id and "ro" not in m.flags)
        if others:
            warnings.append("other mounts of the same overlay are writable (not frozen): %s" % ", ".join(others))
    frozen = bool(freeze and live.upper is not None and not _read_only(live))
    return {"target": live.mount_point, "upper": live.upper, "lower": list(live.lower), "data": list(live.data),
            "xattr_prefix": xattr_prefix(live), "frozen": frozen, "changes": items,
            "counts": counts(items), "warnings": warnings}


def _real_sys(sys):
    """Return `sys`, or the real kernel's Sys when None (imported late: ctypes only when needed)."""
    if sys is not None:
        return sys
    from .sys_linux import LinuxSys

    return LinuxSys()


def _read_only(live):
    """Return True if nothing can write through `live`: the mount or its superblock is read-only."""
    return "ro" in live.flags or "ro" in live.raw_super_options.split(",")


def _freeze(sys, live):
    """Return None after making the mount `live` read-only (refusing if another mount covers it)."""
    target = live.mount_point
    top = parse_mountinfo(sys.read_mountinfo()).top(target)
    if top is None or top.mount_id != live.mount_id:
        # mount_setattr acts on whatever is on top at the path.
        raise LivemountError("cannot freeze overlay %s: another mount covers it" % target)
    try:
        sys.setattr(target, live.flags | {"ro"})
    except SysError as exc:
        if exc.errno == errno.EBUSY:
            # mount_setattr(2): EBUSY while a file on the mount is open for writing.
            raise SysError("cannot freeze overlay %s: a process holds a file open for writing on it (EBUSY);"
                           " close it, or list without --freeze" % target, errno=exc.errno, call=exc.call) from exc
        raise


def _thaw(sys, live):
    """Return None after giving the frozen mount `live` its own flags back."""
    try:
        sys.setattr(live.mount_point, live.flags)
    except SysError as exc:
        raise SysError("cannot unfreeze overlay %s: %s; it is left read-only (`mount -o remount,bind,rw %s`"
                       " restores it)" % (live.mount_point, exc, live.mount_point), errno=exc.errno,
                       call=exc.call) from exc


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

