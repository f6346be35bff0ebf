"""Comparing a desired or recorded entry with the live mount at its target.

Two questions, kept apart, and a third for recursive binds:
* identity: is this live mount *that* entry (same thing mounted)? A bind is
  identified by (device, root within the filesystem) computed through the live
  table, never by string prefix; an owned filesystem by the device recorded
  right after it was mounted; an overlay by its layers.
* settings: do its per-mount flags, filesystem options and propagation match?
  Differences here are fixed live (remount); identity differences need replace.
* copies: which mounts below a recursive bind are the copies of its source's
  submounts that it brought along (its own), as opposed to foreign mounts.
"""

import functools

from . import options
from .model import BIND, OVERLAY, TMPFS
from .paths import is_under, relative

# Filesystems whose source field is free text (no device behind it).
ANONYMOUS = frozenset({TMPFS, "ramfs", "proc", "sysfs", "devpts", "mqueue", "cgroup2", "tmpfs", OVERLAY})


def bind_identity(entry, world):
    """Return the (dev, root) a bind of entry.source has in the live table, or None if unknown."""
    real = world.realpath(entry.source)
    try:
        return world.table.bind_identity(real)
    except (KeyError, ValueError):
        return None


def has_identity(entry):
    """Return True when a live mount can be recognized as `entry` without any record of ours.

    A bind is its (device, root), an overlay its layers, a device-backed
    filesystem its source. An anonymous filesystem (tmpfs, proc...) is one of
    many alike: a foreign one with the same options is still someone else's
    (docs/scenarios.md, 21), so it is never adopted.
    """
    return entry.type in (BIND, OVERLAY) or (entry.type not in ANONYMOUS and bool(entry.source))


def recorded_mount(owned, live, world=None):
    """Return True or False when the state record `owned` tells whether `live` is the mount it records, else None.

    With both unique ids known (Linux 6.8+) it is that mount exactly, and
    still what it was (device, root, type). Without them, a recorded marker
    (kernel/identity.py) tells a tmpfs from another one on a recycled device
    number, as far as the top mount at the target can be read (`world.markers`).
    None: the record cannot tell (a state from before unique ids were
    recorded): the entry's own identity decides, as before.
    """
    if owned is None:
        return None
    if owned.unique is not None and live.unique is not None:
        return live.unique == owned.unique and same_make(owned, live)
    marker = world.markers.get(live.mount_point) if world is not None and owned.marker else None
    if marker is not None and world.table.top(live.mount_point) is live:
        return marker == owned.marker and same_make(owned, live)
    return None


def same_make(owned, live):
    """Return True when `live` is what the record says its mount is: device, root within it, filesystem type."""
    return ((owned.dev is None or live.dev == owned.dev or tuple(live.dev) == tuple(owned.dev))
            and (owned.root is None or live.root == owned.root)
            and (owned.fstype is None or live.fstype == owned.fstype))


def find_recorded(owned, table, world=None):
    """Return the live mount the record `owned` is (hidden under another mount or not), or None.

    By unique id when both sides know it; otherwise the top mount at the
    target when it is the entry's (the identity of states written before ids).
    """
    if owned.unique is not None and table.has_unique_ids:
        m = table.by_unique(owned.unique)
        return m if m is not None and same_make(owned, m) else None
    top = table.top(owned.entry.target)
    if top is None or world is None:
        return top
    return top if same_identity(owned.entry, top, world, owned) else None


def same_identity(entry, live, world, owned=None):
    """Return True when `live` is the thing `entry` mounts (ignoring flags and options).

    `owned` (the state record, if any) decides first when it can: a mount
    livemount recorded is that very mount (recorded_mount), never another
    one that looks alike. Otherwise it supplies the device recorded at mount
    time for filesystems that have no other identity (tmpfs and friends).
    """
    same_spec = owned is not None and (owned.entry is entry or owned.entry.spec() == entry.spec())
    verdict = recorded_mount(owned, live, world) if same_spec else None
    if verdict is False:
        return False
    if entry.type == BIND:
        ident = bind_identity(entry, world)
        return ident is not None and (live.dev, live.root) == ident
    if live.fstype != entry.type:
        return False
    if entry.type == OVERLAY:
        return (
            tuple(live.lower) == tuple(entry.lower)
            and tuple(live.data) == tuple(entry.data)
            and live.upper == entry.upper
            and live.work == entry.work
        )
    if verdict:
        return True
    if same_spec and owned.dev is not None:
        return live.dev == owned.dev
    if entry.type in ANONYMOUS or not entry.source:
        return True
    return live.source in (entry.source, world.realpath(entry.source))


def carried_copies(entry, live, world):
    """Return the mounts below `live` that are copies a recursive bind `entry` brought along, parents first.

    open_tree(2) with AT_RECURSIVE (mount(2) MS_BIND|MS_REC) copies every
    mount below the source: each copy shows the device and root of its
    original and hangs from the copy of that original's parent. A mount below
    the target is taken for such a copy when its parent is the bind (or
    another copy) and a mount of the same (dev, root) sits at the same place
    below the source now. A copy whose original has since gone from the
    source is no longer recognisable and counts as foreign: refused, never
    touched (docs/design.md, recursive binds).
    """
    if entry is None or entry.type != BIND or not entry.recursive or live is None:
        return []
    source = world.realpath(entry.source)
    originals = set()
    for m in world.table.submounts(source):
        if m.mount_point != live.mount_point and not is_under(m.mount_point, live.mount_point):
            originals.add((relative(m.mount_point, source), m.dev, m.root))
    ours = {live.mount_id}
    out = []
    for m in world.table.submounts(live.mount_point):  # parents first, so a copy's parent is judged before it
        if m.parent_id in ours and (relative(m.mount_point, live.mount_point), m.dev, m.root) in originals:
            ours.add(m.mount_id)
            out.append(m)
    return out


def setting_diffs(entry, live, world, owned=None):
    """Return a list of human-readable differences in flags, fs options and propagation.

    Empty means the live mount's settings are what `entry` asks for. When the
    state recorded the filesystem options seen right after our own mount of
    this very entry, and they are still what is live, the filesystem is taken
    to hide defaults we asked for: no difference.
    """
    diffs = []
    if entry.flags != live.flags and set(entry.flags) != set(live.flags):  # equal frozensets (most): no copies
        added = sorted(set(entry.flags) - set(live.flags))
        removed = sorted(set(live.flags) - set(entry.flags))
        diffs.append(_flag_text(added, removed))
    if entry.type != BIND and not _fs_options_ok(entry, live, world, owned):
        for key, live_val, want in options.fs_options_diff(
            entry.type, entry.fs_options, live.fs_options, world.fs_defaults(entry.type)
        ):
            diffs.append("%s %s -> %s" % (key, _show(live_val), _show(want)))
        if not diffs:
            diffs.append("filesystem options differ")
    if propagation_differs(entry, live):
        diffs.append("propagation %s -> %s" % (_propagation_of(live), entry.propagation))
    return diffs


def fs_options_differ(entry, live, world, owned=None):
    """Return True when filesystem options (not flags, not propagation) differ."""
    return entry.type != BIND and not _fs_options_ok(entry, live, world, owned)


def flags_differ(entry, live):
    """Return True when per-mount flags differ."""
    return set(entry.flags) != set(live.flags)


def propagation_differs(entry, live):
    """Return True when the entry asks for a propagation the live mount does not have and a remount can give.

    `slave` is met by a plain private mount (no peers, no master): making a
    mount with no peers a slave leaves it private, as there is nothing to
    receive events from (mount_namespaces(7), "MS_SLAVE"), so remounting it
    would change nothing and the plan would never converge. A shared or
    unbindable mount asked to be a slave still differs: MS_SLAVE does change it.
    """
    if not entry.propagation:
        return False
    have = _propagation_of(live)
    if entry.propagation == "slave" and have == "private":
        return False
    return have != entry.propagation


def _fs_options_ok(entry, live, world, owned):
    if fs_options_match(entry.type, entry.fs_options, live.fs_options, world.fs_defaults(entry.type)):
        return True
    return (
        owned is not None
        and owned.fs_options is not None
        and owned.entry.fs_options == entry.fs_options
        and tuple(owned.fs_options) == tuple(live.fs_options)
    )


def fs_options_match(fstype, desired, live, defaults=None):
    """Return options.fs_options_match(...): each distinct question answered once, as most entries of a profile
    ask the same one (equal options wanted, equal options live)."""
    try:
        return _fs_options_match(fstype, desired, live, tuple(sorted(defaults.items())) if defaults else ())
    except TypeError:  # a list among the options: not a key, asked directly
        return options.fs_options_match(fstype, desired, live, defaults)


@functools.lru_cache(maxsize=1024)
def _fs_options_match(fstype, desired, live, defaults):
    return options.fs_options_match(fstype, desired, live, dict(defaults))


def _propagation_of(live):
    # "shared+slave" counts as shared: it satisfies "shared" (MS_SHARED on it
    # changes nothing) but not "slave" (it still sends events to its peers).
    return live.propagation.split("+")[0] if live.propagation else "private"


def _flag_text(added, removed):
    parts = []
    if "ro" in added:
        parts.append("rw -> ro")
    if "ro" in removed:
        parts.append("ro -> rw")
    parts += ["+" + f for f in added if f != "ro"] + ["-" + f for f in removed if f != "ro"]
    return "flags " + ", ".join(parts)


def _show(v):
    return "(unset)" if v is None else v
