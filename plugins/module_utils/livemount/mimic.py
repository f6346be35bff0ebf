"""The writable mimic: a mount point inside a read-only directory (scenario 28).

An entry that allows it (`mimic: true`) may have its mount point created in a
read-only directory D this way (reconciler-design.md, "Writable mimic"):
every child of D is copied as a detached mount first (open_tree(2)
OPEN_TREE_CLONE, recursively for directories, so mounts below them come
along), a tmpfs with D's mode and owner goes on D, each child gets a mount
point in it and its copy attached there, symlinks are recreated. Devices,
sockets and fifos are skipped. D then shows its old content and is writable.

The tmpfs and what went back on it are recorded as synthetic entries tied to
the entry that needed them (Owned.synthetic_for): the planner keeps them
while that entry is in the profile, and removes them with
it (children first, then the tmpfs), which leaves D exactly as it was.

plan_mimic() decides (pure); exec_mimic() performs one mimic change through
the Sys, pushing an undo after each call that changed something.
"""

import dataclasses
import errno

from . import paths
from .errors import SysError
from .model import BIND, SYMLINK, TMPFS, Action, Change, Entry
from .options import normalize_fs_options
from .sys_classic import PendingMount


# ---- planning (pure) -------------------------------------------------------

def allowed(profile):
    """Return the targets of `profile`'s entries that allow a writable mimic (a frozenset)."""
    reserved_for = getattr(profile, "reserved_for", None)
    if reserved_for is None:
        return frozenset()
    # Profile.reserved runs parallel to Profile.entries.
    return frozenset(e.target for i, e in enumerate(profile.entries) if reserved_for(i).mimic)


def carried(owned, desired):
    """Return {target: Entry} of the synthetic entries to keep: the entry that needed them is still desired.

    Even with `mimic` turned off since: its mount point lives in the tmpfs,
    and taking the mimic away under it would need that mount point again.
    """
    return {o.entry.target: o.entry for o in owned
            if o.synthetic_for is not None and o.synthetic_for in desired and o.entry.target not in desired}


def is_synthetic(change):
    """Return True when `change` acts on an entry recorded as part of a writable mimic."""
    return change.before is not None and change.before.synthetic_for is not None


def can_mimic(directory, world, fresh):
    """Return True when read-only `directory` may be mimicked: it was listed and no fresh mount covers it."""
    return directory in world.listings and not any(paths.is_at_or_under(directory, f) for f in fresh)


def plan_mimic(directory, entry, world):
    """Return the Action.MIMIC Change making read-only `directory` writable for `entry`.

    Its entry is the tmpfs (D's mode and owner, the per-mount flags of the
    mount holding D but writable); `synthetic` lists what goes back on it.
    """
    fact = world.fact(directory)
    holder = world.table.visible(directory)
    flags = frozenset(holder.flags) - {"ro"} if holder is not None else frozenset()
    opts = [("mode", "%o" % (fact.mode if fact.mode is not None else 0o755))]
    opts += [(k, str(v)) for k, v in (("uid", fact.uid), ("gid", fact.gid)) if v]
    tmpfs = Entry(target=directory, type=TMPFS, flags=flags, fs_options=normalize_fs_options(TMPFS, opts),
                  mkdir=False, mode=fact.mode if fact.mode is not None else 0o755, uid=fact.uid or 0,
                  gid=fact.gid or 0)
    children = []
    for name in world.listings.get(directory, ()):
        p = paths.join(directory, name)
        f = world.fact(p)
        point = dict(mode=f.mode if f.mode is not None else 0o755, uid=f.uid or 0, gid=f.gid or 0, mkdir=False)
        if f.kind in ("dir", "file"):
            # The copy keeps the flags of the mount it comes from: recorded as they are.
            shown = world.table.visible(p)
            children.append(Entry(target=p, type=BIND, source=p, recursive=f.kind == "dir",
                                  flags=frozenset(shown.flags) if shown is not None else frozenset(), **point))
        elif f.kind == "symlink":
            children.append(Entry(target=p, type=SYMLINK, source=f.link, **point))
    return Change(Action.MIMIC, tmpfs, "%s is read-only: writable mimic (tmpfs, %d entr%s put back) for %s"
                  % (directory, len(children), "y" if len(children) == 1 else "ies", entry.target),
                  path=directory, synthetic=tuple(children), synthetic_for=entry.target)


# ---- observing -------------------------------------------------------------

def observe_mimic(sys, world, targets):
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
        names = tuple(sys.listdir(d))
        listings[d] = names
        for n in names:
            p = paths.join(d, n)
            if p not in facts:
                facts[p] = sys.lstat(p)
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
        h = run.call("clone", s.source, s.recursive)
        run.handles.append(h)
        if isinstance(h, PendingMount):
            # mount(2) binds by path when attached: by then the path shows the tmpfs.
            raise SysError("cannot mimic %s: a writable mimic needs the new mount api (open_tree)" % d,
                           errno.ENOSYS)
        copies.append((s, h))
    h = run.call("create_fs", TMPFS, TMPFS, tmpfs.fs_options)
    run.handles.append(h)
    run.call("setattr", h, tmpfs.flags, None)
    run.call("attach", h, d, False)
    run.push("unmount mimic tmpfs %s" % d, lambda: run.call("umount", d, False))
    copy_of = {s.target: h for s, h in copies}
    for s in change.synthetic:
        # What is made in the tmpfs goes with it: only the mounts need their own undo.
        if s.type == SYMLINK:
            run.call("symlink", s.source, s.target)
            continue
        if s.recursive:
            run.call("mkdir", s.target, s.mode, s.uid, s.gid)
        else:
            run.call("mkfile", s.target, s.mode, s.uid, s.gid)
        run.call("attach", copy_of[s.target], s.target, False)
        target = s.target
        # MNT_DETACH: a recursive copy carries the mounts below it (umount2(2) EBUSY otherwise).
        run.push("unmount %s from the mimic" % target, lambda t=target: run.call("umount", t, True))
    return True


def unmount_detached(change):
    """Return True when unmounting `change`'s entry must detach its whole subtree (a recursive mimic copy)."""
    return is_synthetic(change) and change.entry is not None and change.entry.type == BIND and change.entry.recursive
