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
from .model import SYMLINK, Action, Owned
from .mountinfo import LiveTable
from .state import State
from .steps import _tmp_name


def recover(state, header, records, world, entry_from_dict, lstat=None):
    """Return (new_state, finish_ops, messages) for an interrupted apply.

    `finish_ops` are (sys method name, args) still to perform: the detach of
    an old top left above its replacement by a swap cut in the middle, the
    removal of a temporary link. `lstat` (Sys.lstat) looks at journaled paths
    the world did not observe: the run may have been killed on its way to
    another profile than the one asked for now.
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
    new = State(state.profile, state.namespace, tuple(owned[t] for t in sorted(owned)), tuple(created),
                state.applied_at, state.profile_data)
    return new, finish, messages


def _recover_mimic(path, owned, world, finish):
    """Roll a mimic cut in the middle back: its tmpfs and what was bound back on it go at once.

    The synthetic entries are recorded only when the change completes, so a
    tmpfs on the read-only directory that nobody owns is the dead run's. One
    detaching unmount takes the tmpfs and every child mount on it
    (umount2(2) MNT_DETACH); the next plan mimics again if still needed.
    """
    top = world.table.top(path)
    if top is not None and top.fstype == "tmpfs" and path not in owned:
        finish.append(("umount", (path, True)))


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
