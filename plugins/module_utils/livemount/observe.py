"""observe(sys, entries, owned) -> World: the only reading of the system before planning."""

from .mountinfo import parse_mountinfo
from .model import OVERLAY
from .world import World, paths_to_observe


def observe(sys, entries, owned=()):
    """Return a World with the live table and lstat facts for every path the plan may touch."""
    table = parse_mountinfo(sys.read_mountinfo())
    lstat_paths, real_paths = paths_to_observe(entries, owned)
    realpaths = {}
    for p in real_paths:
        try:
            realpaths[p] = sys.realpath(p)
        except OSError:
            realpaths[p] = p
    facts = {}
    for p in set(lstat_paths) | set(realpaths.values()):
        facts[p] = sys.lstat(p)
    wants_overlay = any(e.type == OVERLAY for e in entries) or any(o.entry.type == OVERLAY for o in owned)
    defaults = sys.overlay_defaults() if wants_overlay else {}
    return World(table=table, facts=facts, realpaths=realpaths, overlay_defaults=defaults,
                 namespace=sys.namespace_id())


def refresh_table(sys, world):
    """Return `world` with a freshly read mount table (facts kept)."""
    return World(table=parse_mountinfo(sys.read_mountinfo()), facts=world.facts, realpaths=world.realpaths,
                 overlay_defaults=world.overlay_defaults, namespace=world.namespace)
