"""The live mount table: parse /proc/self/mountinfo and answer which mount is where.

Line format (proc(5), fs/proc_namespace.c show_mountinfo):

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)

Root, mount point and source are escaped with mangle(): space, tab, newline
and backslash as `\\ooo`. Super options come from each filesystem's
show_options; seq_show_option() escapes `, \\t\\n\\` the same way in values,
so a literal comma there always separates options.
"""

import bisect
import collections
import re

from . import options
from .model import OVERLAY, LiveMount, builder
from .paths import clean, is_at_or_under, is_under, join, relative, sort_key

_OCTAL = re.compile(rb"\\([0-3][0-7][0-7])")


def unescape(text):
    """Return `text` with every kernel octal escape (`\\040`...) decoded; other backslashes stay.

    Escapes can spell bytes that are not UTF-8 on their own; the result is
    decoded like os.fsdecode (UTF-8, surrogateescape), as Python names files.
    """
    if "\\" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return _OCTAL.sub(lambda m: bytes((int(m.group(1), 8),)), raw).decode("utf-8", "surrogateescape")


def parse_mountinfo(text, unique_ids=None):
    """Return the LiveTable of a /proc/self/mountinfo text.

    `unique_ids` ({mountinfo id: unique id}, Sys.mount_ids) gives each mount
    its LiveMount.unique. Raises ValueError("cannot parse mountinfo line N:
    <cause>") for a malformed line, and no other exception whatever the input.
    """
    return LiveTable(_mounts(text, unique_ids))


def _mounts(text, unique_ids=None):
    """Return the list of the LiveMounts of a /proc/self/mountinfo text's lines, in order (parse_mountinfo)."""
    supers = {}  # (fstype, raw super options) -> parsed, and raw mount options -> flags: shared by many mounts
    ids = unique_ids or {}
    make = builder(LiveMount)
    out = []
    # One loop from line to LiveMount (not iter_fields' generator under this one): a fifth of parsing 10,000 mounts.
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        try:
            (mount_id, parent_id, major, minor, root, mount_point, flags, propagation, peer, master, fstype, source,
             parsed, raw_mount_options, raw_super) = _decode(line, supers)
        except (ValueError, IndexError, KeyError, OverflowError) as exc:
            raise ValueError("cannot parse mountinfo line %d: %s" % (n, exc)) from None
        fs_options, lower, data, upper, work = parsed
        out.append(make(
            unique=ids.get(mount_id), mount_id=mount_id, parent_id=parent_id, dev=(major, minor), root=root,
            mount_point=mount_point, flags=flags, propagation=propagation, peer=peer, master=master, fstype=fstype,
            source=source, fs_options=fs_options, lower=lower, data=data, upper=upper, work=work,
            raw_mount_options=raw_mount_options, raw_super_options=raw_super))
    return out


# The order of the tuples iter_fields yields (a tuple: a namedtuple's Python-level __new__ would cost a
# third of the loop): what a LiveMount holds, decoded, with its superblock options parsed once per table.
FIELDS = ("mount_id", "parent_id", "major", "minor", "root", "mount_point", "flags", "propagation", "peer", "master",
          "fstype", "source", "super", "raw_mount_options", "raw_super_options")


def iter_fields(text, supers=None):
    """Yield one tuple of decoded fields (in FIELDS order) per line of a mountinfo text, in order.

    `super` is (fs_options, lower, data, upper, work), as LiveMount holds them.
    `supers` caches what many lines share (pass one dict to share it
    further). Raises ValueError as iter_mounts does.
    """
    supers = {} if supers is None else supers
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        try:
            yield _decode(line, supers)
        except (ValueError, IndexError, KeyError, OverflowError) as exc:
            raise ValueError("cannot parse mountinfo line %d: %s" % (n, exc)) from None


def decode_line(line, n=1, supers=None):
    """Return the FIELDS tuple of `line`, line `n` of a mountinfo text; ValueError as iter_fields raises it."""
    try:
        return _decode(line, {} if supers is None else supers)
    except (ValueError, IndexError, KeyError, OverflowError) as exc:
        raise ValueError("cannot parse mountinfo line %d: %s" % (n, exc)) from None


def live_mount(fields, unique=None):
    """Return the LiveMount of one iter_fields tuple, with unique id `unique`."""
    (mount_id, parent_id, major, minor, root, mount_point, flags, propagation, peer, master, fstype, source,
     parsed, raw_mount_options, raw_super) = fields
    fs_options, lower, data, upper, work = parsed
    return builder(LiveMount)(
        unique=unique, mount_id=mount_id, parent_id=parent_id, dev=(major, minor), root=root, mount_point=mount_point,
        flags=flags, propagation=propagation, peer=peer, master=master, fstype=fstype, source=source,
        fs_options=fs_options, lower=lower, data=data, upper=upper, work=work, raw_mount_options=raw_mount_options,
        raw_super_options=raw_super)


Point = collections.namedtuple("Point", "mount_id parent_id mount_point")


def points(text):
    """Return the LiveTable of a mountinfo text with only each mount's place: Points, not whole LiveMounts.

    Enough to answer where each mount is and whether it is visible, at a
    fraction of the memory (a table of 10,000 mounts for `show --json`,
    which then parses each line once more, with iter_fields, as it prints it).
    Raises ValueError as parse_mountinfo does for the fields it reads.
    """
    out = []
    make = tuple.__new__  # Point(...) goes through a Python-level __new__: a third of this loop
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        fields = line.split(" ", 5)
        if len(fields) < 6 or not (fields[0].isdigit() and fields[1].isdigit() and (fields[0] + fields[1]).isascii()):
            raise ValueError("cannot parse mountinfo line %d: bad mount id or parent id" % n)
        mount_point = fields[4] if "\\" not in fields[4] else unescape(fields[4])
        if mount_point[:1] != "/":
            raise ValueError("cannot parse mountinfo line %d: mount point %r is not absolute" % (n, mount_point))
        out.append(make(Point, (int(fields[0]), int(fields[1]), mount_point)))
    return LiveTable(out)


def _decode(line, supers):
    """Return the FIELDS tuple of one mountinfo line (ValueError, IndexError... when malformed)."""
    fields = line.split(" ")
    if len(fields) < 10:
        raise ValueError("expected at least 10 fields, got %d" % len(fields))
    try:
        sep = fields.index("-", 6)
    except ValueError:
        raise ValueError("no ' - ' separator after the optional fields") from None
    if len(fields) - sep != 4:
        raise ValueError("expected 3 fields after ' - ', got %d" % (len(fields) - sep - 1))
    major, colon, minor = fields[2].partition(":")
    # int() alone would take " 7", "+7", "7_0" and non-ASCII digits.
    if not (
        fields[0].isdigit() and fields[1].isdigit() and major.isdigit() and minor.isdigit()
        and (fields[0] + fields[1] + fields[2]).isascii() and colon
    ):
        raise ValueError("bad mount id, parent id or major:minor in %r" % " ".join(fields[:3]))
    mount_point = fields[4]
    if "\\" in mount_point:  # unescape() inline where most lines need none: three calls a line saved
        mount_point = unescape(mount_point)
    if mount_point[:1] != "/":
        raise ValueError("mount point %r is not absolute" % mount_point)
    if sep == 6:  # no optional fields: most lines of a private namespace
        propagation, peer, master = "private", None, None
    else:
        propagation, peer, master = tags(fields[6:sep])
    fstype, raw_source, raw_super = fields[sep + 1:]
    if not fstype:
        raise ValueError("empty filesystem type")
    key = (fstype, raw_super)
    parsed = supers.get(key)
    if parsed is None:
        parsed = supers[key] = parse_super(fstype, raw_super)
    flags = supers.get(fields[5])  # a handful of distinct per-mount option fields in a whole table
    if flags is None:
        flags = supers[fields[5]] = options.parse_mount_options(fields[5])
    root = fields[3]
    if "\\" in root:
        root = unescape(root)
    if "\\" in raw_source:
        raw_source = unescape(raw_source)
    return (int(fields[0]), int(fields[1]), int(major), int(minor), root, mount_point, flags,
            propagation, peer, master, fstype, raw_source, parsed, fields[5], raw_super)


def tags(optional):
    """Return (propagation, peer group, master group) of a line's optional fields (ValueError for a bad number)."""
    peer = master = None
    unbindable = False
    for tag in optional:
        name, _sep, value = tag.partition(":")
        if name == "shared":
            peer = _number(value, "peer group")
        elif name == "master":
            master = _number(value, "master group")
        elif name == "propagate_from":
            _number(value, "propagate_from group")
        elif tag == "unbindable":
            unbindable = True
        # proc(5): parsers should ignore all unrecognized optional fields.
    if peer is not None:
        return "shared+slave" if master is not None else "shared", peer, master
    if master is not None:
        return "slave", peer, master
    return "unbindable" if unbindable else "private", peer, master


def _number(text, what):
    if not (text.isdigit() and text.isascii()):
        raise ValueError("bad %s %r" % (what, text))
    return int(text)


def parse_super(fstype, raw):
    """Return (fs_options, lower, data, upper, work) of a super options field (the `super` of iter_fields)."""
    pairs = []
    layers = {"lower": [], "data": []}
    for item in raw.split(","):
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = unescape(key)
        if not eq:
            if key in ("rw", "ro"):
                continue  # superblock read-only state, not an option one asks for
            pairs.append((key, None))
            continue
        value = unescape(value)
        if fstype == OVERLAY and key in options.OVERLAY_LAYER_KEYS:
            options.add_overlay_layer(layers, key, value)
            continue
        pairs.append((key, value))
    fs_options = options.normalize_fs_options(fstype, pairs, strict=False)
    return fs_options, tuple(layers["lower"]), tuple(layers["data"]), layers.get("upper"), layers.get("work")


_OUTSIDE = -1  # parent id standing for "outside the table": mount ids are never negative


class LiveTable:
    """The mounts of one mount namespace, indexed once for path questions.

    `mounts` keeps file order. Stacked mounts on one path form a chain: each
    has the one below as its parent. Mounts whose parent is not in the table
    (the namespace root on `/`; in a chroot, every mount whose parent lies
    outside it) hang from one virtual root, so every walk starts the same way.
    """

    def __init__(self, mounts):
        self.mounts = tuple(mounts)
        by_id = self._by_id = {m.mount_id: m for m in self.mounts}
        if len(by_id) != len(self.mounts):
            raise ValueError("cannot parse mountinfo: duplicate mount id")
        child_at = self._child_at = {}  # (parent id, mount point) -> the child mounted there (first in file order)
        for m in self.mounts:
            parent = m.parent_id
            child_at.setdefault((parent if parent in by_id and parent != m.mount_id else _OUTSIDE, m.mount_point), m)
        self._children_of = None  # parent id -> children in file order, built on first use (top() needs none)
        self._visible = None  # (sort keys, mounts) of every reachable stack, built on first use
        self._visible_at = {}  # path -> visible(path), filled as questions come (the table never changes)
        self._by_unique = None  # {unique id: mount}, built on first use

    def __len__(self):
        return len(self.mounts)

    def by_id(self, mount_id):
        """Return the mount with `mount_id`, or None."""
        return self._by_id.get(mount_id)

    def by_unique(self, unique):
        """Return the mount with unique id `unique` (hidden or not), or None (also for None)."""
        if self._by_unique is None:
            self._by_unique = {m.unique: m for m in self.mounts if m.unique is not None}
        return None if unique is None else self._by_unique.get(unique)

    @property
    def has_unique_ids(self):
        """Return True when the table knows the unique id of its mounts (Linux 6.8+, Sys.mount_ids)."""
        if self._by_unique is None:
            self.by_unique(None)
        return bool(self._by_unique)

    def children(self, mount):
        """Return the mounts whose parent is `mount`, hidden ones included, in file order."""
        return list(self._children.get(mount.mount_id, ()))

    @property
    def _children(self):
        """Return {parent id: the mounts whose parent it is, in file order} (_OUTSIDE: those hanging from outside)."""
        if self._children_of is None:
            by_id = self._by_id
            children = self._children_of = {}
            for m in self.mounts:
                parent = m.parent_id
                children.setdefault(parent if parent in by_id and parent != m.mount_id else _OUTSIDE, []).append(m)
        return self._children_of

    def _top_from(self, m):
        """Return the top of the stack that starts at mount `m` (itself if nothing is on it)."""
        for _step in range(len(self.mounts)):  # bounded: a corrupt table may hold a cycle
            above = self._child_at.get((m.mount_id, m.mount_point))
            if above is None or above is m:
                break
            m = above
        return m

    def visible(self, path):
        """Return the mount a lookup of absolute `path` lands in, or None if no mount of the table holds it.

        Walks from the root down, component by component: at each prefix the
        current mount's child there (top of its stack) takes over. A mount
        whose mount point is covered by an over-mount of an ancestor path is
        never reached: it is hidden.
        """
        return self._visible_clean(clean(path))

    def _visible_clean(self, path):
        """Return visible(path) for a `path` already clean."""
        memo = self._visible_at
        if path in memo:
            return memo[path]
        # The answer for a path continues its parent's: climb to the nearest path already
        # answered (or to /), then walk down from there, remembering each answer. A plan asks
        # about every target and many share their ancestors.
        chain = [path]
        m = None
        while chain[-1] != "/":
            parent = chain[-1][:chain[-1].rfind("/")] or "/"
            if parent in memo:
                m = memo[parent]
                break
            chain.append(parent)
        for prefix in reversed(chain):
            m = memo[prefix] = self._step_down(m, prefix)
        return m

    def _step_down(self, m, path):
        """Return what is visible at `path` when `m` is what is visible at its parent directory (None: nothing)."""
        child = self._child_at.get((_OUTSIDE if m is None else m.mount_id, path))
        if child is None:
            return m
        # Most mounts have nothing stacked on them: _top_from only when something is.
        return child if (child.mount_id, path) not in self._child_at else self._top_from(child)

    def top(self, path):
        """Return the visible mount whose mount point is exactly `path`, or None if it is not a mount point."""
        path = clean(path)
        m = self._visible_clean(path)
        if m is None or m.mount_point != path:
            return None
        return m

    def stack(self, path):
        """Return the mounts stacked at mount point `path`, bottom first ([] if none is reachable)."""
        m = self.top(path)
        if m is None:
            return []
        out = [m]
        while len(out) <= len(self.mounts):
            below = self._by_id.get(m.parent_id)
            if below is None or below is m or below.mount_point != m.mount_point:
                break
            out.append(below)
            m = below
        out.reverse()
        return out

    def top_ids(self):
        """Return the set of the ids of the mounts on top at their mount point: those m with top(m.mount_point) m.

        What asking top() of each mount answers, in one pass: most mount
        points are one step below a path already answered (their parent
        directory), taken here without a call.
        """
        out = set()
        memo = self._visible_at
        for m in self.mounts:
            path = m.mount_point
            if "//" in path or "/." in path or (path[-1:] == "/" and path != "/"):
                path = clean(path)  # not clean (nor ever top), or not a path at all: ValueError, as top() says
            if path in memo:
                v = memo[path]
            else:
                parent = path[:path.rfind("/")] or "/"
                if path != "/" and parent in memo:  # one step of _visible_clean
                    v = memo[path] = self._step_down(memo[parent], path)
                else:
                    v = self._visible_clean(path)
            if v is m and m.mount_point == path:
                out.add(m.mount_id)
        return out

    def _chain(self, m, seen):
        """Return the stack that starts at mount `m`, bottom first (each mount at most once)."""
        out = []
        while m is not None and m.mount_id not in seen:
            seen.add(m.mount_id)
            out.append(m)
            m = self._child_at.get((m.mount_id, m.mount_point))
        return out

    def _visible_index(self):
        """Return (sort keys, mounts) of every reachable stack, sorted parents first, stacks bottom first.

        One walk down the tree: a child of a stack's top is reachable unless
        a sibling is mounted on one of the directories between them (the
        same rule visible() follows one path at a time).
        """
        if self._visible is None:
            rows = []
            seen = set()
            todo = [(_OUTSIDE, None)]
            while todo:
                parent_id, base = todo.pop()
                for child in self._children.get(parent_id, ()):
                    mp = child.mount_point
                    if child.mount_id in seen or self._child_at.get((parent_id, mp)) is not child:
                        continue
                    if base is not None and (not is_under(mp, base) or self._covered(parent_id, base, mp)):
                        continue
                    if base is None and mp != "/" and self._covered(parent_id, "/", mp):
                        continue
                    chain = self._chain(child, seen)
                    rows.extend((sort_key(m.mount_point), depth, m) for depth, m in enumerate(chain))
                    todo.append((chain[-1].mount_id, mp))
            rows.sort(key=lambda r: (r[0], r[1]))
            self._visible = ([r[0] for r in rows], [r[2] for r in rows])
        return self._visible

    def _covered(self, parent_id, base, mp):
        """Return True when a child of `parent_id` sits on a directory from `base` (excluded) to `mp` (excluded).

        For the virtual root `base` is `/` and `/` itself counts: a root
        mount on `/` covers every other mount hanging from outside.
        """
        if parent_id == _OUTSIDE and (parent_id, "/") in self._child_at:
            return True
        i = len(base) if base != "/" else 0
        while True:
            i = mp.find("/", i + 1)
            if i < 0:
                return False
            if (parent_id, mp[:i]) in self._child_at:
                return True

    def submounts(self, path):
        """Return the mounts of every reachable stack strictly below `path`, parents first, stacks bottom first.

        Mounts hidden under an over-mount are not included (see children()).
        """
        path = clean(path)
        keys, mounts = self._visible_index()
        lo = bisect.bisect_right(keys, sort_key(path))
        hi = len(keys) if path == "/" else bisect.bisect_left(keys, path + "0")  # "0" follows "/"
        return mounts[lo:hi]

    def bind_identity(self, real_source_path):
        """Return (dev, root): what a bind of `real_source_path` (symlinks resolved) shows in mountinfo.

        dev is that of the visible mount holding the path; root is that
        mount's root joined with the path relative to its mount point, by
        path components, never by string prefix.
        """
        path = clean(real_source_path)
        m = self._visible_clean(path)
        if m is None or not is_at_or_under(path, m.mount_point):
            raise ValueError("cannot find the mount holding %s: no mount of the table holds it" % path)
        return m.dev, join(m.root, relative(path, m.mount_point))
