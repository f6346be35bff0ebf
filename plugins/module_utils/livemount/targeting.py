"""select(changes, targets) -> [Change]: a plan limited to some paths and what they need, like terraform's -target.

What a path needs: everything at or below it (a child goes with its parent)
and what makes the way to it (a parent directory to create, a parent entry
to mount, remount or replace). A parent that is mounted or replaced puts
back everything below it (plan._rebuild_children), so its whole subtree
comes along. What only tidies up above a path (unmounting a parent entry that
left the profile, removing a directory livemount made) is not needed by it:
it stays for a run without --target.
"""

from . import paths
from .model import Action

# Changes above a chosen path that make the way to it.
_WAY_UP = (Action.MKDIR, Action.MOUNT, Action.REMOUNT, Action.REPLACE, Action.LINK, Action.MIMIC, Action.KEEP,
           Action.CONFLICT)
# Of those, the ones that put a fresh mount at their target: what is below comes down and goes back up.
_REBUILDS = (Action.MOUNT, Action.REPLACE, Action.MIMIC)


def select(changes, targets):
    """Return the changes of the ordered plan `changes` that `targets` (clean absolute paths) need, in plan order."""
    chosen = set(targets)
    while True:
        above = {a for t in chosen for a in paths.ancestors(t)}
        picked = [c for c in changes if _at_or_under(c.target, chosen)
                  or (c.target in above and c.action in _WAY_UP)]
        wider = {c.target for c in picked if c.action in _REBUILDS} - chosen
        if not wider:
            return picked
        chosen |= wider


def unmatched(changes, targets):
    """Return the targets no change of `changes` is at, above or below (a --target that names nothing)."""
    out = []
    for t in targets:
        if not any(paths.is_at_or_under(c.target, t) or paths.is_at_or_under(t, c.target) for c in changes):
            out.append(t)
    return out


def _at_or_under(path, chosen):
    if path in chosen:
        return True
    return any(a in chosen for a in paths.ancestors(path))
