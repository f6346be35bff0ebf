"""Ordering rules: take down children before parents, put up parents before children.

Targets are compared with paths.sort_key (`target + "/"`), so a subtree stays
together and a string prefix is never mistaken for a parent (/a/b-1 vs /a/b).
"""

from . import paths
from .model import Action

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
    up.sort(key=_up_key)
    return _dedupe(conflicts) + down + up


def _up_key(c):
    key = paths.sort_key(c.target)
    if c.action == Action.REMOUNT and makes_read_only(c):
        # After everything below it: a mount point made in a read-only mount is EROFS,
        # while mounting on a directory of a read-only mount is fine.
        return (key + _LAST, _UP[c.action])
    return (key, _UP[c.action])


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
