"""World: everything the planner may know about the host, gathered before planning.

The planner is a pure function of (state, profile, world); `observe` is the
only code that looks at the system to build a World, and it reads only.
"""

import dataclasses
from typing import Dict, FrozenSet

from . import paths
from .match import recorded_mount as match_recorded
from .model import BIND, MISSING, OVERLAY, SYMLINK, TMPFS, PathFact
from .records import field, record

# What lies under a mount a plan takes down was never observed (lstat saw the
# mount's content): known only when the executor gets there.
UNKNOWN = PathFact("unknown")


@record
class World:
    """The live mount table plus lstat facts about every path the plan can touch.

    `facts` maps clean paths to PathFact; `realpaths` maps bind sources (and
    other paths whose symlinks the kernel follows) to their resolved path;
    `overlay_defaults` is /sys/module/overlay/parameters; `listings` maps a
    read-only directory an entry may mimic (mimic.py) to the names in it;
    `overlay` is what overlay_rules.observe saw of overlay upper/work/layer
    directories (None when no entry is an overlay). `markers` maps the
    target of an owned mount with a recorded marker to the marker of the top
    mount there, read only when the table has no unique ids (match.py).
    `others` are the paths other profiles of the namespace own or made, and
    `owners` maps their targets to (profile, Owned) (leftovers.neighbours): a
    directory holding one is not removed; a conflict names the owner.
    """

    def owner_of(self, live):
        """Return the other profile whose recorded mount `live` is, or None (match.recorded_mount)."""
        found = self.owners.get(live.mount_point)
        if found is None:
            return None
        name, own = found
        verdict = match_recorded(own, live, self)
        return name if verdict or (verdict is None and own.dev is not None and tuple(own.dev) == tuple(live.dev)) \
            else None

    table: object
    facts: Dict[str, PathFact] = field(default_factory=dict)
    realpaths: Dict[str, str] = field(default_factory=dict)
    overlay_defaults: Dict[str, str] = field(default_factory=dict)
    tmpfs_defaults: Dict[str, int] = field(default_factory=dict)
    namespace: str = ""
    listings: Dict[str, tuple] = field(default_factory=dict)
    overlay: object = None
    markers: Dict[str, str] = field(default_factory=dict)
    others: FrozenSet[str] = frozenset()
    owners: Dict[str, tuple] = field(default_factory=dict)

    def fs_defaults(self, fstype):
        """Return what the options of a `fstype` mount are judged by when the kernel hides them (options.py):
        the machine's RAM for tmpfs (Sys.tmpfs_defaults), the module parameters for overlay."""
        return self.tmpfs_defaults if fstype in (TMPFS, "devtmpfs") else self.overlay_defaults

    def fact(self, path):
        """Return the PathFact observed at `path` (MISSING if never observed)."""
        return self.facts.get(path, MISSING)

    def realpath(self, path):
        """Return the resolved form of `path` as observed (the path itself if unknown)."""
        return self.realpaths.get(path, path)

    # ---- the world as a plan will leave it (the planner's projections) ----------
    def without(self, gone, removed=frozenset()):
        """Return this world where every path at or under one of `gone` is missing (removed by a plan).

        `removed` holds the identities ((major, minor, inode)) of what the
        plan removes: missing too wherever the world saw it, since the same
        directory may show at another path (a bind of its parent's source).
        """
        gone = set(gone)
        facts = {p: f for p, f in self.facts.items()
                 if not paths.under_any(p, gone) and not (removed and f.identity in removed)}
        return dataclasses.replace(self, facts=facts)

    def source_kind(self, entry):
        """Return the kind of what entry.source resolves to ("missing" without a source)."""
        return self.fact(self.realpath(entry.source)).kind if entry.source else "missing"

    def point_kind(self, entry):
        """Return "file" for a bind of a regular file (its mount point is a file), else "dir"."""
        return "file" if entry.type == BIND and self.source_kind(entry) == "file" else "dir"

    def projected(self, path, fresh, gone, staying=None):
        """Return the PathFact `path` will have once mounts `fresh` ({target: Entry}) are up and `gone` are off.

        Below a fresh bind: what its source holds; below a fresh overlay: the
        first layer holding it; below another fresh filesystem: nothing (it
        is empty). Below a mount taken away, what shows is the content of the
        mount under it: through a bind or overlay that stays (`staying`:
        {target: Entry}) it is known, otherwise UNKNOWN (lstat saw only the
        mount that goes).
        """
        staying = staying or {}
        crossed = False
        for anc in reversed(paths.ancestors(path)):
            parent = fresh.get(anc) or (staying.get(anc) if crossed else None)
            if parent is None:
                if anc in gone:
                    if len(self.table.stack(anc)) > 1:
                        return UNKNOWN  # a mount stacked below the one that goes
                    crossed = True
                elif crossed and self.table.top(anc) is not None:
                    return UNKNOWN
                continue
            rel = paths.relative(path, anc)
            if parent.type == BIND:
                return self._shown(paths.join(self.realpath(parent.source), rel), fresh, gone, staying, anc)
            if parent.type == OVERLAY:
                for base in ([parent.upper] if parent.upper else []) + list(parent.lower):
                    f = self._shown(paths.join(base, rel), fresh, gone, staying, anc)
                    if f.kind != "missing":
                        return f
                return MISSING
            return UNKNOWN if crossed else MISSING  # a fresh filesystem is empty
        return UNKNOWN if crossed else self.fact(path)

    def _shown(self, path, fresh, gone, staying, at):
        """Return the fact at `path` in a content root of the fresh mount at `at`: projected in turn when that
        path lies in another fresh mount (a layer or source that is another entry's target, mounted first)."""
        if any(a in fresh and a != at and not paths.is_under(at, a) for a in paths.ancestors(path) + [path]):
            return self.projected(path, {t: e for t, e in fresh.items() if t != at}, gone, staying)
        return self.fact(path)

    def read_only(self, path, fresh, staying, gone):
        """Return True when nothing can be created in directory `path` once the plan's mounts are in place.

        The mount holding `path` then is the nearest fresh or staying one
        (`staying`: {target: Entry} kept or remounted), or the live one,
        skipping mounts in `gone`. A fresh mount gets its flags before it is
        attached (steps.build).
        """
        for anc in reversed(paths.ancestors(path) + [path]):
            entry = fresh.get(anc)
            if entry is not None:
                return _entry_read_only(entry)
            stack = self.table.stack(anc)
            if anc in gone:
                stack = stack[:-1]
            entry = staying.get(anc)
            if entry is not None:
                # A remount making it read-only runs after everything below it (order.py):
                # read-only meanwhile only when it is read-only before and after.
                return _entry_read_only(entry) and bool(stack) and _live_read_only(stack[-1])
            if stack:
                return _live_read_only(stack[-1])
        return False


def _entry_read_only(entry):
    # An overlay without an upper layer is read-only whatever its flags (Documentation/filesystems/overlayfs.rst).
    return "ro" in entry.flags or (entry.type == OVERLAY and not entry.upper)


def _live_read_only(live):
    # A read-only superblock (first super option `ro`) refuses writes through a rw mount too.
    return "ro" in live.flags or live.raw_super_options.split(",")[0] == "ro"


def paths_to_observe(entries, owned=()):
    """Return (lstat_paths, realpath_paths): every path the planner may ask about.

    lstat: each target and its ancestors; for a target below another entry's
    target, the same relative path inside that entry's bind source or overlay
    layers (what will be visible there once the parent is mounted fresh).
    realpath: bind sources and filesystem sources under /dev.
    """
    real = set()
    entries = list(entries)
    every = entries + [o.entry for o in owned]
    lstat = paths.with_ancestors(e.target for e in every)  # ancestors shared by many targets walked once
    for e in every:
        if e.type == BIND and e.source:
            real.add(e.source)
            lstat.add(e.source)
        elif e.type not in (SYMLINK, OVERLAY) and e.source and e.source.startswith("/"):
            real.add(e.source)
    by_target = {e.target: e for e in entries}
    for t, above in paths.nested(by_target):
        todo = [(t, anc, 0) for anc in above]
        while todo:
            path, anc, hops = todo.pop()
            parent = by_target[anc]
            for base in _content_roots(parent):
                mapped = paths.join(base, paths.relative(path, anc))
                lstat.add(mapped)
                for a in paths.ancestors(mapped):
                    if paths.is_under(a, base):
                        lstat.add(a)
                if hops < 4:
                    # A content root that is another entry's target (a layer or source mounted first): what
                    # shows there is that entry's content in turn (World._shown).
                    todo.extend((mapped, a, hops + 1) for a in paths.ancestors(mapped) + [mapped]
                                if a in by_target and a != anc and not paths.is_under(anc, a))
    return lstat, real


def _content_roots(entry):
    """Return the directories whose content shows at a freshly mounted entry, top first."""
    if entry.type == BIND and entry.source:
        return [entry.source]
    if entry.type == OVERLAY:
        return ([entry.upper] if entry.upper else []) + list(entry.lower)
    return []
