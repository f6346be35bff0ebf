"""The other forms of a profile: text in, mappings out, and the state file's entry form.

* load_profile_text: YAML or JSON text -> the mapping load_profile checks.
* profile_to_dict: Profile -> minimal profile mapping (load_profile gives it back).
* entry_to_dict / entry_from_dict: the lossless JSON form of a canonical Entry
  (every field, including flags and fs_options); entry_to_state_dict: the
  same less the defaulted fields, what the state file records.
profile.py re-exports all four; import them from there.
"""

import os
import stat
from dataclasses import MISSING, fields

from ..errors import ProfileError, strerror
from ..profile import yaml_load
from ..profile.jsonschema_values import describe
from ..model import Entry, build


# ---- dict forms ---------------------------------------------------------------
def profile_to_dict(profile):
    """Return the profile as a minimal profile mapping (defaults left out) that load_profile accepts."""
    d = {"name": profile.name}
    if profile.description:
        d["description"] = profile.description
    if profile.on_error != "rollback":
        d["on_error"] = profile.on_error
    if profile.allowed_roots:
        d["allowed_roots"] = list(profile.allowed_roots)
    d["mounts"] = [_entry_profile_dict(e, profile.reserved_for(i)) for i, e in enumerate(profile.entries)]
    return d


def entry_to_profile_dict(entry):
    """Return `entry` as a profile's mount mapping, its options as the profile wrote them (defaults left out)."""
    from .load import NO_RESERVED

    d = _entry_profile_dict(entry, NO_RESERVED)
    if entry.options:
        d["options"] = list(entry.options)
    return d


def _entry_profile_dict(e, reserved):
    d = {"target": e.target, "type": e.type}
    if e.source is not None:
        d["source"] = e.source
    if e.recursive:
        d["recursive"] = True
    options = sorted(e.flags) + [k if v is None else "%s=%s" % (k, v) for k, v in e.fs_options]
    if options:
        d["options"] = options
    for name in ("propagation", "upper", "work"):
        if getattr(e, name) is not None:
            d[name] = getattr(e, name)
    for name in ("lower", "data"):
        if getattr(e, name):
            d[name] = list(getattr(e, name))
    if not e.mkdir:
        d["mkdir"] = False
    if e.mode != 0o755:
        d["mode"] = "%04o" % e.mode
    for name in ("uid", "gid"):
        if getattr(e, name):
            d[name] = getattr(e, name)
    for name, default in (("mimic", False), ("on_busy", "fail"), ("source_namespace", None),
                          ("upper_policy", None)):
        if getattr(reserved, name) != default:
            d[name] = getattr(reserved, name)
    return d


# Every Entry field with its JSON kind, for the state file's lossless form.
_STATE_FIELDS = (
    ("target", "str"), ("type", "str"), ("source", "str?"), ("recursive", "bool"), ("flags", "strs"),
    ("fs_options", "pairs"), ("lower", "strs"), ("data", "strs"), ("upper", "str?"), ("work", "str?"),
    ("propagation", "str?"), ("mkdir", "bool"), ("mode", "mode"), ("uid", "id"), ("gid", "id"),
    ("index", "int?"), ("options", "strs"),
)
_STATE_KINDS = dict(_STATE_FIELDS)


def entry_to_dict(entry):
    """Return every field of `entry` as JSON-ready values (entry_from_dict gives it back exactly)."""
    return {name: _json_value(name, kind, getattr(entry, name)) for name, kind in _STATE_FIELDS}


def entry_to_state_dict(entry):
    """Return entry_to_dict(entry) less the fields that hold their default: what a state file records.

    entry_from_dict fills the defaults in again, so the form is as lossless
    and a state of 5,000 entries is a third of the bytes to write, hash and read.
    A field is compared with its default in the Entry's own form (one test a
    field), and only the others are converted.
    """
    d = {}
    for name, kind, default in _STATE_PLAN:
        value = getattr(entry, name)
        if type(value) is type(default) and value == default:  # pylint: disable=unidiomatic-typecheck
            continue
        d[name] = _json_value(name, kind, value)
    return d


def state_dicts():
    """Return entry_to_state_dict making each Entry object's dict once: for one run, its journal and its state.

    An apply journals each change's entry (its `begin` record), then saves a
    state holding those very Entry objects: one dict each, not two (1,000
    calls instead of 2,000 in an apply of 1,000 mounts). The dicts are shared
    by both: read them, never change them. Each entry is kept with its dict,
    so no other object can take its id() while the run lasts.
    """
    made = {}

    def entry_dict(entry):
        found = made.get(id(entry))
        if found is None:
            found = made[id(entry)] = (entry, entry_to_state_dict(entry))
        return found[1]

    return entry_dict


def _json_value(name, kind, value):
    """Return an Entry field's value in its JSON form (lists for tuples and sets, flags sorted)."""
    if kind == "strs":
        return sorted(value) if name == "flags" else list(value)
    if kind == "pairs":
        return [[k, v] for k, v in value]
    return value


def entry_from_dict(d):
    """Return the Entry a state-file mapping describes; ValueError naming the first bad field."""
    if not isinstance(d, dict):
        raise ValueError("entry must be a mapping, not %s" % describe(d))
    if not d.keys() <= _STATE_READERS.keys():
        unknown = next(name for name in d if name not in _STATE_READERS)
        raise ValueError("entry field %r is unknown" % (unknown,))
    for name in ("target", "type"):
        if name not in d:
            raise ValueError("entry field %s is missing" % name)
    kw = {}
    for name, value in d.items():
        default = _STORED_DEFAULTS.get(name, _BAD)
        if type(value) is type(default) and value == default:  # pylint: disable=unidiomatic-typecheck
            continue  # the field's default as entry_to_dict writes it (most are): build() fills it in
        if type(value) is _PLAIN.get(name):  # pylint: disable=unidiomatic-typecheck
            kw[name] = value  # a str for a string field, an int for an integer one: what its reader gives back
            continue
        value = _STATE_READERS[name](value)
        if value is _BAD:
            kind = _STATE_KINDS[name]
            raise ValueError("entry field %s must be %s, not %s" % (name, _KIND_TEXT[kind], describe(d[name])))
        kw[name] = value
    return build(Entry, kw)


_BAD = object()  # what a state field reader returns for a value of the wrong kind
_ENTRY_DEFAULTS = {f.name: f.default for f in fields(Entry) if f.default is not MISSING}


def _read_str(v):
    return v if isinstance(v, str) else _BAD


def _read_opt_str(v):
    return v if v is None or isinstance(v, str) else _BAD


def _read_bool(v):
    return v if isinstance(v, bool) else _BAD


def _read_int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else _BAD


def _read_opt_int(v):
    return v if v is None or (isinstance(v, int) and not isinstance(v, bool)) else _BAD


def _read_mode(v):
    """Return permission bits `v` as the profile schema allows them (0 to 0o7777), else _BAD."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0o7777 else _BAD


def _read_id(v):
    """Return user or group id `v` as the profile schema allows it (0 to 2**32 - 2; -1 means "unchanged"), else _BAD."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFFFFFE else _BAD


# The readers below loop rather than call all() over a generator: a generator costs more to make than
# checking the one or two items most of these lists hold (a state of 5,000 entries reads 10,000 lists).

def _strings(v):
    """Return True when `v` is a list of strings."""
    if not isinstance(v, list):
        return False
    for x in v:
        if not isinstance(x, str):
            return False
    return True


def _read_strs(v):
    return tuple(v) if _strings(v) else _BAD


def _read_flags(v):
    return frozenset(v) if _strings(v) else _BAD


def pairs_ok(v):
    """Return True when `v` is a list of [key, value-or-null] lists, keys and values strings (fs_options' JSON)."""
    if not isinstance(v, list):
        return False
    for p in v:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and (p[1] is None or isinstance(p[1], str))):
            return False
    return True


def _read_pairs(v):
    return tuple(map(tuple, v)) if pairs_ok(v) else _BAD


# One reader per state field: the value in Entry's form, or _BAD. A state file is untrusted input,
# read once per entry on every run: one function call per field, not a chain of kind tests.
_READERS = {"str": _read_str, "str?": _read_opt_str, "bool": _read_bool, "int": _read_int, "int?": _read_opt_int,
            "mode": _read_mode, "id": _read_id, "strs": _read_strs, "pairs": _read_pairs}
_STATE_READERS = {name: _read_flags if name == "flags" else _READERS[kind] for name, kind in _STATE_FIELDS}
# The fields whose reader takes a value of exactly this type as it is (a bool is no int: it goes to the reader).
_PLAIN = {name: str if kind in ("str", "str?") else int for name, kind in _STATE_FIELDS
          if kind in ("str", "str?", "int", "int?")}


# Each state field with its kind and, in the Entry's own form, its default (_BAD: none, the field is always written).
_STATE_PLAN = tuple((name, kind, _ENTRY_DEFAULTS.get(name, _BAD)) for name, kind in _STATE_FIELDS)

# Each defaulted Entry field as entry_to_dict writes it: exactly this value (type included: 0 is not false)
# is the default, without a reader.
_STORED_DEFAULTS = {name: value for name, value in entry_to_dict(Entry(target="/", type="tmpfs")).items()
                    if name not in ("target", "type")}


_KIND_TEXT = {
    "str": "a string", "str?": "a string or null", "bool": "true or false", "int": "an integer",
    "int?": "an integer or null", "mode": "an integer from 0 to 4095 (permission bits, 0o7777)",
    "id": "an integer from 0 to 4294967294", "strs": "a list of strings",
    "pairs": "a list of [key, value-or-null] pairs",
}


# ---- text ---------------------------------------------------------------------
MAX_VALUES = 1000000
MAX_TEXT_BYTES = 8 << 20  # 8 MiB, some 80,000 entries: larger texts are refused before parsing
_TOO_MANY = "more than %d values once aliases are expanded" % MAX_VALUES


def read_regular(path, what="profile", shown=None):
    """Return the bytes of regular file `path`; ProfileError saying why not (missing, not a file, too large).

    Opened without blocking and checked before reading: a directory, a FIFO
    that would wait for a writer forever, /dev/zero that would never end and
    a file larger than MAX_TEXT_BYTES are refused (issue 13, defect 8). The
    error names the file as `shown` (default: `path`), the `what` it was to be.
    """
    def refuse(cause):
        return ProfileError([(None, None, "file", "cannot read %s %s: %s" % (what, shown or path, cause))])

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(strerror(exc.errno))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse("not a regular file")
        if st.st_size > MAX_TEXT_BYTES:
            raise refuse("%d bytes, more than the %d MiB a %s may have" % (st.st_size, MAX_TEXT_BYTES >> 20, what))
        chunks, size = [], 0
        while size <= MAX_TEXT_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_TEXT_BYTES:
        raise refuse("more than the %d MiB a %s may have" % (MAX_TEXT_BYTES >> 20, what))
    return b"".join(chunks)


def load_profile_text(text, filename=None):
    """Return the mapping that YAML or JSON `text` holds; ProfileError naming `filename` otherwise.

    JSON is read with the standard library. YAML needs PyYAML (present on the
    controller, maybe not on managed hosts); documents with more than
    yaml_load.MAX_ALIASES aliases or MAX_VALUES values after alias expansion are refused
    so that a "billion laughs" document cannot hang the validator.
    """
    name = filename or "<text>"

    def fail(cause):
        return ProfileError([(None, None, None, "cannot read profile %s: %s" % (name, cause))])

    if len(text) > MAX_TEXT_BYTES:
        raise fail("more than the %d MiB a profile may have" % (MAX_TEXT_BYTES >> 20))

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail("not UTF-8 (byte %d)" % exc.start)
    as_json = (filename or "").endswith(".json") or text.lstrip().startswith(("{", "["))
    try:
        if as_json:
            data, count = _load_json(text), None
        else:
            data, count = _load_yaml(text, fail)
    except RecursionError:
        raise fail("nested too deeply")
    except ValueError as exc:
        raise fail(str(exc))
    if count is None:
        _count_values(data, fail)
    elif count > MAX_VALUES:
        raise fail(_TOO_MANY)
    if not isinstance(data, dict):
        raise fail("the top level must be a mapping, not %s" % describe(data))
    return data


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d


def _load_json(text):
    import json

    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ValueError("invalid JSON at line %d, column %d: %s" % (exc.lineno, exc.colno, exc.msg))


def _load_yaml(text, fail):
    try:
        import yaml
    except ImportError:
        raise fail("PyYAML is needed for YAML profiles")
    try:
        return yaml_load.load_counted(yaml, text)  # SafeLoader's events: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise ValueError("invalid YAML%s: %s" % (where, getattr(exc, "problem", None) or exc))


def check_depth(yaml, loader, text):
    """Raise ComposerError when collections in `text` nest more than MAX_DEPTH levels (yaml_load.check_depth)."""
    yaml_load.check_depth(yaml, loader, text)


def _count_values(data, fail):
    """Raise ProfileError when `data` holds more than MAX_VALUES values (aliases count each time).

    Counted a collection at a time (its length), descending only into the
    collections it holds: the scalars, most of a profile, are never visited.
    """
    count = 1
    stack = [data] if isinstance(data, (dict, list)) else []
    while stack:
        value = stack.pop()
        items = value.values() if isinstance(value, dict) else value
        count += len(items)
        if count > MAX_VALUES:
            raise fail(_TOO_MANY)
        for item in items:
            if isinstance(item, (dict, list)):
                stack.append(item)
