"""The live mount table as plain data, with livemount's ownership marked.

Shared by `livemount show --json` and livemount.core.mount_profile_info:
mountinfo read once, every field decoded, bind roots and overlay layers
exposed, and each mount point tagged with the profile that owns it.
"""

from json import JSONEncoder
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps' own, for a str (ensure_ascii)

from . import match, options, paths as pathlib
from .kernel.sysapi import TABLE_TRIES, table_changed
from .mountinfo import (decode_line, iter_fields, live_mount, parse_mountinfo, parse_super, points, tags,
                        unescape)
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
    # observe.read_table, without importing the planner's observe.py (and what it imports) for it.
    table = parse_mountinfo(*system.mountinfo_with_ids())
    return table, mount_dicts(table, owners(root, system.namespace_id()))


def stream(system, root):
    """Return an iterator over the mount dicts of the current namespace, made one at a time (as read() lists them).

    For a large table printed as it is made (`livemount show --json`): the
    table is read, which mounts are visible is worked out from each mount's
    place alone (mountinfo.points, then let go), and each line is parsed
    when its turn comes. A malformed line raises ValueError: here when its
    ids or mount point are, else when reached.
    """
    return _rows(*_prepare(system, root))


def stream_json(system, root):
    """Return an iterator over the JSON texts of the mounts stream() gives: each exactly what json.dumps(row,
    sort_keys=True) writes of its dict (one line), made from the mountinfo line without the dict.

    What `livemount show --json` prints to a pipe: building 10,000 dicts
    and encoding them cost three times as much as writing the texts
    straight (issue 17). A malformed line raises ValueError as stream()
    does.
    """
    return _json_rows(*_prepare(system, root))


def _prepare(system, root):
    """Return (text, ids of the visible mounts, {target: (profile, Owned)}, unique ids, the id of the others) of the
    current namespace: what _rows and _json_rows make the rows from."""
    owned_by = owners(root, system.namespace_id())
    recorded = [own.unique for _name, own in owned_by.values() if own.unique is not None]
    # Only the mounts at owned targets are ever asked for their unique id (_owner), and only whether it is the
    # one recorded: each recorded id is looked up, not every mount's listed.
    found = read_text_and_ids_of(system, recorded) if recorded else None
    if found is None:
        text, ids, other = system.read_mountinfo(), {}, None
    else:
        (text, ids), other = found, _ANOTHER
    return text, points(text).top_ids(), owned_by, ids, other


def read_text_and_ids_of(system, uniques):
    """Return (mountinfo text, {mountinfo id: unique id} of the mounts among `uniques` still mounted), or None when
    the kernel cannot tell.

    For a reader that only asks whether recorded mounts are still there
    (`livemount show --json`): a statmount(2) per recorded mount instead of
    one per mount of the table. Each recorded id is looked up before and
    after one read of the text: unique ids are never reused, so equal answers
    mean each of those mounts was there, with that mountinfo id, when the
    text was read; a mount gone meanwhile makes it read again.
    """
    uniques = sorted(set(uniques))
    for _try in range(TABLE_TRIES):
        before = system.old_ids_of(uniques)
        if before is None:
            return None
        text = system.read_mountinfo()
        if system.old_ids_of(uniques) == before:
            return text, {old: u for u, old in before.items() if old is not None}
    raise table_changed()


# The unique id given a mount whose id was not looked up, when the recorded ones were: some mount's, no record's
# (the kernel's unique ids start at 2**31).
_ANOTHER = 0


def _rows(text, tops, owned_by, ids, other=None):
    """Yield the dict of each line of `text`: visible when its mount id is in `tops`, unique ids from `ids` (the
    others `other`)."""
    words = {}  # flags -> their option words: a handful of distinct ones in a whole table
    for fields in iter_fields(text):
        yield _fields_dict(fields, tops, owned_by, ids, other, words)


def _fields_dict(fields, tops, owned_by, ids, other, words):
    """Return the dict of one iter_fields tuple (`words` caches option words by flags)."""
    (mount_id, parent_id, major, minor, root, mount_point, flags, propagation, _peer, _master, fstype, source,
     (fs_options, lower, data, upper, work), _raw_options, _raw_super) = fields
    mount_options = words.get(flags)
    if mount_options is None:
        mount_options = words[flags] = options.format_options(flags, ())
    visible = mount_id in tops
    owned = owned_by.get(mount_point)
    return _dict(mount_id, parent_id, "%d:%d" % (major, minor), root, mount_point, source, fstype, mount_options,
                 fs_options, propagation, lower, data, upper, work, visible,
                 None if owned is None else _owner(owned, live_mount(fields, ids.get(mount_id, other)), visible))


_PARSE_ERRORS = (ValueError, IndexError, KeyError, OverflowError)  # what iter_fields reports as a bad line


def _json_rows(text, tops, owned_by, ids, other=None):
    """Yield the JSON text of each line of `text`, as json.dumps(row, sort_keys=True) writes _rows()'s dict.

    A line is split once and its fields written in place, between pieces
    of JSON made once for what many lines share (superblock options,
    option words, propagation): the dict's keys in order, ", " and ": "
    between. A line that fails a check here is handed to iter_fields'
    parser, which raises the ValueError iter_fields would (or, should it
    take the line, gives the fields its dict is encoded from).
    """
    encode = JSONEncoder(sort_keys=True).encode
    string = _json_string
    # (fstype, raw super options) -> the JSON around the device, the mount id, and after the mount point (visible,
    # hidden): {"data": ..., "device": "|", "fs_options": ... "mount_id": |, "upper": ..., "visible": ..., "work": ...}
    supers = {}
    words = {}  # raw mount options -> ', "mount_options": [...], "owner": '
    propagations = {"": ', "propagation": "private", "root": '}  # optional fields -> ', "propagation": ..., "root": '
    parsed = {}  # decode_line's cache, for the lines parsed whole
    flag_words = {}  # _fields_dict's
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        f = line.split(" ")
        try:
            if len(f) == 10 and f[6] == "-":  # no optional field: f.index("-", 6) is 6
                sep, fstype, source, raw_super = 6, f[7], f[8], f[9]
            else:
                sep = f.index("-", 6)
                fstype, source, raw_super = f[sep + 1:]
            mount_id, parent_id, device = f[0], f[1], f[2]
            major, colon, minor = device.partition(":")
            mount_point = f[4] if "\\" not in f[4] else unescape(f[4])
            if not (mount_id.isdigit() and parent_id.isdigit() and major.isdigit() and minor.isdigit() and colon
                    and (line.isascii() or (mount_id + parent_id + device).isascii())
                    and mount_point[:1] == "/" and fstype):
                raise ValueError(line)
            sup = supers.get((fstype, raw_super))
            if sup is None:
                fs_options, lower, data, upper, work = parse_super(fstype, raw_super)
                tail = ', "upper": %s, "visible": %%s, "work": %s}' % (encode(upper), encode(work))
                sup = supers[fstype, raw_super] = (
                    '{"data": %s, "device": "' % encode(list(data)),
                    '", "fs_options": %s, "fstype": %s, "lower": %s, "mount_id": ' % (
                        encode(dict(fs_options)), string(fstype), encode(list(lower))),
                    tail % "true", tail % "false")
            mount_options = words.get(f[5])
            if mount_options is None:
                mount_options = words[f[5]] = ', "mount_options": %s, "owner": ' % encode(
                    options.format_options(options.parse_mount_options(f[5]), ()))
            optional = " ".join(f[6:sep]) if sep != 6 else ""
            propagation = propagations.get(optional)
            if propagation is None:
                propagation = propagations[optional] = ', "propagation": %s, "root": ' % string(tags(f[6:sep])[0])
            root = f[3] if "\\" not in f[3] else unescape(f[3])
            source = source if "\\" not in source else unescape(source)
            number = int(mount_id)
            visible = number in tops
            owned = owned_by.get(mount_point)
            if owned is None:
                owner = "null"
            else:
                owner = _owner(owned, live_mount(decode_line(line, n, parsed), ids.get(number, other)), visible)
                owner = "null" if owner is None else string(owner)
            # Numbers as the kernel writes them (no leading zero) are their JSON already.
            if (major[0] == "0" and major != "0") or (minor[0] == "0" and minor != "0"):
                device = "%d:%d" % (int(major), int(minor))
            row = "".join((sup[0], device, sup[1], mount_id if mount_id[0] != "0" else str(number), mount_options,
                           owner, ', "parent_id": ', parent_id if parent_id[0] != "0" else str(int(parent_id)),
                           propagation, string(root), ', "source": ', string(source), ', "target": ',
                           string(mount_point), sup[2] if visible else sup[3]))
        except _PARSE_ERRORS:
            row = encode(_fields_dict(decode_line(line, n, parsed), tops, owned_by, ids, other, flag_words))
        yield row


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
