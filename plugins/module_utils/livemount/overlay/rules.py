"""Overlay rules: the layouts overlayfs refuses or mishandles, and the directories it left behind.

Three parts, all documented with their messages in docs/overlay-rules.md:
* layout_problems / one_layer_problem / shared_problems (pure, no
  filesystem): what profile.py refuses for one entry (layers inside each
  other, a layer at the target, one layer without upper) and between entries
  (two overlays on one upper or work);
* observe(system, entries, owned, table): reads, through `system` only, what the
  directories of the desired overlays hold (stored as World.overlay);
* problems(change, world, policy): pure, for one mount or replace of an
  overlay: [(field, message)], each turned into a conflict by plan.py.

Kernel facts (Documentation/filesystems/overlayfs.rst, checked on 6.18):
`volatile` leaves WORK/work/incompat/volatile behind and every later mount
on it fails with EINVAL; with index=on the upper root keeps the top lower
root's file handle (struct ovl_fb in trusted.overlay.origin) and WORK/index
the upper's (trusted.overlay.upper): either one mismatching is ESTALE.
"""

from typing import Dict, FrozenSet, Optional, Tuple

from .. import paths
from ..errors import SysError
from ..model import OVERLAY, Action
from ..options import overlay_defaults_map
from ..records import field, record

ORIGIN = "trusted.overlay.origin"  # on the upper root: the top lower root's handle (fs/overlayfs/super.c)
INDEX_UPPER = "trusted.overlay.upper"  # on WORK/index: the upper root's handle
VOLATILE = "work/incompat/volatile"  # under WORK: left by a volatile mount
OWN_NAMES = frozenset({"work", "index"})  # all overlayfs itself makes in a work directory
_SHOWN = 5  # foreign names listed in a message

_LOWER_IS_TARGET = (
    "is the target itself: the layer would show the target's old content only until the overlay is mounted over"
    " it, and from then on that path is the overlay (a later replace would stack the overlay on itself); bind the"
    " directory elsewhere first (a bind entry) and name that as the layer")
_WRITABLE_IN_LOWER = {
    "upper": "every write through the overlay would change that lower layer while it is mounted",
    "work": "overlayfs's scratch files would appear in that lower layer while it is mounted",
}


# ---- layout: no filesystem needed (profile.py) -------------------------------------------

def _relation(a, b):
    """Return how path `a` relates to path `b`: "same", "inside", "contains" or None."""
    if a == b:
        return "same"
    if paths.is_under(a, b):
        return "inside"
    if paths.is_under(b, a):
        return "contains"
    return None


def _fields(lower, data, upper, work):
    """Return [(field, where, path)] of an overlay's layers, read-only ones first; unusable paths left out."""
    out = [("lower", "lower[%d]" % k, p) for k, p in enumerate(lower)]
    out += [("data", "data[%d]" % k, p) for k, p in enumerate(data)]
    out += [(f, f, p) for f, p in (("upper", upper), ("work", work))]
    return [x for x in out if x[2] is not None]


def layout_problems(target, lower=(), data=(), upper=None, work=None):
    """Return [(field, where, message)]: how the layers of one overlay entry overlap each other or its target.

    Overlapping layers are refused by overlayfs itself (ELOOP, "conflicting
    lowerdir path" / "overlapping lowerdir path", since 5.x), except upper or
    work inside a lower layer, which it mounts and which then changes a
    mounted lower layer (undefined behaviour). upper versus work is
    profile.py's own check.
    """
    out = []
    layers = _fields(lower, data, upper, work)
    for field, where, path in layers:
        rel = _relation(path, target)
        writable = field in ("upper", "work")
        if rel == "same":
            out.append((field, where, _LOWER_IS_TARGET if not writable else
                        "is the target itself: once the overlay is mounted there the path shows the overlay,"
                        " not the directory; %s must lie outside the merged tree" % field))
        elif rel == "inside":
            out.append((field, where, "%s lies inside the target (%s): once the overlay is mounted there the path"
                        " shows the overlay, not the directory" % (path, target)))
        elif rel == "contains" and writable:
            out.append((field, where, "%s contains the target (%s): the overlay would be mounted inside its own"
                        " %s directory" % (path, target, "writable" if field == "upper" else "work")))
    for j, (field, where, path) in enumerate(layers):
        for _other_name, other_where, other in layers[:j]:
            rel = _relation(path, other)
            if rel is None or {field, other_where} == {"upper", "work"}:
                continue
            if field in ("upper", "work") and rel == "inside" and other_where not in ("upper", "work"):
                out.append((field, where, "%s lies inside %s (%s): overlayfs mounts it, but %s (undefined behaviour,"
                            " Documentation/filesystems/overlayfs.rst)" % (path, other_where, other,
                                                                           _WRITABLE_IN_LOWER[field])))
            elif rel == "same":
                out.append((field, where, "is the same directory as %s: overlayfs refuses a layer given twice"
                            " (\"conflicting lowerdir path\", ELOOP)" % other_where))
            else:
                out.append((field, where, "%s %s %s (%s): overlayfs refuses overlapping layers (\"overlapping"
                            " lowerdir path\", ELOOP)" % (path, "lies inside" if rel == "inside" else "contains",
                                                          other_where, other)))
    return out


def one_layer_problem(lower=(), data=(), upper=None):
    """Return [(field, where, message)]: a read-only overlay (no upper) of one layer, which overlayfs refuses.

    Lower and data layers count together (ovl_fs_params_verify, checked on
    6.18: lowerdir=/l::/d mounts, lowerdir=/l alone is EINVAL and only
    dmesg says why).
    """
    if upper is not None or len(lower) + len(data) != 1:
        return []
    return [("lower", "lower", "one layer and no upper: overlayfs refuses a read-only overlay of a single layer"
             " (EINVAL, \"at least 2 lowerdir are needed while upperdir nonexistent\"); bind the directory"
             " read-only instead (a bind entry with ro), or give the overlay an upper and work")]


def shared_problems(entries):
    """Return [(index, field, message)]: overlay entries whose upper or work overlaps another one's upper or work.

    Two overlays on one upper (or work) directory are undefined behaviour
    (overlayfs.rst); with index=off the kernel only warns ("upperdir is
    in-use ... undefined behavior"), so livemount refuses it.
    """
    # Earlier uppers and works by path (`at`) and by each of their ancestors (`above`), each slot holding the
    # first one in profile order: an overlapping earlier path is found by lookups, not by comparing every pair
    # (quadratic: 20 s for 10,000 entries).
    at, above = {}, {}
    out = []
    for seq, e in enumerate(entries):
        if e.type != OVERLAY:
            continue
        for field in ("upper", "work"):
            path = getattr(e, field)
            if path is None:
                continue
            found = [(at[path], "same")] if path in at else []
            found += [(at[a], "inside") for a in paths.ancestors(path) if a in at]
            found += [(above[path], "contains")] if path in above else []
            if found:
                (_seq, _is_work, other, other_field, _other_path), rel = min(found, key=lambda x: x[0][:2])
                out.append((e.index, field, "%s %s the %s of entry %s (%s): two overlays on one upper or work"
                            " directory are undefined behaviour; give each overlay its own"
                            % (path, _REL_WORDS[rel], other_field, other.index, other.target)))
        for f in ("upper", "work"):
            path = getattr(e, f)
            if path:
                slot = (seq, f == "work", e, f, path)
                at.setdefault(path, slot)
                for a in paths.ancestors(path):
                    above.setdefault(a, slot)
    return out


_REL_WORDS = {"same": "is", "inside": "lies inside", "contains": "contains"}


# ---- observe: what the directories hold (read-only, through Sys) -------------------------------

@record
class Dir:
    """What observe saw of one overlay directory, named as the entry names it.

    `kind` is lstat's kind of its resolved path, or "unknown" when this plan
    mounts something over it first (or it could not be read). `mount_id` is
    the visible mount holding it; `names` what a work directory holds;
    `volatile` whether WORK/work/incompat/volatile exists; `origin` the upper
    root's trusted.overlay.origin; `index_upper` WORK/index's
    trusted.overlay.upper; `handle` (type, bytes, fs uuid or None) of the
    directory itself (name_to_handle_at(2)), for the top lower layer and the upper.
    """

    kind: str
    mount_id: Optional[int] = None
    dev: Optional[Tuple[int, int]] = None
    names: Tuple[str, ...] = ()
    volatile: bool = False
    origin: Optional[bytes] = None
    index_upper: Optional[bytes] = None
    handle: Optional[tuple] = None
    below: Optional[str] = None  # missing in the mount this plan puts up first at this target (_first_content)


UNKNOWN = Dir("unknown")


@record
class Observed:
    """World.overlay: `dirs` by path; `leaving` the owned overlay targets the profile no longer has."""

    dirs: Dict[str, Dir] = field(default_factory=dict)
    leaving: FrozenSet[str] = frozenset()

    def dir(self, path):
        """Return the Dir observed at `path` (UNKNOWN when it was not looked at)."""
        return self.dirs.get(path, UNKNOWN)


def observe(system, entries, owned, table):
    """Return the Observed directories of every overlay entry of `entries` (World.overlay)."""
    roles = {}
    for e in entries:
        if e.type != OVERLAY:
            continue
        for k, p in enumerate(e.lower + e.data):
            roles.setdefault(p, set()).add("top" if k == 0 else "layer")
        for f in ("upper", "work"):
            if getattr(e, f):
                roles.setdefault(getattr(e, f), set()).add(f)
    # A path where this plan mounts something first shows other content then: not judged now, unless
    # that content is known to lack it (_first_content).
    first = {e.target: e for e in entries if e.is_mount and table.top(e.target) is None}
    made = None  # every target and its ancestors: paths the plan makes
    dirs = {}
    for path in sorted(roles):
        if paths.under_any(path, first):  # a set and the path's ancestors: comparing with every target was n^2
            if made is None:
                made = paths.with_ancestors(e.target for e in entries if e.is_mount)
            dirs[path] = _first_content(system, path, first, made)
            continue
        try:
            dirs[path] = _observe_dir(system, path, roles[path], table)
        except SysError:
            dirs[path] = UNKNOWN  # unreadable: the kernel will say what it thinks at mount time
    wanted = {e.target for e in entries}
    leaving = frozenset(o.entry.target for o in owned if o.entry.type == OVERLAY and o.entry.target not in wanted)
    return Observed(dirs=dirs, leaving=leaving)


def _first_content(system, path, first, made):
    """Return UNKNOWN, or Dir("missing") when `path` will not exist in the mount this plan puts above it first.

    Below a bind that is the source's content at the same place, below a
    new tmpfs nothing, below an overlay its upper's and layers' content
    (what World.projected predicts for mount points; here for a layer of
    another overlay, a layer that is another entry's target moved below a
    new mount). A path another entry mounts on, or lies above, is made by
    the plan: not judged. Anything else (another filesystem's content, a
    content root itself below a mount made first) is not judged either.
    """
    anc = [a for a in [path] + list(reversed(paths.ancestors(path))) if a in first]
    top = anc[0]
    if top == path or path in made:
        return UNKNOWN
    e, rel = first[top], paths.relative(path, top)
    if e.type == "tmpfs":
        return Dir("missing", below=top)
    roots = [e.source] if e.type == "bind" and e.source else (
        ([e.upper] if e.upper else []) + list(e.lower) if e.type == OVERLAY else [])
    if not roots or any(paths.under_any(r, first) for r in roots):
        return UNKNOWN
    try:
        for r in roots:
            if system.lstat(system.realpath(paths.join(r, rel))).kind != "missing":
                return UNKNOWN
    except SysError:
        return UNKNOWN
    return Dir("missing", below=top)


def _observe_dir(system, path, roles, table):
    """Return the Dir at `path` for its `roles` (top/layer/upper/work); SysError when unreadable."""
    real = system.realpath(path)  # the kernel follows symlinks in layer paths
    fact = system.lstat(real)
    if fact.kind != "dir":
        return Dir(fact.kind)
    holder = table.visible(real)
    out = dict(kind="dir", mount_id=holder.mount_id if holder else None, dev=fact.dev)
    if "work" in roles:
        names = tuple(system.listdir(real))
        out.update(names=names, volatile="work" in names and system.lstat(paths.join(real, VOLATILE)).kind != "missing",
                   index_upper=system.getxattr(paths.join(real, "index"), INDEX_UPPER) if "index" in names else None)
    if "upper" in roles:
        out["origin"] = system.getxattr(real, ORIGIN)
    if "top" in roles or "upper" in roles:
        out["handle"] = system.file_handle(real)
    return Dir(**out)


# ---- problems: one mount or replace, judged on what was observed (pure) -----------------------

def decode_fb(raw):
    """Return (type, uuid, fid) of an overlayfs file handle xattr, or None when it is not one we can read.

    struct ovl_fb (fs/overlayfs/overlayfs.h): u8 version (0), u8 magic
    (0xfb), u8 len (header + fid), u8 flags, u8 type, 16-byte uuid, fid.
    A zero-length value means "origin unknown"; a newer version too.
    """
    if not raw or len(raw) < 21 or raw[0] != 0 or raw[1] != 0xFB:
        return None
    length = raw[2]
    if length < 21 or length > len(raw):
        return None
    return raw[4], bytes(raw[5:21]), bytes(raw[21:length])


def handle_matches(raw, handle):
    """Return False when xattr `raw` (struct ovl_fb) names another directory than `handle`; None when unknown.

    overlayfs compares the whole struct (ovl_verify_fh). The type and fid
    are compared here; the uuid only when both sides have one (a null uuid
    is stored with uuid=off, and not every filesystem tells its uuid).
    """
    fb = decode_fb(raw)
    if fb is None or handle is None:
        return None
    htype, hbytes, huuid = handle
    ftype, fuuid, fid = fb
    if (ftype, fid) != (htype, hbytes):
        return False
    if huuid and any(fuuid) and huuid != fuuid:
        return False
    return True


def index_on(entry, world):
    """Return True when `entry` mounts with index=on: its own option, else the overlay module's default."""
    value = dict(entry.fs_options).get("index")
    if value is None:
        value = overlay_defaults_map(world.overlay_defaults or {}).get("index")
    return value == "on"


def problems(change, world, policy):
    """Return [(field, message)]: why `change` (mount/replace of an overlay) cannot be applied safely.

    `policy` is the replace's upper_policy (None, "fresh" or "carry"): with
    fresh, the upper and work shared with the old overlay are new empty
    directories by the time the new overlay mounts, so what they hold now
    does not count.
    """
    obs = world.overlay
    e = change.entry
    if obs is None or e is None or e.type != OVERLAY:
        return []
    # A mount with a live overlay is a child redone after its layers changed (overlay/plan.py): its old one.
    old = change.live if (change.action in (Action.REPLACE, Action.MOUNT) and change.live is not None
                          and change.live.fstype == OVERLAY) else None
    fresh = set()
    if policy == "fresh" and old is not None:
        fresh = {p for p in (old.upper, old.work) if p and p in (e.upper, e.work)}
    out = _missing(e, obs, fresh)
    if out or not (e.upper and e.work):
        return out
    out += _same_mount(e, obs)
    out += _in_use(e, world.table, obs, old)
    work = obs.dir(e.work)
    if e.work not in fresh and work.kind == "dir":
        ours = old is not None and old.work == e.work
        foreign = [n for n in work.names if n not in OWN_NAMES]
        if foreign and not ours:
            out.append(("work", "%s holds files overlayfs did not put there (%s): it must be empty or a work"
                        " directory an overlay used (holding only work and index)" % (e.work, _names(foreign))))
        out += _volatile(e, work, old, policy)
    if index_on(e, world):
        out += _index(e, obs, fresh, policy, change.action)
    return out


def _names(names):
    shown = ", ".join(names[:_SHOWN])
    return shown + (", and %d more" % (len(names) - _SHOWN) if len(names) > _SHOWN else "")


def _missing(e, obs, fresh):
    """Return problems for layer directories that are missing or not directories."""
    out = []
    for _name, where, path in _fields(e.lower, e.data, e.upper, e.work):
        kind = obs.dir(path).kind
        if path in fresh or kind in ("dir", "unknown"):
            continue
        if kind == "missing" and obs.dir(path).below:
            out.append((where, "%s will not exist: it lies in the mount this plan puts up first at %s, which has"
                               " nothing there (overlayfs needs an existing directory)" % (path, obs.dir(path).below)))
        elif kind == "missing":
            out.append((where, "%s does not exist: overlayfs needs an existing directory" % path))
        else:
            out.append((where, "%s is a %s, not a directory" % (path, {"file": "regular file"}.get(kind, kind))))
    return out


def _same_mount(e, obs):
    """Return a problem when upper and work are not on one mount (overlayfs: EINVAL)."""
    up, work = obs.dir(e.upper), obs.dir(e.work)
    if up.mount_id is None or work.mount_id is None or up.mount_id == work.mount_id:
        return []
    # ovl_get_workdir: the very same vfsmount, not only the same filesystem (two binds of one fs fail too).
    where = ("another filesystem (%s) than upper %s (%s)" % (_dev(work.dev), e.upper, _dev(up.dev))
             if up.dev != work.dev else "another mount of the same filesystem than upper %s" % e.upper)
    return [("work", "%s is on %s: overlayfs needs both under the same mount (EINVAL, \"workdir and upperdir must"
                     " reside under the same mount\")" % (e.work, where))]


def _dev(dev):
    return "dev %d:%d" % dev if dev else "dev unknown"


def _in_use(e, table, obs, old):
    """Return problems for an upper or work shared with an overlay live at another target."""
    out = []
    for m in table.mounts:
        if m.fstype != OVERLAY or m.mount_point == e.target or m.mount_point in obs.leaving:
            continue
        if old is not None and m.dev == old.dev:
            continue  # a bind of the very overlay this change replaces
        for field in ("upper", "work"):
            mine = getattr(e, field)
            hits = [(f, _relation(mine, p)) for f, p in (("upper", m.upper), ("work", m.work)) if p]
            hits = [(f, rel) for f, rel in hits if rel is not None]
            if hits:
                f, rel = hits[0]
                out.append((field, "%s %s the %s of the overlay live at %s: two overlays on one upper or work"
                            " directory are undefined behaviour (overlayfs.rst; with index=on the kernel refuses"
                            " with EBUSY); give this overlay its own" % (mine, _REL_WORDS[rel], f, m.mount_point)))
        if out:
            break
    return out


def _volatile(e, work, old, policy):
    """Return a problem when the mount would land on a work directory a volatile mount left behind."""
    carried = policy == "carry" and old is not None and old.work == e.work
    if carried and (work.volatile or "volatile" in dict(old.fs_options)):
        return [("work", "%s belongs to the overlay live at %s, which is mounted with volatile: once it is"
                         " unmounted overlayfs refuses to mount that upper and work again (EINVAL, %s is left"
                         " behind), so upper_policy carry cannot work; use upper_policy fresh"
                 % (e.work, e.target, VOLATILE))]
    if not work.volatile:
        return []
    return [("work", "%s holds %s, left by an overlay mounted with volatile: overlayfs refuses to mount on it"
                     " (EINVAL, \"overlay with incompat feature 'volatile' cannot be mounted\"); the kernel"
                     " documentation says to throw upper and work away (that mount may have lost writes):"
                     " remove both and make them again empty, or, if the system has not crashed since, remove"
                     " %s" % (e.work, VOLATILE, paths.join(e.work, VOLATILE)))]


def _index(e, obs, fresh, policy, action):
    """Return problems predicting ESTALE: the upper or the work's index remembers other directories."""
    way = ("use upper_policy fresh, " if action == Action.REPLACE and policy == "carry" else "") + "or set index=off"
    out = []
    up = obs.dir(e.upper)
    if e.upper not in fresh and up.origin and e.lower:
        if handle_matches(up.origin, obs.dir(e.lower[0]).handle) is False:
            out.append(("upper", "%s was used with index=on over another lower layer (its trusted.overlay.origin is"
                        " not lower[0] %s): overlayfs would refuse the mount with ESTALE (\"failed to verify upper"
                        " root origin\"); give the overlay a new empty upper and work, %s" % (e.upper, e.lower[0],
                                                                                              way)))
    work = obs.dir(e.work)
    if e.work not in fresh and work.index_upper:
        # A fresh upper is a new directory: an index made for the old one cannot match it.
        same = False if e.upper in fresh else handle_matches(work.index_upper, up.handle)
        if same is False:
            out.append(("work", "%s/index records another upper than %s (it was used with index=on with a"
                        " different upper): overlayfs would refuse the mount with ESTALE (\"failed to verify"
                        " index dir 'upper' xattr\"); use a new empty work directory, %s" % (e.work, e.upper, way)))
    return out
