"""Directories a profile created that someone else's mount still uses: kept in its state, removed once unused.

Profile one creates /p for its mount /p/a; profile two mounts /p/b. When one
is destroyed, rmdir(2) of /p would fail (ENOTEMPTY: two's mount point is in
it), so the planner plans none (plan._rmdirs) and /p stays in one's state,
which then owns nothing else: a leftover. status shows it; every later run in
the namespace, of any profile, finishes that destroy once /p is unused.
"""

import dataclasses

from .errors import LivemountError, StateError
from .plan import to_perform
from .state import StateStore, list_profiles


def sweep(report, root, namespace_id, finish):
    """Add to `report` the removal of directories other profiles here left behind, now that they are unused.

    `finish(store)` runs the destroy of that store's profile under its own
    lock and returns its Report, or None when the state owns an entry again
    (applied since): no mount of another profile is ever touched. Check mode
    predicts from the table as it is now, before this run's own changes.
    """
    for name in list_profiles(root, namespace_id):
        store = StateStore(root, namespace_id, name)
        if name == report.profile or store.journal.exists():
            continue  # an interrupted apply is recovered by that profile's own run
        try:
            state = store.load()
        except StateError:
            continue  # status reports a state that cannot be trusted; its own run refuses it
        if state.owned or not state.created:
            continue
        try:
            swept = finish(store)
        except LivemountError as exc:
            report.warnings.append("cannot remove the directories profile %s left in %s: %s"
                                   % (name, namespace_id, exc))
            continue
        done = to_perform(swept.changes) if swept is not None else []
        report.changes.extend(dataclasses.replace(c, reason="left by profile %s, no longer in use" % name)
                              for c in done)
        if done:
            report.warnings.extend(swept.warnings)


def warn(report, state):
    """Add a warning to `report` for each directory `state` keeps only because someone else's mount uses it."""
    for p in state.leftovers():
        report.warnings.append(
            "kept %s: livemount created it, but another mount is still in or on it; it stays in the state of "
            "profile %s and goes with the first apply or destroy here that finds it unused" % (p, state.profile))


def mounted_in(world, path):
    """Return True when a live mount sits at or below `path` (rmdir(2) there fails: EBUSY or ENOTEMPTY)."""
    return world.table.top(path) is not None or bool(world.table.submounts(path))
