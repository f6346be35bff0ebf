"""The live mount table as plain data, with livemount's ownership marked.

Shared by `livemount show --json` and livemount.core.mount_profile_info:
mountinfo read once, every field decoded, bind roots and overlay layers
exposed, and each mount point tagged with the profile that owns it.
"""

from . import match, options, paths as pathlib
from .mountinfo import iter_mounts, points
from .observe import read_table, read_text_and_ids
from .state import StateStore, list_profiles


def owners(root, namespace_id):
    """Return {target: (profile name, Owned)} for every entry owned here (unreadable states skipped)."""
    out = {}
    for name in list_profiles(root, namespace_id):
        try:
            state = StateStore(root, namespace_id, name).load()
        except Exception:  # noqa: BLE001 - a corrupt state is reported by status, not here
            continue
        for o in state.owned:
            out[o.entry.target] = (name, o)
    return out


def mount_dicts(table, owned_by=None):
    """Return one dict per live mount, in mountinfo order."""
    owned_by = owned_by or {}
    return [_row(m, table.top(m.mount_point) is m, owned_by) for m in table.mounts]


def _row(m, visible, owned_by):
    return {
        "mount_id": m.mount_id,
        "parent_id": m.parent_id,
        "device": m.devstr,
        "root": m.root,
        "target": m.mount_point,
        "source": m.source,
        "fstype": m.fstype,
        "mount_options": options.format_options(m.flags, ()),
        "fs_options": dict(m.fs_options),
        "propagation": m.propagation,
        "lower": list(m.lower),
        "data": list(m.data),
        "upper": m.upper,
        "work": m.work,
        "visible": visible,
        "owner": _owner(owned_by.get(m.mount_point), m, visible),
    }


def _owner(owned, mount, visible):
    """Return the owning profile's name when `mount` is the very one it recorded, covered or not."""
    if owned is None:
        return None
    name, own = owned
    if own.unique is not None and mount.unique is not None:
        # A foreign mount stacked on one of ours sits at the same path: the unique id tells them apart, and
        # ours, covered, is still ours (match.recorded_mount).
        return name if mount.unique == own.unique and match.same_make(own, mount) else None
    if not visible:
        return None
    # Without unique ids (a state from before them, a kernel before 6.8): the device, on the top mount only.
    if own.dev is not None and tuple(own.dev) != tuple(mount.dev):
        return None
    return name


def read(system, root):
    """Return (table, mount dicts) for the current namespace."""
    table = read_table(system)
    return table, mount_dicts(table, owners(root, system.namespace_id()))


def stream(system, root):
    """Return an iterator over the mount dicts of the current namespace, made one at a time (as read() lists them).

    For a large table printed as it is made (`livemount show --json`): only
    each mount's place is held for the whole table (mountinfo.points), each
    line is parsed whole when its turn comes. A malformed line raises
    ValueError when reached.
    """
    text, ids = read_text_and_ids(system)
    owned_by = owners(root, system.namespace_id())
    shape = points(text)
    for place, m in zip(shape.mounts, iter_mounts(text, ids)):
        yield _row(m, shape.top(place.mount_point) is place, owned_by)


def select(rows, paths=(), owner=None, owned_only=False):
    """Return the mount dicts at or below any of `paths` (clean absolute paths), owned by `owner` or by anyone.

    No `paths` keeps every mount; `owner` keeps only the mounts that profile
    owns; `owned_only` only those some profile owns. Table order is kept.
    """
    return [m for m in rows
            if (not paths or any(pathlib.is_at_or_under(m["target"], p) for p in paths))
            and (owner is None or m["owner"] == owner)
            and (not owned_only or m["owner"] is not None)]


def by_target(rows):
    """Return {target: mount dict}: per mount point the mount on top (visible), like mount_facts' mount_points.

    Of several mounts stacked on one target the visible one wins, else the
    last in table order (the list itself keeps all of them).
    """
    out = {}
    for m in rows:
        have = out.get(m["target"])
        if have is None or m["visible"] or not have["visible"]:
            out[m["target"]] = m
    return out
