"""How each entry a profile owns is doing in the live table: `livemount status` and the modules' `health`.
"""

import dataclasses

from . import match
from .errors import LivemountError


def entry_health(own, world):
    """Return {target, type, health, detail} of owned entry `own` in `world`: ok, missing, drifted or foreign on top.

    A mount is judged by identity (match.same_identity), never by its path:
    someone else's mount on top of ours is "foreign on top", not ours drifted.
    """
    e = own.entry
    d = {"target": e.target, "type": e.type}
    if not e.is_mount:
        fact = world.fact(e.target)
        ok = fact.kind == "symlink" and fact.link == e.source
        d.update(health="ok" if ok else ("missing" if fact.kind == "missing" else "drifted"),
                 detail="" if ok else "link is %s" % (fact.link or fact.kind))
        return d
    stack = world.table.stack(e.target)
    if not stack:
        d.update(health="missing", detail="not mounted")
    elif not match.same_identity(e, stack[-1], world, own):
        ours = any(match.same_identity(e, m, world, own) for m in stack)
        d.update(health="foreign on top" if ours else "drifted",
                 detail="%s %s is mounted there" % (stack[-1].fstype, stack[-1].source))
    else:
        diffs = match.setting_diffs(e, stack[-1], world, own)
        d.update(health="drifted" if diffs else "ok", detail="; ".join(diffs))
    return d


def health_of(state, world):
    """Return the health dicts of every entry `state` owns, as status() gives them."""
    return [entry_health(o, world) for o in state.owned]


def not_applied(state):
    """Return status rows for the entries of the profile last applied that the state does not own.

    With on_error: continue, a failed step is undone alone and what depends
    on it is skipped: the state owns only what is in place, and these rows
    keep status from calling the rest healthy.
    """
    from .profile.load import load_profile

    if state.profile_data is None or not state.owned:
        return []  # nothing of it in place: a destroy's leftovers (or nothing applied at all, as apply said)
    try:
        wanted = load_profile(state.profile_data).entries
    except LivemountError:
        return []  # a profile this version refuses: its own apply says why
    owned = {o.entry.target for o in state.owned}
    return [{"target": e.target, "type": e.type, "health": "not applied",
             "detail": "in the profile last applied, but not in place (its step failed or was skipped)"}
            for e in wanted if e.target not in owned]


def links_looked_at_again(system, state, world):
    """Return `world` with the owned symlinks lstat'ed again: the facts observed before the apply predate them."""
    links = {o.entry.target: system.lstat(o.entry.target) for o in state.owned if not o.entry.is_mount}
    return dataclasses.replace(world, facts=dict(world.facts, **links)) if links else world
