"""What a state file or a journal may claim, checked like a profile before anything acts on it.

State and journal files are untrusted input (the project brief): edited by
hand, copied from elsewhere, written by a bug or cut short. Before a run
acts on them, every field is checked for its type and form, and every path
that names something a run may unmount, unlink or remove (an entry's
target, a created directory, a journaled step's path) must be what a
profile path may be: clean and absolute (profile/paths.py), and not a
protected system directory unless the allowed_roots of the profile that
made the state open it. A state saying it owns /proc is refused as a
profile saying so would be, before anything is touched.

Errors are ValueError naming the field (`owned[2].dev: must be [major,
minor]`); state.py and journal.py add the file.
"""

from . import paths
from .model import Action, Owned, builder
from .profile.forms import entry_from_dict, pairs_ok
from .profile.paths import clean_path, plainly_clean, protected_problem

# Journal record kinds and what each carries besides `kind` (see apply.py, upper_policy.py).
_RECORDS = {
    "begin": ("n", "action", "path"),
    "done": ("n",),
    "failed": ("n",),
    "attach": ("n", "path", "role", "ident"),
    "aside": ("n", "from", "to"),
    "made": ("n", "path", "ident"),
    "undo-failed": (),
}
_ROLES = ("new", "old")


def _kind(value):
    return "null" if value is None else type(value).__name__


def _int(value, where, low=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError("%s: must be an integer of at least %d, not %s" % (where, low, _kind(value)))
    return value


def _str(value, where, none=False):
    if value is None and none:
        return value
    if not isinstance(value, str):
        raise ValueError("%s: must be a string%s, not %s" % (where, " or null" if none else "", _kind(value)))
    return value


def _naturals(row, start):
    """Return True when every item of `row` from `start` on is an int (not a bool) of at least 0."""
    for v in row[start:]:
        if type(v) is not int or v < 0:  # pylint: disable=unidiomatic-typecheck
            return False
    return True


def _dev(value, where):
    if value is None:
        return value
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("%s: must be [major, minor] or null, not %s" % (where, _kind(value)))
    for k, v in enumerate(value):
        _int(v, "%s[%d]" % (where, k))
    return value


def _usable(value, roots):
    """Return True when path(value, ..., roots) returns `value` itself, seen at a glance (False: ask path())."""
    return plainly_clean(value) and protected_problem(value, roots) is None


def _all_usable(values, roots):
    """Return True when every path of list `values` is _usable (a loop: most lists hold none or one)."""
    for value in values:
        if not _usable(value, roots):
            return False
    return True


def path(value, where, roots):
    """Return clean absolute path `value` when a run may act on it; ValueError naming `where` otherwise."""
    _str(value, where)
    try:
        clean = clean_path(value)
        if paths.clean(value) != value:
            raise ValueError("is not written in its clean form (%s)" % clean)
    except ValueError as exc:
        raise ValueError("%s: %r %s" % (where, value, str(exc).replace("path must", "must")))
    if clean == "/":
        raise ValueError("%s: / cannot be managed" % where)
    problem = protected_problem(clean, roots)
    if problem:
        raise ValueError("%s: %s %s" % (where, clean, problem))
    return clean


def allowed_roots(profile_data):
    """Return the allowed_roots of the profile recorded with a state (the permission its entries were made under)."""
    if not isinstance(profile_data, dict):
        return ()
    roots = profile_data.get("allowed_roots")
    if not isinstance(roots, list):
        return ()
    out = []
    for r in roots:
        try:
            out.append(paths.clean(r))
        except ValueError:
            continue  # the profile loader refused it then; it opens nothing now
    return tuple(out)


def entry(value, where, roots):
    """Return the Entry of a recorded entry mapping after checking its fields and its target."""
    try:
        e = entry_from_dict(value)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s: %s" % (where, exc))
    path(e.target, where + ".target", roots)
    if not e.type:
        raise ValueError("%s.type: must not be empty" % where)
    return e


def check_state(body):
    """Return the owned records (Owned, in order) when a state body holds only what a state may; ValueError naming
    the first bad field."""
    if not isinstance(body, dict):
        raise ValueError("body: must be an object, not %s" % _kind(body))
    for key in ("profile", "owned"):
        if key not in body:
            raise ValueError("%s: missing" % key)
    _str(body["profile"], "profile")
    _str(body.get("namespace", ""), "namespace")
    _str(body.get("applied_at"), "applied_at", none=True)
    data = body.get("profile_data")
    if data is not None and not isinstance(data, dict):
        raise ValueError("profile_data: must be an object or null, not %s" % _kind(data))
    roots = allowed_roots(data)
    created = body.get("created", [])
    if not isinstance(created, list):
        raise ValueError("created: must be a list, not %s" % _kind(created))
    for k, p in enumerate(created):
        if not _usable(p, roots):
            path(p, "created[%d]" % k, roots)
    created_set = set(created)
    ids = body.get("created_ids", [])
    if not isinstance(ids, list):
        raise ValueError("created_ids: must be a list, not %s" % _kind(ids))
    for k, row in enumerate(ids):
        if (type(row) is list and len(row) == 4 and type(row[0]) is str  # pylint: disable=unidiomatic-typecheck
                and row[0] in created_set and _naturals(row, 1)):
            continue  # well formed (most rows): the checks below name what is wrong with the others
        where = "created_ids[%d]" % k
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError("%s: must be [path, major, minor, inode]" % where)
        if not isinstance(row[0], str) or row[0] not in created_set:
            raise ValueError("%s: %r is not a created path" % (where, row[0]))
        for j, v in enumerate(row[1:], 1):
            _int(v, "%s[%d]" % (where, j))
    owned = body["owned"]
    if not isinstance(owned, list):
        raise ValueError("owned: must be a list, not %s" % _kind(owned))
    seen = set()
    out = []
    for k, o in enumerate(owned):
        record = _plain_record(o, roots)
        if record is None:
            record = _checked_record(o, "owned[%d]" % k, roots, seen)
        elif record.entry.target in seen:
            raise ValueError("owned[%d].entry.target: %s is owned twice" % (k, record.entry.target))
        seen.add(record.entry.target)
        out.append(record)
    meta = body.get("meta", {})
    if meta is not None and not isinstance(meta, dict):
        raise ValueError("meta: must be an object, not %s" % _kind(meta))
    return tuple(out)


def _plain_record(o, roots):
    """Return the Owned of record `o` when it is well formed as written records are, seen at a glance; None
    when it is not, or not plainly so: _checked_record then looks (and names what is wrong).

    Every test here is one of _checked_record's, or stricter: what passes it passes those. Each field is read
    once (a state of 5,000 entries is 5,000 of these).
    """
    # pylint: disable=unidiomatic-typecheck
    if type(o) is not dict:
        return None
    get = o.get
    try:
        e = entry_from_dict(get("entry"))
    except (ValueError, TypeError):
        return None
    if not (e.type and _usable(e.target, roots)):
        return None
    # Absent or a list, as _checked_record takes it (a tuple, which json never gives but a caller may, is not).
    made = get("created", [])
    if type(made) is not list or not _all_usable(made, roots):
        return None
    dev = get("dev")
    if dev is not None and not (type(dev) is list and len(dev) == 2 and _naturals(dev, 0)):
        return None
    options = get("fs_options")
    if options is not None and not pairs_ok(options):
        return None
    synthetic = get("synthetic_for")
    if synthetic is not None and not _usable(synthetic, roots):
        return None
    unique = get("unique")
    if unique is not None and not (type(unique) is int and unique >= 1):
        return None
    root, fstype, marker = get("root"), get("fstype"), get("marker")
    for value in (root, fstype, marker):
        if value is not None and type(value) is not str:
            return None
    return _owned(e, made, dev, options, synthetic, unique, root, fstype, marker)


def _owned(e, made, dev, options, synthetic, unique, root, fstype, marker):
    """Return the Owned of a record's checked fields (lists as json gives them)."""
    return _OWNED(entry=e, created=tuple(made), dev=tuple(dev) if dev else None,
                  fs_options=tuple(map(tuple, options)) if options is not None else None, synthetic_for=synthetic,
                  unique=unique, root=root, fstype=fstype, marker=marker)


_OWNED = builder(Owned)


def _checked_record(o, where, roots, seen):
    """Return the Owned of record `o` after checking every field, or raise ValueError naming `where`'s first
    bad one (a target in `seen` is owned twice)."""
    if not isinstance(o, dict):
        raise ValueError("%s: must be an object, not %s" % (where, _kind(o)))
    e = entry(o.get("entry"), where + ".entry", roots)
    if e.target in seen:
        raise ValueError("%s.entry.target: %s is owned twice" % (where, e.target))
    made = o.get("created", [])
    if not isinstance(made, list):
        raise ValueError("%s.created: must be a list, not %s" % (where, _kind(made)))
    for j, p in enumerate(made):
        path(p, "%s.created[%d]" % (where, j), roots)
    _dev(o.get("dev"), where + ".dev")
    options = o.get("fs_options")
    if options is not None and not pairs_ok(options):
        raise ValueError("%s.fs_options: must be a list of [key, value-or-null] pairs or null" % where)
    if o.get("synthetic_for") is not None:
        path(o["synthetic_for"], where + ".synthetic_for", roots)
    if o.get("unique") is not None:
        _int(o["unique"], where + ".unique", 1)
    for key in ("root", "fstype", "marker"):
        _str(o.get(key), "%s.%s" % (where, key), none=True)
    return _owned(e, made, o.get("dev"), options, o.get("synthetic_for"), o.get("unique"), o.get("root"),
                  o.get("fstype"), o.get("marker"))


def _ident(value, where):
    if not isinstance(value, dict):
        raise ValueError("%s: must be an object, not %s" % (where, _kind(value)))
    for key in ("unique", "mount_id"):
        if value.get(key) is not None:
            _int(value[key], "%s.%s" % (where, key))
    _dev(value.get("dev"), where + ".dev")


def check_journal(header, records, profile, roots):
    """Return None when a journal holds only what this profile's journal may; ValueError naming line and field.

    `roots` are the allowed_roots of the state's profile: a journaled step
    may name only paths that profile could have.
    """
    if header.get("profile", profile) != profile:
        raise ValueError("line 1: it is the journal of profile %r, not %r" % (header.get("profile"), profile))
    for key in ("steps", "version"):
        if header.get(key) is not None:
            _int(header[key], "line 1 (header).%s" % key)
    _str(header.get("plan_id", ""), "line 1 (header).plan_id")
    for k, r in enumerate(records, 2):
        where = "line %d" % k
        if not isinstance(r, dict):
            raise ValueError("%s: must be an object, not %s" % (where, _kind(r)))
        kind = r.get("kind")
        if kind not in _RECORDS:
            raise ValueError("%s.kind: unknown record %r" % (where, kind))
        where = "line %d (%s)" % (k, kind)
        for key in _RECORDS[kind]:
            if key not in r:
                raise ValueError("%s.%s: missing" % (where, key))
        if "n" in _RECORDS[kind]:
            _int(r["n"], where + ".n", 1)
        if kind == "begin":
            if r["action"] not in {a.value for a in Action} or r["action"] == Action.CONFLICT.value:
                raise ValueError("%s.action: unknown action %r" % (where, r["action"]))
            path(r["path"], where + ".path", roots)
            for key in ("entry", "before"):
                if r.get(key) is not None:
                    entry(r[key], "%s.%s" % (where, key), roots)
            if r.get("entry") is None and r.get("before") is None and r["action"] not in ("mkdir", "rmdir"):
                raise ValueError("%s: a %s step names no entry" % (where, r["action"]))
            if r.get("live") is not None:
                _ident(r["live"], where + ".live")
        elif kind == "attach":
            path(r["path"], where + ".path", roots)
            if r["role"] not in _ROLES:
                raise ValueError("%s.role: must be new or old, not %r" % (where, r["role"]))
            _ident(r["ident"], where + ".ident")
            _str(r.get("marker"), where + ".marker", none=True)
        elif kind == "made":
            path(r["path"], where + ".path", roots)
            if not isinstance(r["ident"], list) or len(r["ident"]) != 3:
                raise ValueError("%s.ident: must be [major, minor, inode]" % where)
            for j, v in enumerate(r["ident"]):
                _int(v, "%s.ident[%d]" % (where, j))
        elif kind == "aside":
            for key in ("from", "to"):
                _str(r[key], "%s.%s" % (where, key))
                try:
                    paths.clean(r[key])
                except ValueError as exc:
                    raise ValueError("%s.%s: %s" % (where, key, exc))
            _dev(r.get("dev"), where + ".dev")
