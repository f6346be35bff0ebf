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
diff kinds, the form the full-walk oracle (tests/oracles/overlay_oracle.py) produces.

Only the upper tree and the lower paths it names are visited: where the
merged and the lower view of a directory draw on the same lower directories
(no opaque, no redirect on the way), everything not in the upper is the same
on both sides and is never listed. When lookups show a cold cache, worker
threads make the walk's lookups ahead of it (overlay_prefetch.Prefetch) so disk
reads overlap; the walk itself stays one thread. See docs/overlay.md for the
rules and what the kernel does (checked on Linux 6.18).
"""

import errno
import os

from ..errors import LivemountError, SysError
from ..model import OVERLAY
from ..mountinfo import parse_mountinfo
from ..overlay import walk as overlay_walk
from ..overlay.stack import Layers
from ..paths import clean, is_at_or_under, sort_key

KINDS = ("added", "renamed", "deleted", "modified", "metacopy", "opaque")
CHANGED = overlay_walk.CHANGED  # the order of an item's `changed`
_DIFF = {"added": "added", "renamed": "added", "deleted": "deleted", "modified": "modified",
         "metacopy": "modified"}


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
    try:
        items = overlay_walk.walk(upper, Layers(lowers, data, xattr_prefix))
    except OSError as exc:
        raise LivemountError("cannot list overlay changes of %s: %s: %s"
                             % (upper, exc.filename or upper, exc.strerror or exc)) from exc
    items.sort(key=lambda it: sort_key(it["path"]))
    return items


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


def select(items, wanted):
    """Return the items at or below one of the overlay paths `wanted` (every item when `wanted` is empty)."""
    if not wanted:
        return list(items)
    return [it for it in items if any(is_at_or_under(it["path"], w) for w in wanted)]


def diff_text(target, items, discarded=False):
    """Return {before, after, before_header, after_header}: `items` as the lower layers and the overlay show them.

    One line per changed path (directories end in `/`, a folded directory
    says how many items it holds; the overlay side adds the detail). With
    `discarded` the sides swap: what an overlay reset takes away is the
    overlay's view before and the lower layers' after. The shape is
    Ansible's --diff.
    """
    by_path = as_diff(items)
    lower, merged = [], []
    for it in items:
        if it["path"] not in by_path:
            continue  # an opaque directory with nothing changed on itself is no difference
        kind = by_path[it["path"]][0]
        line = it["path"] + ("/" if it["type"] == "dir" and it["path"] != "/" else "")
        if it.get("count"):
            line += " (and %d inside)" % it["count"]
        if kind in ("deleted", "modified"):
            lower.append(line + "\n")
        if kind in ("added", "modified"):
            merged.append(line + ("  " + it["detail"] if it["detail"] else "") + "\n")
    sides = [("lower layers of %s" % target, "".join(lower)), ("overlay %s" % target, "".join(merged))]
    (before_header, before), (after_header, after) = sides[::-1] if discarded else sides
    return {"before_header": before_header, "after_header": after_header, "before": before, "after": after}


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
    return "user." if any(key == "userxattr" for key, _value in live.fs_options) else "trusted."


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


def for_mount(live, freeze=False, system=None):
    """Return the changes (see changes()) the mounted overlay `live` (a LiveMount) made.

    With `freeze` a writable mount is made read-only for the duration of
    the walk (mount_setattr through `system`, a Sys) and then given its flags
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
    system = _real_sys(system)
    _freeze(system, live)
    try:
        return changes(live.upper, live.lower, xattr_prefix(live), data=live.data)
    finally:
        _thaw(system, live)


def report(target, freeze=False, system=None):
    """Return the JSON-ready report of what the overlay mounted at `target` changed.

    Keys: target, upper, lower, data, xattr_prefix, frozen, changes (the
    item list), counts ({kind: n}) and warnings (why the listing may be
    inexact).
    """
    system = _real_sys(system)
    table = parse_mountinfo(system.read_mountinfo())
    live = find_overlay(table, system.realpath(target))
    items = for_mount(live, freeze=freeze, system=system)
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


def _real_sys(system):
    """Return `system`, or the real kernel's Sys when None (imported late: ctypes only when needed)."""
    if system is not None:
        return system
    from ..kernel.real import real_system

    return real_system()


def _read_only(live):
    """Return True if nothing can write through `live`: the mount or its superblock is read-only."""
    return "ro" in live.flags or "ro" in live.raw_super_options.split(",")


def _freeze(system, live):
    """Return None after making the mount `live` read-only (refusing if another mount covers it)."""
    target = live.mount_point
    top = parse_mountinfo(system.read_mountinfo()).top(target)
    if top is None or top.mount_id != live.mount_id:
        # mount_setattr acts on whatever is on top at the path.
        raise LivemountError("cannot freeze overlay %s: another mount covers it" % target)
    try:
        system.setattr(target, live.flags | {"ro"}, None, top.ident)
    except SysError as exc:
        if exc.errno == errno.EBUSY:
            # mount_setattr(2): EBUSY while a file on the mount is open for writing.
            raise SysError("cannot freeze overlay %s: a process holds a file open for writing on it (EBUSY);"
                           " close it, or list without --freeze" % target, errno=exc.errno, call=exc.call) from exc
        raise


def _thaw(system, live):
    """Return None after giving the frozen mount `live` its own flags back."""
    try:
        system.setattr(live.mount_point, live.flags, None, live.ident)
    except SysError as exc:
        raise SysError("cannot unfreeze overlay %s: %s; it is left read-only (`mount -o remount,bind,rw %s`"
                       " restores it)" % (live.mount_point, exc, live.mount_point), errno=exc.errno,
                       call=exc.call) from exc
