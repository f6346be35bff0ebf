"""Ordering rules: take down children before parents, put up parents before children.

Targets are compared with paths.sort_key (`target + "/"`), so a subtree stays
together and a string prefix is never mistaken for a parent (/a/b-1 vs /a/b).
In the up phase a mount built from another one going up (a bind of its
target, an overlay layered on it) comes after it, with its subtree.
"""

from . import paths
from .model import BIND, OVERLAY, Action

# Phase 1 (down, deepest first): at one path the unmount/unlink precedes rmdir.
_DOWN = {Action.UNMOUNT: 0, Action.UNLINK: 0, Action.FORGET: 0, Action.RMDIR: 1}
# Phase 2 (up, shallowest first): at one path mkdir precedes what uses it.
_UP = {Action.MIMIC: 0, Action.MKDIR: 0, Action.MOUNT: 1, Action.REPLACE: 1, Action.LINK: 1, Action.REMOUNT: 1, Action.KEEP: 1}
_LAST = "\U0010ffff"  # the largest code point: sorts after every path below the target


def order_changes(changes):
    """Return `changes` in execution order: conflicts, then the down phase, then the up phase.

    Conflicts come first so they are seen first; keeps are placed among the up
    phase at their target so a printed plan reads top-down. A remount that
    makes a mount read-only comes after everything below it.
    """
    conflicts = [c for c in changes if c.action == Action.CONFLICT]
    down = [c for c in changes if c.action in _DOWN]
    up = [c for c in changes if c.action in _UP]
    down.sort(key=lambda c: (paths.sort_key(c.target), -_DOWN[c.action]), reverse=True)
    ranks = _ranks(up)
    up.sort(key=(lambda c: _up_key(c, ranks)) if ranks else _up_key)
    return _dedupe(conflicts) + down + up


def _up_key(c, ranks=None):
    key = paths.sort_key(c.target)
    rank = _rank_at(c.target, ranks) if ranks else 0
    if c.action == Action.REMOUNT and makes_read_only(c):
        # After everything below it: a mount point made in a read-only mount is EROFS,
        # while mounting on a directory of a read-only mount is fine.
        if ranks:
            rank = max([rank] + [r for t, r in ranks.items() if paths.is_under(t, c.target)])
        return (rank, key + _LAST, _UP[c.action])
    return (rank, key, _UP[c.action])


def _ranks(up):
    """Return {target: rank} of the mounts going up that are built from another one going up (else empty).

    A bind of a target, or an overlay layered on one, must be made after the
    mount there (plan.depends_on): its rank is one more than the highest rank
    of the mounts its source or layers lie in, and a mount below it inherits
    it. Everything at rank 0 keeps the plain path order. A cycle (a source
    below its own target) gets no rank from it: the kernel decides.
    """
    fresh = {c.target: c.entry for c in up
             if c.action in (Action.MOUNT, Action.REPLACE) and c.entry is not None and c.entry.is_mount}
    needs = {t: [a for p in depends_on(e) for a in paths.ancestors(p) + [p] if a in fresh and a != t]
             for t, e in fresh.items()}
    if not any(needs.values()):
        return {}
    ranks = {}

    def rank(t, seen):
        if t in ranks:
            return ranks[t]
        if t in seen:
            return 0
        seen = seen | {t}
        above = [rank(a, seen) for a in paths.ancestors(t) if a in fresh]
        after = [rank(d, seen) + 1 for d in needs[t] if not paths.is_under(t, d) and not paths.is_under(d, t)]
        ranks[t] = max(above + after + [0])
        return ranks[t]
    for t in fresh:
        rank(t, frozenset())
    return ranks


def _rank_at(path, ranks):
    """Return the rank of the nearest ranked target at or above `path` (0 when none)."""
    for a in [path] + list(reversed(paths.ancestors(path))):
        if a in ranks:
            return ranks[a]
    return 0


def depends_on(entry):
    """Return the paths whose content a mount of `entry` is built from: a bind's source, an overlay's layers."""
    if entry.type == BIND:
        return (entry.source,) if entry.source else ()
    if entry.type == OVERLAY:
        return tuple(entry.lower) + tuple(entry.data)
    return ()


def makes_read_only(change):
    """Return True when `change` turns a live read-write mount read-only."""
    return (change.entry is not None and "ro" in change.entry.flags and change.live is not None
            and "ro" not in change.live.flags)


def _dedupe(changes):
    seen, out = set(), []
    for c in changes:
        key = (c.action, c.target, c.reason)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
