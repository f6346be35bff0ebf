"""The live mount table as plain data, with livemount's ownership marked.

Shared by `livemount show --json` and livemount.core.mount_profile_info:
mountinfo read once, every field decoded, bind roots and overlay layers
exposed, and each mount point tagged with the profile that owns it.
"""

from . import match, options, paths as pathlib
from .mountinfo import iter_fields, live_mount, points
from .observe import read_table, read_text_and_ids_of
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
    return _dict(m.mount_id, m.parent_id, m.devstr, m.root, m.mount_point, m.source, m.fstype,
                 options.format_options(m.flags, ()), m.fs_options, m.propagation, m.lower, m.data, m.upper, m.work,
                 visible, _owner(owned_by.get(m.mount_point), m, visible))


def _dict(mount_id, parent_id, device, root, target, source, fstype, mount_options, fs_options, propagation, lower,
          data, upper, work, visible, owner):
    """Return the dict of one mount (the one shape read() and stream() give), fresh lists and dicts in it."""
    # Keys in sorted order: json's sort_keys then sorts lists already in order (show --json, 10,000 mounts:
    # 29 ms to encode instead of 33).
    return {
        "data": list(data),
        "device": device,
        "fs_options": dict(fs_options),
        "fstype": fstype,
        "lower": list(lower),
        "mount_id": mount_id,
        "mount_options": list(mount_options),
        "owner": owner,
        "parent_id": parent_id,
        "propagation": propagation,
        "root": root,
        "source": source,
        "target": target,
        "upper": upper,
        "visible": visible,
        "work": work,
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

    For a large table printed as it is made (`livemount show --json`): the
    table is read, which mounts are visible is worked out from each mount's
    place alone (mountinfo.points, then let go), and each line is parsed
    when its turn comes. A malformed line raises ValueError: here when its
    ids or mount point are, else when reached.
    """
    owned_by = owners(root, system.namespace_id())
    recorded = [own.unique for _name, own in owned_by.values() if own.unique is not None]
    # Only the mounts at owned targets are ever asked for their unique id (_owner), and only whether it is the
    # one recorded: each recorded id is looked up, not every mount's listed.
    found = read_text_and_ids_of(system, recorded) if recorded else None
    if found is None:
        text, ids, other = system.read_mountinfo(), {}, None
    else:
        (text, ids), other = found, _ANOTHER
    shape = points(text)
    tops = {p.mount_id for p in shape.mounts if shape.top(p.mount_point) is p}
    return _rows(text, tops, owned_by, ids, other)


# The unique id given a mount whose id was not looked up, when the recorded ones were: some mount's, no record's
# (the kernel's unique ids start at 2**31).
_ANOTHER = 0


def _rows(text, tops, owned_by, ids, other=None):
    """Yield the dict of each line of `text`: visible when its mount id is in `tops`, unique ids from `ids` (the
    others `other`)."""
    words = {}  # flags -> their option words: a handful of distinct ones in a whole table
    for fields in iter_fields(text):
        (mount_id, parent_id, major, minor, root, mount_point, flags, propagation, _peer, _master, fstype, source,
         (fs_options, lower, data, upper, work), _raw_options, _raw_super) = fields
        mount_options = words.get(flags)
        if mount_options is None:
            mount_options = words[flags] = options.format_options(flags, ())
        visible = mount_id in tops
        owned = owned_by.get(mount_point)
        yield _dict(mount_id, parent_id, "%d:%d" % (major, minor), root, mount_point, source, fstype, mount_options,
                    fs_options, propagation, lower, data, upper, work, visible,
                    None if owned is None else _owner(owned, live_mount(fields, ids.get(mount_id, other)), visible))


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
