"""The planner's overlay part: which upper_policy a replace gets, and overlay problems as conflicts (pure).

plan.plan() hands it the assembled changes; see upper_policy.py for how
fresh and carry are performed and overlay_rules.py for the rules.
"""

import dataclasses

from ..overlay import rules as overlay_rules
from .. import paths
from ..model import BIND, OVERLAY, Action, Change

FRESH = "fresh"
CARRY = "carry"
_POLICY_TEXT = {
    FRESH: "upper_policy fresh: the old upper and work are moved aside (kept), the new overlay starts empty and"
           " is swapped in atomically; processes inside the old overlay keep their view",
    CARRY: "upper_policy carry: the old overlay is frozen read-only and unmounted once nothing uses it, then"
           " mounted again on the same upper (the target is empty for a moment)",
}

_REDONE_FRESH = ("upper_policy fresh: the old upper and work are moved aside (kept), the new overlay starts empty")


def upper_policies(profile):
    """Return {target: "fresh" or "carry"} for the profile's overlays that name an upper_policy."""
    reserved = getattr(profile, "reserved_for", None)
    if reserved is None:
        return {}
    return {e.target: reserved(i).upper_policy for i, e in enumerate(profile.entries)
            if e.type == OVERLAY and reserved(i).upper_policy}


def shares_upper(old, new):
    """Return True when overlay `new` would reuse the upper or work directory of live or recorded overlay `old`.

    Two superblocks on one upper is undefined behaviour (overlayfs.rst:
    changes to the underlying filesystems while mounted), so the old one must
    be gone first (carry) or its directories moved aside (fresh).
    """
    have = {p for p in (old.upper, old.work) if p}
    return bool(have & {p for p in (new.upper, new.work) if p})


def checks(changes, world, policies):
    """Return `changes` with overlay replaces given their upper policy, and overlay problems as conflicts."""
    out = []
    desired = None  # {target: Entry} of every mount the plan leaves, made for the first overlay mounted
    for c in changes:
        if c.entry is None or c.entry.type != OVERLAY or c.action not in (Action.MOUNT, Action.REPLACE):
            out.append(c)
            continue
        policy = None
        if c.action == Action.MOUNT and c.live is not None:
            # A child redone under a rebuilt parent whose layers or options changed (plan._rebuild_children):
            # the old overlay is unmounted first; fresh still moves its upper and work aside, carry reuses them.
            policy = policies.get(c.target) or FRESH
            if policy == FRESH:
                c = dataclasses.replace(c, upper_policy=policy, reason="%s; %s" % (c.reason, _REDONE_FRESH))
            else:
                reason = "%s; upper_policy carry: mounted again on the same upper" % c.reason
                c = dataclasses.replace(c, live=None, reason=reason)
                policy = None
        elif c.action == Action.REPLACE and c.live is not None:
            old = c.live if c.live.fstype == OVERLAY else (c.before.entry if c.before else None)
            if old is not None and shares_upper(old, c.entry):
                policy = policies.get(c.target) or FRESH
                c = dataclasses.replace(c, upper_policy=policy, reason="%s; %s" % (c.reason, _POLICY_TEXT[policy]))
            else:
                c = dataclasses.replace(c, reason="%s; swapped in atomically: processes inside the old overlay"
                                                  " keep their view" % c.reason)
        found = overlay_rules.problems(c, world, policy)
        if not found:
            if desired is None:
                desired = {d.target: d.entry for d in changes if d.entry is not None and d.entry.is_mount
                           and d.action in (Action.KEEP, Action.REMOUNT, Action.MOUNT, Action.REPLACE)}
            found = _depth_problems(c, desired, world) or _same_layer_problems(c, desired)
        if policy == CARRY:
            found = found + _carry_problems(c, world)
        if found:
            verb = "replace" if c.action == Action.REPLACE else "mount"
            out.extend(Change(Action.CONFLICT, c.entry, "cannot %s overlay %s: %s %s" % (
                verb, c.entry.label, field, message), before=c.before) for field, message in found)
            # No `live`: these are about the entry and its directories, not a foreign mount in the way.
        else:
            out.append(c)
    return out


def _carry_problems(c, world):
    """Return [(field, message)] when carrying the upper cannot be done: the same overlay is mounted elsewhere too.

    Every mount of a superblock keeps it alive (binds of the overlay, copies
    in child namespaces made after it), and carry must see the old one gone.
    """
    others = sorted(m.mount_point for m in world.table.mounts
                    if m.dev == c.live.dev and m.mount_id != c.live.mount_id)
    if not others:
        return []
    return [("upper_policy", "carry cannot reuse upper %s: the same overlay is also mounted at %s and would stay "
                             "alive on it; use upper_policy fresh" % (c.entry.upper, ", ".join(others)))]


# FILESYSTEM_MAX_STACK_DEPTH (include/linux/fs.h): an overlay is one deeper than its deepest layer's filesystem.
MAX_STACK_DEPTH = 2


def _depth_problems(c, desired, world):
    """Return [(field, message)] when overlay `c.entry` would stack deeper than the kernel allows.

    overlayfs refuses a layer on a filesystem already MAX_STACK_DEPTH deep
    (EINVAL, "maximum fs stacking depth exceeded", in dmesg only): an overlay
    on an overlay is the most there can be. Each layer's filesystem is the
    one the plan puts there (`desired`: {target: Entry}, a bind showing its
    source's), else the live one.
    """
    e = c.entry
    for where, path in [("lower[%d]" % k, p) for k, p in enumerate(e.lower)] + [
            ("data[%d]" % k, p) for k, p in enumerate(e.data)] + [("upper", e.upper)]:
        if path is None:
            continue
        depth = _path_depth(path, desired, world, {e.target})
        if depth >= MAX_STACK_DEPTH:
            return [(where, "%s lies on an overlay that is itself on an overlay: overlayfs stacks at most %d deep"
                            " (EINVAL, \"maximum fs stacking depth exceeded\"); use a layer outside it"
                     % (path, MAX_STACK_DEPTH))]
    return []


def _path_depth(path, desired, world, seen):
    """Return the stacking depth of the filesystem `path` will be on (0: a disk or tmpfs, 1: an overlay...)."""
    if len(seen) > 2 * MAX_STACK_DEPTH + 8:
        return 0  # a loop the planner refuses elsewhere (plan._cycles)
    holder = next((a for a in [path] + list(reversed(paths.ancestors(path))) if a in desired), None)
    if holder is not None and holder not in seen:
        e = desired[holder]
        if e.type == OVERLAY:
            layers = list(e.lower) + list(e.data) + ([e.upper] if e.upper else [])
            return 1 + max([_path_depth(p, desired, world, seen | {holder}) for p in layers] + [0])
        if e.type == BIND and e.source:
            return _path_depth(e.source, desired, world, seen | {holder})
        return 0
    live = world.table.visible(path)
    return _live_depth(live, world, 0) if live is not None else 0


def _live_depth(m, world, hops):
    """Return the stacking depth of live mount `m`'s filesystem, from the layers mountinfo shows for an overlay."""
    if m.fstype != OVERLAY or hops > MAX_STACK_DEPTH + 2:
        return 0
    below = [world.table.visible(p) for p in list(m.lower) + list(m.data) + ([m.upper] if m.upper else [])]
    return 1 + max([_live_depth(b, world, hops + 1) for b in below if b is not None and b is not m] + [0])


def _origin(path, desired, hops=0):
    """Return the path `path` shows once the plan's binds are up: through a bind entry, its source's, in turn."""
    holder = next((a for a in [path] + list(reversed(paths.ancestors(path))) if a in desired), None)
    if holder is None or hops > 8 or desired[holder].type != BIND or not desired[holder].source:
        return path
    return _origin(paths.join(desired[holder].source, paths.relative(path, holder)), desired, hops + 1)


def _same_layer_problems(c, desired):
    """Return [(field, message)] when two layers of `c.entry` are, or nest in, one directory through the plan's binds.

    The profile rules compare the paths as written (overlay_rules.layout_problems);
    a layer that is a bind entry's target shows its source, and overlayfs
    refuses a directory given twice or inside another layer (ELOOP).
    """
    e = c.entry
    layers = [("lower[%d]" % k, p) for k, p in enumerate(e.lower)] + [("data[%d]" % k, p) for k, p in enumerate(e.data)]
    seen = []
    for where, p in layers:
        here = _origin(p, desired)
        for other_where, other, there in seen:
            if here != p or there != other:
                if here == there or paths.is_under(here, there) or paths.is_under(there, here):
                    return [(where, "%s shows %s, the same directory as %s %s (or one inside the other) through the"
                                    " binds of this profile: overlayfs refuses it (ELOOP, \"conflicting lowerdir"
                                    " path\")" % (p, here, other_where, other))]
        seen.append((where, p, here))
    return []
