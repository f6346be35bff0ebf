"""observe(system, entries, owned) -> World: the only reading of the system before planning."""

import dataclasses

from .overlay import rules as overlay_rules
from . import paths
from .mountinfo import LiveTable, parse_mountinfo
from .mimic import observe_mimic
from .model import OVERLAY, TMPFS
from .world import World, paths_to_observe
from .records import field, record


def read_table(system):
    """Return the LiveTable of the namespace, each mount with its unique id when the kernel tells (Linux 6.8+).

    The text and the ids are read together, each line with the id of the
    mount it shows (Sys.mountinfo_with_ids).
    """
    return parse_mountinfo(*system.mountinfo_with_ids())


def observe(system, entries, owned=(), mimic=(), empty=True):
    """Return a World with the live table and lstat facts for every path the plan may touch.

    `mimic` names the targets whose entries allow a writable mimic: the
    read-only directories above them are listed too (mimic.observe_mimic).
    With `empty` False no directory is opened to see whether it is empty
    (Sys.facts): no plan decision depends on it, only a fingerprint records
    it, and one taken of this World reads it then (fingerprint.take).
    """
    table = read_table(system)
    lstat_paths, real_paths = paths_to_observe(entries, owned)
    realpaths = {}
    for p in real_paths:
        try:
            realpaths[p] = system.realpath(p)
        except OSError:
            realpaths[p] = p
    looked_at = set(lstat_paths) | set(realpaths.values())
    facts = {p: system.lstat(p) for p in looked_at} if empty else system.facts(looked_at)
    wants_overlay = any(e.type == OVERLAY for e in entries) or any(o.entry.type == OVERLAY for o in owned)
    defaults = system.overlay_defaults() if wants_overlay else {}
    wants_tmpfs = any(e.type == TMPFS for e in entries) or any(o.entry.type == TMPFS for o in owned)
    world = World(table=table, facts=facts, realpaths=realpaths, overlay_defaults=defaults,
                  tmpfs_defaults=system.tmpfs_defaults() if wants_tmpfs else {},
                  namespace=system.namespace_id(),
                  overlay=overlay_rules.observe(system, entries, owned, table) if wants_overlay else None,
                  markers=_markers(system, table, owned))
    if mimic:
        world = observe_mimic(system, world, mimic)
    return _adapted(system, world)


def _markers(system, table, owned):
    """Return {target: marker of the top mount there} for owned mounts with a recorded marker, without unique ids.

    With unique ids (Linux 6.8+) the marker adds nothing: not read.
    """
    if table.has_unique_ids:
        return {}
    out = {}
    for o in owned:
        if o.marker and table.top(o.entry.target) is not None:
            found = system.marker(o.entry.target)
            if found is not None:
                out[o.entry.target] = found
    return out


def refresh_table(system, world):
    """Return `world` with a freshly read mount table (facts kept; markers dropped: they were of the old tops)."""
    return _adapted(system, World(table=read_table(system), facts=world.facts,
                                  realpaths=world.realpaths, overlay_defaults=world.overlay_defaults,
                                  tmpfs_defaults=world.tmpfs_defaults, namespace=world.namespace, listings=world.listings, overlay=world.overlay,
                                  others=world.others, owners=world.owners))


def _adapted(system, world):
    """Return `world` as completed by the Sys, when it knows more than its own namespace shows.

    A Sys acting inside another mount namespace (nsexec.NamespaceSys) saw the
    binds whose source lives in the caller's namespace before entering: it
    adds their source facts and bind identity, which the target cannot show.
    """
    return system.adapt_world(world)


# ---- bind sources in the caller's namespace (nsexec.py: acting inside another namespace) ----

HOST = "host:"  # World keys naming a path of the caller's namespace: never a clean absolute path


class HostAwareTable(LiveTable):
    """A LiveTable whose bind_identity also answers for `host:` paths, from the caller's table."""

    def __init__(self, mounts, identities):
        super().__init__(mounts)
        self.host_identities = dict(identities)

    def bind_identity(self, real_source_path):
        """Return (dev, root) of a bind of `real_source_path`; for `host:` paths as the caller's table says."""
        if real_source_path.startswith(HOST):
            if real_source_path not in self.host_identities:
                raise ValueError("cannot find the mount holding %s in the caller's namespace"
                                 % real_source_path[len(HOST):])
            return self.host_identities[real_source_path]
        return super().bind_identity(real_source_path)


@record(frozen=False)
class HostView:
    """Binds whose source lives in the caller's namespace, as seen there before entering a target.

    World keys are `host:` + the resolved path, so they never collide with the
    target's own paths (a host /srv/data injected at the target's /srv/data):
    realpaths maps each source to its key, facts and bind identities hang on it.
    """

    sources: set = field(default_factory=set)
    realpaths: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)
    identities: dict = field(default_factory=dict)

    def adapt(self, world):
        """Return `world` completed with this view (unchanged when there is nothing to add)."""
        if not self.sources:
            return world
        table = world.table
        if not isinstance(table, HostAwareTable):
            table = HostAwareTable(table.mounts, self.identities)
        return dataclasses.replace(world, table=table, facts=dict(world.facts, **self.facts),
                                   realpaths=dict(world.realpaths, **self.realpaths))


def observe_host(system, entries, targets):
    """Return the HostView of host-sourced bind `entries`, read through `system` before entering the target.

    Besides each source: what shows below it at the `targets` under its entry
    (the planner asks what a child mount point will find there).
    """
    view = HostView()
    if not entries:
        return view
    table = parse_mountinfo(system.read_mountinfo())
    for e in entries:
        real = system.realpath(e.source)
        key = HOST + real
        view.sources.add(e.source)
        view.realpaths[e.source] = key
        view.facts[key] = system.lstat(real)
        try:
            view.identities[key] = table.bind_identity(real)
        except ValueError:
            pass  # no mount holds it: the plan reports the source missing
        for t in targets:
            if paths.is_under(t, e.target):
                inside = paths.join(real, paths.relative(t, e.target))
                for p in [a for a in paths.ancestors(inside) if paths.is_under(a, real)] + [inside]:
                    view.facts[HOST + p] = system.lstat(p)
    return view
