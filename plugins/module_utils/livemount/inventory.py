"""The live mount table as plain data, with livemount's ownership marked.

Shared by `livemount show --json` and livemount.core.mount_profile_info:
mountinfo read once, every field decoded, bind roots and overlay layers
exposed, and each mount point tagged with the profile that owns it.
"""

from . import match, options
from .observe import read_table
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
    rows = []
    for m in table.mounts:
        top = table.top(m.mount_point)
        rows.append({
            "mount_id": m.mount_id,
            "parent_id": m.parent_id,
            "device": m.devstr,
            "root": m.root,
            "target": m.mount_point,
            "source": m.source,
            "fstype": m.fstype,
            "mount_options": options.format_options(m.flags, ()),
            "fs_options": {k: v for k, v in m.fs_options},
            "propagation": m.propagation,
            "lower": list(m.lower),
            "data": list(m.data),
            "upper": m.upper,
            "work": m.work,
            "visible": top is m,
            "owner": _owner(owned_by.get(m.mount_point), m, top),
        })
    return rows


def _owner(owned, mount, top):
    """Return the owning profile's name when `mount` is the very one it recorded, covered or not."""
    if owned is None:
        return None
    name, own = owned
    if own.unique is not None and mount.unique is not None:
        # A foreign mount stacked on one of ours sits at the same path: the unique id tells them apart, and
        # ours, covered, is still ours (match.recorded_mount).
        return name if mount.unique == own.unique and match.same_make(own, mount) else None
    if mount is not top:
        return None
    # Without unique ids (a state from before them, a kernel before 6.8): the device, on the top mount only.
    if own.dev is not None and tuple(own.dev) != tuple(mount.dev):
        return None
    return name


def read(system, root):
    """Return (table, mount dicts) for the current namespace."""
    table = read_table(system)
    return table, mount_dicts(table, owners(root, system.namespace_id()))
