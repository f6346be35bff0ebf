"""The writable mimic: a mount point inside a read-only directory (docs/scenarios.md, 28).

An entry that allows it (`mimic: true`) may have its mount point created in a
read-only directory D this way (docs/namespaces.md, "Writable mimic"):
every child of D is copied as a detached mount first (open_tree(2)
OPEN_TREE_CLONE, recursively for directories, so mounts below them come
along), a tmpfs with D's mode and owner goes on D, each child gets a mount
point in it and its copy attached there, symlinks are recreated. Devices,
sockets and fifos are skipped. D then shows its old content and is writable.

A directory of D that needs a mimic too, in the same plan, is not put back
as a read-only copy: it gets a tmpfs of its own inside D's, with its own
children put back, in the same change (snap-update-ns nests mimics that
way), so every synthetic entry has a target of its own.

The tmpfs and what went back on it are recorded as synthetic entries tied to
the entry that needed them (Owned.synthetic_for): the planner keeps them
while that entry, or anything living below them, is in the profile, and
removes them with it (children first, then the tmpfs), which leaves D
exactly as it was.

plan_mimic() decides (pure); exec_mimic() performs one mimic change through
the Sys, pushing an undo after each call that changed something.
"""

import dataclasses
import errno

from . import paths
from .errors import SysError
from .model import BIND, SYMLINK, TMPFS, Action, Change, Entry
from .options import normalize_fs_options


# ---- planning (pure) -------------------------------------------------------

def allowed(profile):
    """Return the targets of `profile`'s entries that allow a writable mimic (a frozenset)."""
    reserved_for = getattr(profile, "reserved_for", None)
    if reserved_for is None:
        return frozenset()
    # Profile.reserved runs parallel to Profile.entries (shorter: defaults, no mimic, for the rest).
    return frozenset(e.target for e, r in zip(profile.entries, profile.reserved) if r.mimic)


def carried(owned, desired):
    """Return {target: Entry} of the synthetic entries to keep: something still desired lives in their mimic.

    The synthetic entries of one mimic change share their synthetic_for; a
    mimic made later inside another one's entries (a deeper directory) is
    joined to it. Such a family is kept, whole, while the entry of any of
    its changes is desired (even with `mimic` turned off since: its mount
    point lives in the tmpfs, and taking the mimic away under it would need
    that mount point again) or a desired entry lies below one of its
    entries: taking one part away would hide what the other parts show.
    """
    synthetic = [o for o in owned if o.synthetic_for is not None]
    if not synthetic:
        return {}  # no mimic recorded (most states): nothing to carry, no target's ancestors to look at
    family = {o.synthetic_for: o.synthetic_for for o in synthetic}

    def root(key):
        while family[key] != key:
            key = family[key]
        return key

    for_target = {o.entry.target: o.synthetic_for for o in synthetic}
    for o in synthetic:
        for anc in paths.ancestors(o.entry.target):
            if anc in for_target:
                family[root(o.synthetic_for)] = root(for_target[anc])
    needed = {root(k) for k in family if k in desired}
    for t in desired:
        needed.update(root(for_target[a]) for a in paths.ancestors(t) if a in for_target)
    return {o.entry.target: o.entry for o in synthetic
            if root(o.synthetic_for) in needed and o.entry.target not in desired}


def is_synthetic(change):
    """Return True when `change` acts on an entry recorded as part of a writable mimic."""
    return change.before is not None and change.before.synthetic_for is not None


def can_mimic(directory, world, fresh):
    """Return True when read-only `directory` may be mimicked: it was listed and no fresh mount covers it."""
    return directory in world.listings and not any(paths.is_at_or_under(directory, f) for f in fresh)


def plan_mimics(requests, world, changes):
    """Return the Action.MIMIC Changes for `requests` ({read-only directory: entry needing it}), or conflicts.

    A directory whose parent is mimicked too is not bound back in its
    parent's tmpfs as a read-only copy (a second mimic on that copy would be
    a second synthetic entry at one target): it becomes a tmpfs of its own
    inside its parent's, within the same change, as snap-update-ns nests them.
    A copy an earlier apply put back (kept in `changes`) is refused the same
    way: its original is hidden under that mimic's tmpfs by now.
    """
    put_back = {c.target: c.before.synthetic_for for c in changes
                if is_synthetic(c) and c.action not in (Action.UNMOUNT, Action.FORGET, Action.CONFLICT)}
    # What of ours is in place once the plan is done (an entry replacing a mimic's record included): a mimic
    # may not put a copy back at one of them.
    taken = {c.target: c.entry for c in changes if c.action in _IN_PLACE and c.entry is not None
             and not (is_synthetic(c) and c.entry == c.before.entry)}  # a mimic's own, kept: `there` below
    # Mounts of ours in place when the mimic is made (an earlier mimic's included): a recursive copy carries them.
    there = sorted(c.target for c in changes if c.action in _THERE and c.entry is not None and c.entry.is_mount)
    gone = {c.target for c in changes if c.action == Action.UNMOUNT and c.live is not None}
    out = []
    for d in sorted(requests, key=paths.sort_key):
        e = requests[d]
        if d in put_back:
            out.append(Change(Action.CONFLICT, e, "cannot %s %s: %s is a read-only copy put back by the writable "
                              "mimic of %s for %s, and a mimic on it would be a second mount recorded at %s; apply "
                              "without the entries below %s, then with them all at once"
                              % ("link" if e.type == SYMLINK else "mount", e.target, d, _parent(d), put_back[d], d,
                                 _parent(d))))
        elif d in taken:
            # The tmpfs would go on the profile's own read-only mount at d: two mounts of ours at one target.
            out.append(Change(Action.CONFLICT, e, "cannot %s %s: %s, where it needs a writable mimic, is the target "
                              "of an entry of this profile (read-only), and a mimic's tmpfs there would be a second "
                              "mount of ours at %s; make that entry writable, or create %s in its source" % (
                                  "link" if e.type == SYMLINK else "mount", e.target, d, d,
                                  paths.relative(e.target, d))))
        elif any(paths.is_at_or_under(d, g) for g in gone):
            # What was listed of d is a mount this plan takes away first: the mimic would put back the wrong content.
            out.append(Change(Action.CONFLICT, e, "cannot %s %s: %s needs a writable mimic, but what it shows now is "
                              "a mount this plan takes away first, so what it will hold cannot be seen; apply without "
                              "%s first, then with it" % ("link" if e.type == SYMLINK else "mount", e.target, d,
                                                          e.target)))
        elif _parent(d) not in requests:
            change = plan_mimic(d, e, world, requests, gone)
            clashes = [s.target for s in change.synthetic if s.target in taken]
            carried = [(s.target, t) for s in change.synthetic if s.type == BIND and s.recursive
                       for t in there if paths.is_at_or_under(t, s.target)]
            if carried and not clashes:
                copy, ours = carried[0]
                verb = "link" if e.type == SYMLINK else "mount"
                out.append(Change(Action.CONFLICT, e, "cannot %s %s: the writable mimic of %s would put %s back as a "
                                  "copy, which carries livemount's own mount at %s along: a second mount of ours "
                                  "there; apply a profile without the entries below %s first, then this one (its "
                                  "mimics are then made together)" % (verb, e.target, d, copy, ours, d)))
            elif clashes:
                # The state records one mount per target: the copy and the entry there cannot both be ours.
                out.extend(Change(Action.CONFLICT, taken[t], "cannot %s %s: the writable mimic of %s for %s puts %s "
                                  "back as a copy of what %s holds there, and livemount records one mount per "
                                  "target; put this entry elsewhere, or make %s writable so that no mimic is needed"
                                  % ("link" if taken[t].type == SYMLINK else "mount", t, d, e.target, t, d, d))
                           for t in clashes)
            else:
                out.append(change)
    return out


# The actions after which an entry of the profile is in place at its target.
_IN_PLACE = (Action.MOUNT, Action.REPLACE, Action.LINK, Action.KEEP, Action.REMOUNT)
# The actions whose mount is already in place when the up phase starts (a replace's old one).
_THERE = (Action.KEEP, Action.REMOUNT, Action.REPLACE)


def plan_mimic(directory, entry, world, nested=None, gone=frozenset()):
    """Return the Action.MIMIC Change making read-only `directory` writable for `entry`.

    Its entry is the tmpfs (D's mode and owner, the per-mount flags of the
    mount holding D but writable); `synthetic` lists what goes back on it,
    parents first: a child directory in `nested` ({directory: entry}) is a
    tmpfs entry followed by what goes back on that one. `gone` names the
    targets the plan unmounts before the mimic (the down phase): what the
    copies show then is the mount below.
    """
    nested = nested or {}
    children = _put_back(directory, world, nested, gone)
    inner = [e for e in children if e.type == TMPFS]
    reason = "%s is read-only: writable mimic (tmpfs, %d entr%s put back) for %s" % (
        directory, len(children), "y" if len(children) == 1 else "ies", entry.target)
    if inner:
        reason += "; nested in it: %s" % ", ".join("%s for %s" % (e.target, nested[e.target].target) for e in inner)
    return Change(Action.MIMIC, _tmpfs(directory, world), reason, path=directory, synthetic=tuple(children),
                  synthetic_for=entry.target)


def _tmpfs(directory, world):
    """Return the tmpfs Entry mimicking `directory`: its mode and owner, the flags of the mount holding it but rw."""
    fact = world.fact(directory)
    holder = world.table.visible(directory)
    flags = frozenset(holder.flags) - {"ro"} if holder is not None else frozenset()
    opts = [("mode", "%o" % (fact.mode if fact.mode is not None else 0o755))]
    opts += [(k, str(v)) for k, v in (("uid", fact.uid), ("gid", fact.gid)) if v]
    return Entry(target=directory, type=TMPFS, flags=flags, fs_options=normalize_fs_options(TMPFS, opts),
                 mkdir=False, mode=fact.mode if fact.mode is not None else 0o755, uid=fact.uid or 0,
                 gid=fact.gid or 0)


def _put_back(directory, world, nested, gone):
    """Return the synthetic entries recreating `directory`'s children on its tmpfs, parents first."""
    children = []
    for name in world.listings.get(directory, ()):
        p = paths.join(directory, name)
        f = world.fact(p)
        point = dict(mode=f.mode if f.mode is not None else 0o755, uid=f.uid or 0, gid=f.gid or 0, mkdir=False)
        if f.kind == "dir" and p in nested:
            children.append(_tmpfs(p, world))
            children.extend(_put_back(p, world, nested, gone))
        elif f.kind in ("dir", "file"):
            # The copy keeps the flags of the mount it comes from: recorded as they are.
            shown = _shown_after(world, p, gone)
            children.append(Entry(target=p, type=BIND, source=p, recursive=f.kind == "dir",
                                  flags=frozenset(shown.flags) if shown is not None else frozenset(), **point))
        elif f.kind == "symlink":
            children.append(Entry(target=p, type=SYMLINK, source=f.link, **point))
    return children


def _shown_after(world, path, gone):
    """Return the LiveMount holding `path` once the mounts at `gone` targets are off (the down phase is done)."""
    if not any(paths.is_at_or_under(path, g) for g in gone):
        return world.table.visible(path)
    for anc in reversed(paths.ancestors(path) + [path]):
        stack = world.table.stack(anc)
        if anc in gone:
            stack = stack[:-1]
        if stack:
            return stack[-1]
    return None


def _parent(path):
    up = paths.ancestors(path)
    return up[-1] if up else None


# ---- observing -------------------------------------------------------------

def observe_mimic(system, world, targets):
    """Return `world` with the listing (and lstat of each child) of the read-only directory each target needs.

    That directory is the parent of the first missing path on the way to
    the target, when the mount holding it is read-only.
    """
    listings, facts = dict(world.listings), dict(world.facts)
    for t in sorted(targets):
        chain = paths.ancestors(t) + [t]
        missing = [p for p in chain if world.fact(p).kind == "missing"]
        if not missing or missing[0] == "/":
            continue
        d = paths.ancestors(missing[0])[-1]
        if d in listings or world.fact(d).kind != "dir" or not world.read_only(d, {}, {}, set()):
            continue
        names = tuple(system.listdir(d))
        listings[d] = names
        for n in names:
            p = paths.join(d, n)
            if p not in facts:
                facts[p] = system.lstat(p)
    return dataclasses.replace(world, listings=listings, facts=facts)


# ---- executing -------------------------------------------------------------

def exec_mimic(run, change):
    """Return True after putting the writable mimic of `change` in place (see the module docstring)."""
    d, tmpfs = change.target, change.entry
    copies = []
    for s in change.synthetic:
        if s.type != BIND:
            continue
        # Copied before the tmpfs hides them. D is read-only: what was listed is still there.
        h = run.system.clone(s.source, s.recursive)
        if not h.detached:
            # mount(2) binds by path when attached: by then the path shows the tmpfs.
            raise SysError("cannot mimic %s: a writable mimic needs the new mount api (open_tree)" % d,
                           errno.ENOSYS)
        copies.append((s, h))
    _attach_tmpfs(run, tmpfs)
    copy_of = {s.target: h for s, h in copies}
    for s in change.synthetic:
        # What is made in the tmpfs goes with it: only the mounts need their own undo.
        if s.type == SYMLINK:
            run.system.symlink(s.source, s.target)
            continue
        if s.type == TMPFS or s.recursive:
            run.system.mkdir(s.target, s.mode, s.uid, s.gid)
        else:
            run.system.mkfile(s.target, s.mode, s.uid, s.gid)
        if s.type == TMPFS:
            # A nested mimic: its children follow it in `synthetic`, copied before the outer tmpfs went on.
            _attach_tmpfs(run, s)
            continue
        ident = run.attach(copy_of[s.target], s.target)
        target = s.target
        # MNT_DETACH: a recursive copy carries the mounts below it (umount2(2) EBUSY otherwise).
        run.push("unmount %s from the mimic" % target, lambda t=target, i=ident: run.system.umount(t, True, i))
    return True


def _attach_tmpfs(run, tmpfs):
    """Return None after mounting the mimic tmpfs `tmpfs` (flags set before it is attached) and pushing its undo."""
    h = run.system.create_fs(TMPFS, TMPFS, tmpfs.fs_options)
    run.system.setattr(h, tmpfs.flags, None)
    ident = run.attach(h, tmpfs.target)
    run.push("unmount mimic tmpfs %s" % tmpfs.target, lambda: run.system.umount(tmpfs.target, False, ident))


def unmount_detached(change):
    """Return True when unmounting `change`'s entry must detach its whole subtree (a recursive mimic copy)."""
    return is_synthetic(change) and change.entry is not None and change.entry.type == BIND and change.entry.recursive
