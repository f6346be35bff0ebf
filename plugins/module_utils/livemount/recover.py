"""Recovering from an apply that was killed: roll forward into the state, then plan afresh.

The documented choice: what the interrupted run managed to put in place is
adopted into the state (it is ours: the journal says we were making it), what
it removed is forgotten, a half-done atomic swap is finished, and the normal
plan then converges to whatever profile is asked for now. Every step of the
journal is examined against the live table, so the outcome is the same
whether the process died before, during or after a system call.
"""

import dataclasses

from . import match
from .errors import SysError
from .model import SYMLINK, Action, Owned
from .mountinfo import LiveTable
from .state import State
from .steps import _tmp_name


def recover(state, header, records, world, entry_from_dict, lstat=None, listdir=None):
    """Return (new_state, finish_ops, messages) for an interrupted apply.

    `finish_ops` are (Sys method name, args) still to perform: the detach of
    an old top left above its replacement by a swap cut in the middle, the
    removal of a temporary link. `lstat` (Sys.lstat) looks at journaled paths
    the world did not observe: the run may have been killed on its way to
    another profile than the one asked for now; `listdir` (Sys.listdir)
    looks into a fresh upper/work an interrupted upper_policy fresh made.
    """
    owned = state.by_target()
    created = list(state.created)
    finish = []
    begun = [r for r in records if r.get("kind") == "begin"]
    done = {r["n"] for r in records if r.get("kind") == "done"}

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
        if action == Action.MKDIR:
            if fact(path).kind != "missing" and path not in created:
                created.append(path)
        elif action == Action.RMDIR:
            if fact(path).kind == "missing" and path in created:
                created.remove(path)
        elif action in (Action.LINK, Action.UNLINK) or (entry or before).type == SYMLINK:
            if action == Action.REPLACE and fact(_tmp_name(path)).kind == "symlink":
                finish.append(("unlink", (_tmp_name(path),)))  # killed between creating and renaming it
            seen = fact(path)
            if entry is not None and action != Action.UNLINK and seen.kind == "symlink" and seen.link == entry.source:
                owned[path] = Owned(entry)
            elif action == Action.UNLINK and seen.kind == "missing":
                owned.pop(path, None)
        elif action == Action.MIMIC:
            _recover_mimic(path, owned, world, finish)
        elif action in (Action.MOUNT, Action.REPLACE, Action.UNMOUNT, Action.REMOUNT):
            _recover_mount(action, path, entry, before, owned, world, finish)
    messages = ["recovered an interrupted apply (plan %s, %d of %d steps done): adopted what it made, "
                "then planned afresh" % (header.get("plan_id", "?"), len(done), header.get("steps", 0))]
    targets = {r["n"]: r["path"] for r in begun}
    asides = [r for r in records if r.get("kind") == "aside" and r.get("n") in targets]
    if asides:
        settled = after_finish(world, finish)
        for r in reversed(asides):  # the work was moved after the upper: put back in reverse
            messages.append(_recover_aside(r, targets[r["n"]], settled, fact, listdir, finish))
    new = State(state.profile, state.namespace, tuple(owned[t] for t in sorted(owned)), tuple(created),
                state.applied_at, state.profile_data)
    return new, finish, messages


def _recover_mimic(path, owned, world, finish):
    """Roll a mimic cut in the middle back: its tmpfs and what was bound back on it go at once.

    The synthetic entries are recorded only when the change completes, so a
    tmpfs on the read-only directory that nobody owns is the dead run's. One
    detaching unmount takes the tmpfs and every child mount on it
    (umount2(2) MNT_DETACH), a nested mimic's inner tmpfs included (it is
    made by the same change); the next plan mimics again if still needed.
    """
    top = world.table.top(path)
    if top is not None and top.fstype == "tmpfs" and path not in owned:
        finish.append(("umount", (path, True)))


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


def _recover_mount(action, path, entry, before, owned, world, finish):
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
    if (action == Action.REPLACE and prev is not None and len(stack) >= 2
            and match.same_identity(prev.entry, top, world, prev)
            and match.same_identity(entry, stack[-2], world, None)):
        # Cut between "attach beneath" and "detach the old top": finish the swap.
        finish.append(("umount", (path, True)))
        owned[path] = Owned(entry)
        return
    if (action == Action.REPLACE and prev is not None and len(stack) >= 2
            and match.same_identity(entry, top, world, None)
            and match.same_identity(prev.entry, stack[-2], world, prev)):
        # An undo cut while swapping back: the old mount is restored beneath
        # the new one, which could not be taken off. Take both off; the new
        # plan mounts the entry again (drift repair), leaving nothing below.
        finish.extend([("umount", (path, True)), ("umount", (path, True))])
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
