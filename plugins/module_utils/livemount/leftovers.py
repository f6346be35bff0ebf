"""Directories a profile created that someone else's mount still uses: kept in its state, removed once unused.

Profile one creates /p for its mount /p/a; profile two mounts /p/b. When one
is destroyed, rmdir(2) of /p would fail (ENOTEMPTY: two's mount point is in
it), so the planner plans none (plan._rmdirs) and /p stays in one's state,
which then owns nothing else: a leftover. status shows it; every later run in
the namespace, of any profile, finishes that destroy once /p is unused.
"""

import dataclasses

from . import paths
from .errors import LivemountError, StateError
from .plan import to_perform
from .state import StateStore, is_reset_store, list_profiles

_MAX_ROUNDS = 8  # leftovers nested that deep across profiles go in one run; deeper ones with the next


def sweep(report, root, namespace_id, finish):
    """Add to `report` the removal of directories other profiles here left behind, now that they are unused.

    `finish(store)` runs the destroy of that store's profile under its own
    lock and returns its Report, or None when, under that lock, the state
    owns an entry or has a journal (its own run recovers it): no mount of
    another profile is ever touched. Nothing is judged before that lock is
    held: a run of that profile going on right now (a destroy about to keep
    a directory this very run just freed) is waited for, so that two runs
    at once over a shared parent leave nothing behind. A leftover inside
    another one (profile two made /p/q inside the /p profile one made) frees
    the outer one only once it is gone: the sweep goes round again while a
    round removed something (check mode, which removes nothing, goes once).
    From the second round on that includes this run's own profile: a
    directory it kept because another profile's leftover was in it is
    unused once the sweep removed that one.
    """
    gone = set()
    for _round in range(_MAX_ROUNDS):
        progress = False
        for name in list_profiles(root, namespace_id):
            store = StateStore(root, namespace_id, name)
            if (name == report.profile and not _round) or is_reset_store(name) or name in gone:
                continue
            try:
                swept = finish(store)
            except StateError:
                continue  # status reports a state that cannot be trusted; its own run refuses it
            except LivemountError as exc:
                report.warnings.append("cannot remove the directories profile %s left in %s: %s"
                                       % (name, namespace_id, exc))
                gone.add(name)
                continue
            done = to_perform(swept.changes) if swept is not None else []
            why = ("kept above while in use, no longer in use" if name == report.profile
                   else "left by profile %s, no longer in use" % name)
            report.changes.extend(dataclasses.replace(c, reason=why) for c in done)
            if name == report.profile and done:
                # Its own "kept X" warnings said X stays: not any more.
                freed = tuple("kept %s: livemount created it," % c.target for c in done)
                report.warnings[:] = [w for w in report.warnings if not w.startswith(freed)]
            if done:
                report.warnings.extend(swept.warnings)
                progress = swept.mode == "apply"
            if swept is None or not store.exists():
                gone.add(name)
        if not progress:
            return


def warn(report, state):
    """Add a warning to `report` for each directory `state` keeps only because someone else's mount uses it."""
    for p in state.leftovers():
        report.warnings.append(
            "kept %s: livemount created it, but another mount is still in or on it; it stays in the state of "
            "profile %s and goes with the first apply or destroy here that finds it unused" % (p, state.profile))


def mounted_in(world, path):
    """Return True when a live mount sits at or below `path` (rmdir(2) there fails: EBUSY or ENOTEMPTY)."""
    return world.table.top(path) is not None or bool(world.table.submounts(path))


def in_use(world, path):
    """Return True when a live mount, or an entry another profile here owns, is at or below `path`."""
    return mounted_in(world, path) or any(paths.is_at_or_under(t, path) for t in world.others)


def neighbours(root, namespace_id, name):
    """Return (paths, owners) of the other profiles of this namespace, read without locks.

    `paths` is what they own or made (links, mounts, directories): a
    directory a profile created that holds one of them is kept in its state
    (a leftover) until a later run finds it unused. `owners` maps each target
    they own to (profile, Owned): a conflict names the profile whose mount
    is in the way. Unreadable states count for nothing: status reports them.
    """
    out, owners = set(), {}
    for other in list_profiles(root, namespace_id):
        if other == name:
            continue
        try:
            st = StateStore(root, namespace_id, other).load()
        except StateError:
            continue
        for o in st.owned:
            out.add(o.entry.target)
            owners[o.entry.target] = (other, o)
        out.update(st.created)
    return frozenset(out), owners
