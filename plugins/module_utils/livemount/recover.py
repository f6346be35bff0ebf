"""Recovering from an apply that was killed: roll forward into the state, then plan afresh.

The documented choice: what the interrupted run managed to put in place is
adopted into the state (it is ours: the journal says we were making it), what
it removed is forgotten, a half-done atomic swap is finished, and the normal
plan then converges to whatever profile is asked for now. Every step of the
journal is examined against the live table, so the outcome is the same
whether the process died before, during or after a system call.

Which mount is whose comes from the journal, never from what merely sits at
a path (journal version 2, apply.JOURNAL_VERSION): each `begin` names the
mount the step was to act on (`live`), and each mount the run attached has
an `attach` record written before it appeared. A mount is adopted only when
it is one of those; anything else at that path is foreign, even an exact
look-alike. A journal from before version 2 names no mount: its steps adopt
only what can be recognised without a record (a bind, an overlay, a device),
never an anonymous filesystem such as a tmpfs.
"""

import dataclasses

from . import match, paths
from .errors import SysError
from .model import SYMLINK, Action, Ident, Owned
from .mountinfo import LiveTable
from .state import State
from .steps import _tmp_name


def _link_there(seen, entry):
    """Return True when PathFact `seen` is a symlink with `entry`'s content."""
    return seen.kind == "symlink" and seen.link == entry.source


def recover(state, header, records, world, entry_from_dict, lstat=None, listdir=None, marker=None):
    """Return (new_state, finish_ops, messages) for an interrupted apply.

    `finish_ops` are (Sys method name, args) still to perform: the detach of
    an old top left above its replacement by a swap cut in the middle, the
    removal of a temporary link. `lstat` (Sys.lstat) looks at journaled paths
    the world did not observe: the run may have been killed on its way to
    another profile than the one asked for now; `listdir` (Sys.listdir)
    looks into a fresh upper/work an interrupted upper_policy fresh made;
    `marker` (Sys.marker) tells, on a kernel without unique mount ids, whether
    the mount at a path is the superblock an `attach` record names.
    """
    owned = state.by_target()
    created = list(state.created)
    ids = state.ids_of()
    finish = []
    begun = [r for r in records if r.get("kind") == "begin"]
    done = {r["n"] for r in records if r.get("kind") == "done"}
    named = (header.get("version") or 1) >= 2  # the journal names the mounts (module doc)
    attached = {}  # step -> [(path, role, Ident)] in the order they were attached
    for r in records:
        if r.get("kind") == "made":
            ids.setdefault(r["path"], set()).add(tuple(r["ident"]))  # a directory the run made (dirs.made)
        if r.get("kind") == "attach":
            ident = Ident.from_dict(r["ident"])
            if ident.unique is None or not world.table.has_unique_ids:
                ident = _Fallback(ident, r.get("marker"), marker)
            attached.setdefault(r["n"], []).append((r["path"], r["role"], ident))

    def fact(path):
        known = world.facts.get(path)
        if known is not None or lstat is None:
            return world.fact(path)
        return lstat(path)

    for r in begun:
        action = Action(r["action"])
        path = r["path"]
        entry = entry_from_dict(r["entry"]) if r.get("entry") else None
        before = entry_from_dict(r["before"]) if r.get("before") else None
        if action == Action.FORGET:
            # It changed nothing but the state, which the dead run never saved: forget here as it would have.
            # Left to the next plan, the forget of a mount gone since before the dead run would take the
            # directories it then made below that target for the old mount's content (engine.next_state).
            owned.pop(path, None)
            if (before or entry) is not None and (before or entry).is_mount:
                created = [p for p in created if not paths.is_under(p, path)]
            continue
        if action in (Action.MKDIR, Action.RMDIR):
            seen = fact(path)
            if action == Action.MKDIR and seen.kind != "missing" and path not in created:
                created.append(path)
            elif action == Action.RMDIR and seen.kind == "missing" and path in created:
                created.remove(path)
            if path in created and seen.identity is not None and world.table.top(path) is None:
                # The directory at a path the dead run made, or removed and its undo made again, is another
                # inode than any recorded: it is the run's own (under a mount, lstat would see the mount's root).
                ids.setdefault(path, set()).add(seen.identity)
        elif action in (Action.LINK, Action.UNLINK) or (entry or before).type == SYMLINK:
            if action == Action.REPLACE and fact(_tmp_name(path)).kind == "symlink":
                finish.append(("unlink", (_tmp_name(path),)))  # killed between creating and renaming it
            seen = fact(path)
            if entry is not None and action != Action.UNLINK and seen.kind == "symlink" and seen.link == entry.source:
                owned[path] = Owned(entry)
            elif action == Action.UNLINK and (r["n"] in done or not _link_there(seen, before or entry)):
                # Done: gone, whatever is at the path now (a mimic's link, once its tmpfs is gone, shows the
                # original it copied).
                # Gone, or something else in its place since: a later step of the dead run may have made
                # the mount point of the entry that replaces the link there.
                owned.pop(path, None)
        elif action == Action.MIMIC:
            if named:
                _recover_mimic(path, owned, world, finish, attached.get(r["n"], []))
        elif action in (Action.MOUNT, Action.REPLACE, Action.UNMOUNT, Action.REMOUNT):
            if named:
                live = Ident.from_dict(r["live"]) if r.get("live") else None
                _recover_mount(action, path, entry, before, live, attached.get(r["n"], []), owned, world, finish)
            else:
                _recover_unnamed(action, path, entry, before, owned, world, finish)
    messages = ["recovered an interrupted apply (plan %s, %d of %d steps done): adopted what it made, "
                "then planned afresh" % (header.get("plan_id", "?"), len(done), header.get("steps", 0))]
    targets = {r["n"]: r["path"] for r in begun}
    asides = [r for r in records if r.get("kind") == "aside" and r.get("n") in targets]
    if asides:
        settled = after_finish(world, finish)
        for r in reversed(asides):  # the work was moved after the upper: put back in reverse
            messages.append(_recover_aside(r, targets[r["n"]], settled, fact, listdir, finish))
    new = State(state.profile, state.namespace, tuple(owned[t] for t in sorted(owned)), tuple(created),
                state.applied_at, state.profile_data,
                tuple((p, i) for p in sorted(set(created)) for i in sorted(ids.get(p, ()))))
    return new, finish, messages


def _recover_mimic(path, owned, world, finish, attached):
    """Roll a mimic cut in the middle back: its tmpfs and what was bound back on it go at once.

    The synthetic entries are recorded only when the change completes, so
    the tmpfs the dead run attached on the read-only directory (its `attach`
    record names it) is nobody's yet. One detaching unmount takes the tmpfs
    and every child mount on it (umount2(2) MNT_DETACH), a nested mimic's
    inner tmpfs included (it is made by the same change); the next plan
    mimics again if still needed. Any other mount there is left alone.
    """
    top = world.table.top(path)
    if top is None or path in owned:
        return
    if any(p == path and _here(world.table, ident, path) is top for p, _role, ident in attached):
        finish.append(("umount", (path, True, top.ident)))


def _recover_aside(rec, target, world, fact, listdir, finish):
    """Return what was done about one upper/work an interrupted upper_policy fresh moved aside.

    While the old overlay (its device is in the record) is still the top
    mount at the target, it runs on the moved directory: the move is undone
    (after removing the fresh directory made in its place, if that holds
    nothing but what overlayfs makes in a new work directory). Otherwise the
    new overlay took over, or nothing is mounted: the old one is kept aside.
    """
    old, aside = rec["from"], rec["to"]
    top = world.table.top(target)
    if fact(aside).kind != "dir":
        return "kept %s: its old content is not at %s" % (old, aside)
    if top is None or tuple(top.dev) != tuple(rec.get("dev") or ()):
        return "kept the old %s of overlay %s at %s" % (old, target, aside)
    here = fact(old)
    if here.kind != "missing":
        doomed = _fresh_tree(old, listdir) if here.kind == "dir" else None
        if doomed is None:
            return "cannot move %s back to %s: %s is not an empty fresh directory; the old overlay at %s runs " \
                   "on %s" % (aside, old, old, target, aside)
        finish.extend(("rmdir", (p,)) for p in doomed)
    finish.append(("rename", (aside, old)))
    return "moved %s back to %s: the old overlay at %s is still the one mounted" % (aside, old, target)


def _fresh_tree(path, listdir, depth=0):
    """Return the directories to remove, deepest first, if `path` holds only empty directories overlayfs makes."""
    if listdir is None:
        return None
    try:
        names = listdir(path)
    except (OSError, SysError):
        return None
    out = []
    for name in names:
        if depth > 2 or name not in ("work", "index", "incompat", "volatile"):
            return None
        below = _fresh_tree(path + "/" + name, listdir, depth + 1)
        if below is None:
            return None
        out.extend(below)
    return out + [path]


class _Fallback:
    """An attach record's mount on a kernel without unique ids: mountinfo id and device, and its marker.

    The mountinfo id and the anonymous device of a detached mount the dead
    run made are free again once it died, and the next mount made anywhere
    may get both: only the marker (kernel/identity.py) of the top mount at
    the path tells that one from the run's. Without a marker it is not the run's.
    """

    def __init__(self, ident, recorded, read):
        self.ident, self.recorded, self.read = ident, recorded, read

    def matches(self, other, path=None, top=None):
        """Return True when LiveMount ident `other`, the top mount at `path`, is the recorded one."""
        if not self.ident.matches(other) or self.recorded is None or self.read is None or path is None:
            return False
        return top is not None and top.ident == other and self.read(path) == self.recorded


def _here(table, ident, path):
    """Return the live mount `ident` names if it is (still) mounted at `path`, hidden or not, else None."""
    if ident is None:
        return None
    if isinstance(ident, _Fallback):
        top = table.top(path)
        return top if top is not None and ident.matches(top.ident, path, top) else None
    if ident.unique is not None and table.has_unique_ids:
        m = table.by_unique(ident.unique)
        return m if m is not None and m.mount_point == path else None
    return next((m for m in table.stack(path) if ident.matches(m.ident)), None)


def _on(upper, lower):
    """Return True when mount `upper` sits directly on mount `lower` (stacked at the same path)."""
    return upper.parent_id == lower.mount_id and upper.mount_point == lower.mount_point


def _recover_mount(action, path, entry, before, live, attached, owned, world, finish):
    """Judge one begun mount step of a journal that names its mounts (module doc).

    `live` is the mount the step was to act on; `attached` what the run
    attached: "new" for the step's entry, "old" for an undo putting the
    replaced or unmounted entry back (a copy, or mounted afresh).
    """
    if action == Action.REMOUNT:
        return  # settings differ at worst; the new plan remounts again
    table = world.table
    old = _here(table, live, path)
    new = restored = None
    for p, role, ident in attached:
        m = _here(table, ident, p) if p == path else None
        if m is not None and role == "new":
            new = m
        elif m is not None:
            restored = m
    prev = owned.get(path)
    back = prev.entry if prev is not None else (before or entry)
    if new is not None and old is not None and _on(old, new):
        # Cut between "attach beneath" and "detach the old top": finish the swap.
        finish.append(("umount", (path, True, old.ident)))
        owned[path] = Owned(entry).seen_as(new)
    elif new is not None and restored is not None and _on(new, restored):
        # An undo cut while swapping back: the old mount is back beneath the new one. Take the new one off.
        finish.append(("umount", (path, True, new.ident)))
        owned[path] = _kept(prev, back).seen_as(restored)
    elif restored is not None and new is None:
        owned[path] = _kept(prev, back).seen_as(restored)  # an undo put it back
    elif new is not None:
        owned[path] = Owned(entry).seen_as(new)
    elif old is not None:
        if prev is not None and prev.unique is None:
            owned[path] = prev.seen_as(old)  # a state from before unique ids learns which mount it is
    elif action in (Action.REPLACE, Action.UNMOUNT):
        owned.pop(path, None)  # the mount it acted on is gone, and nothing of the run's is there


def _kept(prev, entry):
    """Return the record of an entry put back by an undo: the state's, or a new one."""
    return prev if prev is not None else Owned(entry)


def _recover_unnamed(action, path, entry, before, owned, world, finish):
    """Judge one begun mount step of a journal from before version 2 (no mount named): recognisable ones only."""
    stack = world.table.stack(path)
    top = stack[-1] if stack else None
    if action == Action.UNMOUNT:
        prev = owned.get(path)
        if prev is not None and (top is None or not match.same_identity(prev.entry, top, world, prev)):
            owned.pop(path, None)
        return
    if action == Action.REMOUNT:
        return  # settings differ at worst; the new plan remounts again
    if top is None or entry is None:
        if action == Action.REPLACE:
            owned.pop(path, None)
        return
    prev = owned.get(path)
    if not match.has_identity(entry):
        return  # a tmpfs and the like cannot be told from someone else's without the mount named
    if (action == Action.REPLACE and prev is not None and len(stack) >= 2
            and match.same_identity(prev.entry, top, world, prev)
            and match.same_identity(entry, stack[-2], world, None)):
        # Cut between "attach beneath" and "detach the old top": finish the swap.
        finish.append(("umount", (path, True, top.ident)))
        owned[path] = Owned(entry)
        return
    if match.same_identity(entry, top, world, None):
        owned[path] = Owned(entry)


def after_finish(world, finish):
    """Return `world` as it will be once the `finish` ops are done: what check mode plans against.

    Check mode performs nothing, but planning against the table with the
    half-done swap still in it would see our old mount on top of our new one
    and call it foreign.
    """
    table = world.table
    for name, args in finish:
        top = table.top(args[0]) if name == "umount" else None
        if top is None:
            continue
        gone = {top.mount_id}
        # A detaching unmount takes the mounts on top of it along (umount2(2) MNT_DETACH).
        grew = True
        while grew:
            above = {m.mount_id for m in table.mounts if m.parent_id in gone and m.mount_id not in gone}
            gone |= above
            grew = bool(above)
        table = LiveTable([m for m in table.mounts if m.mount_id not in gone])
    return world if table is world.table else dataclasses.replace(world, table=table)
