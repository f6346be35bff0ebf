"""Overlay checks that need the filesystem: gathered by observe(), judged by problems() at plan time.

INTERFACE (being filled in): `observe(sys, entries, owned, table)` reads
what the rules need through `sys` (read-only) and returns an object stored
as World.overlay; `problems(change, world, policy)` is pure and returns
[(field, message)] for a mount or replace of an overlay entry; the planner
turns each into a conflict (nothing is changed).
"""


def observe(sys, entries, owned, table):
    """Return what the overlay rules need to know about the overlays of `entries` (None: nothing yet)."""
    return None


def problems(change, world, policy):
    """Return [(field, message)]: why `change` (mount/replace of an overlay) cannot be applied safely."""
    return []
