"""World: everything the planner may know about the host, gathered before planning.

The planner is a pure function of (state, profile, world); `observe` is the
only code that looks at the system to build a World, and it reads only.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

from . import paths
from .model import BIND, MISSING, OVERLAY, SYMLINK, PathFact


@dataclass(frozen=True)
class World:
    """The live mount table plus lstat facts about every path the plan can touch.

    `facts` maps clean paths to PathFact; `realpaths` maps bind sources (and
    other paths whose symlinks the kernel follows) to their resolved path;
    `overlay_defaults` is /sys/module/overlay/parameters.
    """

    table: object
    facts: Dict[str, PathFact] = field(default_factory=dict)
    realpaths: Dict[str, str] = field(default_factory=dict)
    overlay_defaults: Dict[str, str] = field(default_factory=dict)
    namespace: str = ""

    def fact(self, path):
        """Return the PathFact observed at `path` (MISSING if never observed)."""
        return self.facts.get(path, MISSING)

    def realpath(self, path):
        """Return the resolved form of `path` as observed (the path itself if unknown)."""
        return self.realpaths.get(path, path)


def paths_to_observe(entries, owned=()):
    """Return (lstat_paths, realpath_paths): every path the planner may ask about.

    lstat: each target and its ancestors; for a target below another entry's
    target, the same relative path inside that entry's bind source or overlay
    layers (what will be visible there once the parent is mounted fresh).
    realpath: bind sources and filesystem sources under /dev.
    """
    lstat, real = set(), set()
    entries = list(entries)
    for e in list(entries) + [o.entry for o in owned]:
        lstat.add(e.target)
        lstat.update(paths.ancestors(e.target))
        if e.type == BIND and e.source:
            real.add(e.source)
            lstat.add(e.source)
        elif e.type not in (SYMLINK, OVERLAY) and e.source and e.source.startswith("/"):
            real.add(e.source)
    targets = sorted({e.target for e in entries}, key=paths.sort_key)
    by_target = {e.target: e for e in entries}
    for t in targets:
        for anc in paths.ancestors(t):
            parent = by_target.get(anc)
            if parent is None:
                continue
            for base in _content_roots(parent):
                rel = paths.relative(t, anc)
                mapped = paths.join(base, rel)
                lstat.add(mapped)
                for a in paths.ancestors(mapped):
                    if paths.is_under(a, base):
                        lstat.add(a)
    return lstat, real


def _content_roots(entry):
    """Return the directories whose content shows at a freshly mounted entry, top first."""
    if entry.type == BIND and entry.source:
        return [entry.source]
    if entry.type == OVERLAY:
        return ([entry.upper] if entry.upper else []) + list(entry.lower)
    return []
