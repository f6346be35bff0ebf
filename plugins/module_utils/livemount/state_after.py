"""The State an apply leaves: what the profile owns and created after its changes, each mount located in the
table by the identity it has now.
"""

import dataclasses

from . import leftovers, match, paths
from .model import Action, Owned
from .observe import refresh_table
from .state import State, now


def next_state(state, changes, outcome, world, profile_data):
    """Return the State after `changes` were planned and `outcome` (None: nothing performed) was applied."""
    owned = state.by_target()
    # {created path: step that made it (-1: before this run)} and {mount target: last step that took it
    # down}: a path is still ours unless a mount above it went after it was made. Filtering the list at
    # each unmount made a destroy quadratic (bench/plan_scale.py).
    created = dict.fromkeys(state.created, -1)
    went = {}

    def ours(p):
        return p in created and not any(went.get(a, -1) > created[p] for a in paths.ancestors(p))

    for c in changes:
        if c.action == Action.KEEP:
            owned[c.target] = _refresh(c.entry, owned.get(c.target), c.live if c.adopt else None)
    for k, (c, _changed, made) in enumerate(outcome.done if outcome else []):
        if c.action in (Action.REPLACE, Action.UNMOUNT, Action.FORGET) and c.entry is not None and c.entry.is_mount:
            # A path we created below this mount lived in the filesystem that
            # just went away; the same path now names someone else's file.
            went[c.target] = k
        if c.action == Action.REMOUNT and c.target in owned:
            owned[c.target] = dataclasses.replace(owned[c.target], entry=c.entry)  # the same mount, changed
        elif c.action in (Action.MOUNT, Action.REPLACE, Action.LINK, Action.REMOUNT):
            owned[c.target] = Owned(c.entry, synthetic_for=getattr(owned.get(c.target), "synthetic_for", None))
        elif c.action == Action.MIMIC:
            for e in (c.entry,) + c.synthetic:
                owned[e.target] = Owned(e, synthetic_for=c.synthetic_for)
        elif c.action in (Action.UNMOUNT, Action.UNLINK, Action.FORGET):
            owned.pop(c.target, None)
        elif c.action == Action.MKDIR:
            for p in made:
                if not ours(p):
                    created.pop(p, None)
                    created[p] = k  # made again after it went: last in the list, as if appended
        elif c.action == Action.RMDIR and ours(c.target):
            # A directory kept because a mount arrived in or on it since the
            # plan (steps._rmdir: EBUSY, ENOTEMPTY), or an entry of another
            # profile is in it, stays ours to remove later.
            if _changed or not leftovers.in_use(world, c.target):
                del created[c.target]
    created = [p for p in created if ours(p)]
    attached = outcome.attached_at() if outcome else {}
    final = [located(owned[t], world, attached.get(t)) if owned[t].entry.is_mount else owned[t] for t in sorted(owned)]
    return State(state.profile, state.namespace or world.namespace, tuple(final), tuple(created), now(),
                 profile_data if profile_data is not None else state.profile_data,
                 created_ids(state, created, outcome))


def created_ids(state, created, outcome=None):
    """Return State.created_ids for paths `created`: the recorded ones, plus those made, minus those removed."""
    ids = state.ids_of()
    for p, ident in outcome.made_ids if outcome else ():
        ids.setdefault(p, set()).add(tuple(ident))
    for p, ident in outcome.removed_ids if outcome else ():
        ids.get(p, set()).discard(tuple(ident))
    return tuple((p, ident) for p in sorted(set(created)) for ident in sorted(ids.get(p, ())))


def located(own, world, attached=None):
    """Return the record `own` completed with which mount it is and what that mount is, as the table shows it.

    `attached` ((Ident, marker), from Outcome.attached) is the mount this run
    attached at the target: that one, wherever it is in the stack. Else the
    recorded mount itself (match.find_recorded: by unique id; for a record
    from before unique ids, the top mount when it is the entry's, and its
    id is recorded from now on). Not found: the record stays as it was.
    """
    table = world.table
    marker = own.marker
    if attached is not None:
        ident, marker = attached
        m = table.by_unique(ident.unique) if ident.unique is not None else _by_mountinfo_id(table, own, ident)
    else:
        m = match.find_recorded(own, table, world)
    return own if m is None else own.seen_as(m, marker)


def _by_mountinfo_id(table, own, ident):
    """Return the top mount at the target when it is `ident` by mountinfo id and device (kernels before 6.8)."""
    top = table.top(own.entry.target)
    return top if top is not None and ident.matches(top.ident) else None


def learn_restored(store, state, outcome, system, world):
    """Save the state again when a rollback put one of our mounts back as another mount (a copy, or made afresh).

    An undo puts an unmounted mount back from its detached copy, or without
    a copy (overlays, the classic mount(2) API) mounts the entry again:
    either way a mount with a new unique id (and, made afresh, a new
    device). The state must learn it, or the next run takes our own mount
    for a foreign one. A mount the rollback took away again is not found
    and changes nothing.
    """
    attached = outcome.attached_at()
    ids = created_ids(state, state.created, outcome)  # directories an undo made again are other inodes
    if not any(o.entry.target in attached for o in state.owned) and ids == state.created_ids:
        return
    after = refresh_table(system, world)
    owned = tuple(located(o, after, attached[o.entry.target]) if o.entry.target in attached else o
                  for o in state.owned)
    if owned != state.owned or ids != state.created_ids:
        store.save(dataclasses.replace(state, owned=owned, created_ids=ids))


def _refresh(entry, old, adopted=None):
    """Return the record of a kept entry: the old one with this entry, or for an adopted mount that very mount."""
    if old is None:
        return Owned(entry) if adopted is None else Owned(entry).seen_as(adopted)
    return dataclasses.replace(old, entry=entry)
