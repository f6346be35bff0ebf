"""Profiles: what the user declared, validated before anything is touched, in canonical form.

load_profile(dict) -> Profile makes three passes and collects every problem
before raising one ProfileError:
1. shape: schemas/profile.schema.json (schema_data.SCHEMA) via jsonschema_lite;
2. meaning the schema cannot express: path cleaning, control characters,
   target "/", duplicate targets, option rules, allowed_roots, protected
   system targets (profile_paths.PROTECTED);
3. canon: model.Entry values (clean paths, option sets, mode as an int).
Each problem is (index, target-as-written, field, message); messages read
`entry 2 (/srv/app/cache): options: bind mounts take no filesystem options: size=1m`.
The other forms (text, minimal mapping, state-file entry) are in profile_io.py
and re-exported here: load_profile_text, profile_to_dict, entry_to_dict,
entry_from_dict.
"""

import re
from dataclasses import fields
from typing import Optional, Tuple

from ..overlay import rules as overlay_rules
from .. import paths
from ..errors import ProfileError
from ..profile.jsonschema_lite import Validator
from ..profile.jsonschema_values import describe
from ..model import BIND, OVERLAY, SYMLINK, Entry, build
from ..profile import fstypes
# Re-exported: the other forms of a profile have long been reached through this module.
from ..profile.forms import entry_from_dict, entry_to_dict, load_profile_text, profile_to_dict  # noqa: F401  # pylint: disable=unused-import
from ..profile.paths import BAD_PATH_CHAR as _BAD_PATH_CHAR
from ..profile.paths import PROTECTED, clean_path, protected_problem, unencodable  # noqa: F401  # pylint: disable=unused-import
from ..profile.schema_data import SCHEMA
from ..records import record

_ENTRY_PROPS = SCHEMA["$defs"]["entry"]["properties"]
NAME_RX = re.compile(SCHEMA["properties"]["name"]["pattern"])
TYPE_RX = re.compile(_ENTRY_PROPS["type"]["pattern"])
MODE_RX = re.compile(_ENTRY_PROPS["mode"]["pattern"])

# Paths may hold tab and newline (see profile_paths.BAD_PATH_CHAR); options may not.
_ANY_CONTROL = _BAD_OPTION_CHAR = re.compile("[\x00-\x1f\x7f]")
# What show() escapes: controls, and surrogates, which no terminal can print
# (a UTF-8 stream refuses them, or shows them differently per error handler).
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

# Words that look like types but are not; the schema lists the same words.
TYPE_HINTS = {
    "rbind": "use type bind with recursive: true",
    "overlayfs": "the kernel calls it overlay",
    "auto": "name the filesystem type: livemount does not probe",
    "none": "name the filesystem type ('none' is an fstab source word)",
    "swap": "swap areas are not mounts",
    "rootfs": "the initial root filesystem cannot be mounted",
    "dir": "livemount creates mount points itself (mkdir); a directory is not an entry",
    "directory": "livemount creates mount points itself (mkdir); a directory is not an entry",
    "file": "a file bind is type bind with a file as source",
    "link": "use type symlink",
    "symlinks": "use type symlink",
    "softlink": "use type symlink",
    "remount": "livemount remounts by itself when options change",
    "move": "livemount moves mounts by itself when needed",
}

# Option keys that would smuggle in what other fields own: overlay layers are
# passed one by one as lowerdir+/datadir+ (docs/overlay.md, "Overlay entries"), and a
# "source" option would override the source through fsconfig(2).
_LAYER_KEYS = frozenset({"lowerdir", "lowerdir+", "upperdir", "workdir", "datadir", "datadir+"})
_WORD_HINTS = {
    "bind": "use type bind",
    "rbind": "use type bind with recursive: true",
    "remount": "livemount remounts by itself when options change",
    "move": "livemount moves mounts by itself when needed",
}
# What each schema pattern means, by the field it guards (every other pattern is "^/").
_PATTERN_TEXT = {
    "path": "must be an absolute path",
    "name": "must be lowercase letters, digits, '_', '.' or '-', starting with a letter or digit",
    "type": "must be a filesystem type name (lowercase letters, digits, '.', '_', '-')",
    "mode": "must be an octal mode such as '0755' or '1777'",
    "boot": "must be a systemd unit name with its type, such as 'nginx.service'",
}

_validator = None


@record
class Reserved:
    """Per-entry fields that steer how a change is made, not what is mounted (mimic, on_busy...; docs/profile.md)."""

    mimic: bool = False
    on_busy: str = "fail"
    source_namespace: Optional[str] = None
    upper_policy: Optional[str] = None


NO_RESERVED = Reserved()
_RESERVED_FIELDS = frozenset(f.name for f in fields(Reserved))
_NONE_BAD = frozenset()  # the schema refused none of an entry's fields


@record
class Profile:
    """A validated profile. `reserved[i]` belongs to `entries[i]` (may be shorter: defaults)."""

    name: str
    entries: Tuple[Entry, ...] = ()
    on_error: str = "rollback"
    allowed_roots: Tuple[str, ...] = ()
    description: str = ""
    reserved: Tuple[Reserved, ...] = ()

    def reserved_for(self, index):
        """Return the Reserved fields of entry number `index` (defaults when none were given)."""
        return self.reserved[index] if index < len(self.reserved) else NO_RESERVED


def schema_validator():
    """Return the shared jsonschema_lite Validator for the profile schema."""
    global _validator
    if _validator is None:
        _validator = Validator(SCHEMA)
    return _validator


def show(text):
    """Return `text` with control characters (\\x0a) and surrogates (\\udcff) escaped: one printable line."""
    return _UNSHOWABLE.sub(lambda m: ("\\x%02x" if ord(m.group()) < 0x80 else "\\u%04x") % ord(m.group()), text)


def _label(index, target):
    if index is None:
        return "profile"
    if isinstance(target, str):
        return "entry %d (%s)" % (index, show(target))
    return "entry %d" % index


def _problem(index, target, field, where, message):
    """Return a problem tuple; `where` is the field path shown (options[1]) or None."""
    text = _label(index, target) + (": " + where if where else "") + ": " + message
    return (index, target, field, text)


def _value_at(data, path):
    for part in path:
        data = data[part]
    return data


def _schema_problem(data, mounts, err):
    """Return (index, field, problem) for a jsonschema_lite Error, with the friendliest message."""
    path = err.path
    index = None
    if len(path) >= 2 and path[0] == "mounts":
        index, path = path[1], path[2:]
    field = path[0] if path else err.key
    if field is not None and not isinstance(field, str):
        field = repr(field)  # a YAML key such as 7, true or null: no field name at all (found by fuzzing)
    where = field if field is None else field + "".join("[%s]" % p for p in path[1:])
    raw = mounts[index] if index is not None else data
    target = raw.get("target") if isinstance(raw, dict) else None
    etype = raw.get("type") if isinstance(raw, dict) else None
    message = err.message
    value = _value_at(data, err.path)
    if err.keyword == "pattern" and err.path and isinstance(value, str):
        message = "%s, not %s" % (_PATTERN_TEXT.get(field, _PATTERN_TEXT["path"]), describe(value))
    elif err.keyword == "not" and field == "type" and value in TYPE_HINTS:
        message = "%r is not a filesystem type: %s" % (value, TYPE_HINTS[value])
    elif err.keyword == "not" and isinstance(etype, str):
        message = "is not allowed for type %s" % show(etype)
    elif err.keyword == "required" and index is not None and isinstance(etype, str) and field != "type":
        message = "is required for type %s" % show(etype)
    return index, field, _problem(index, target, field, where, message)


def load_profile(data, known_types=None):
    """Return the Profile that `data` declares; raise ProfileError listing every problem otherwise.

    `known_types` (a profile.fstypes.KnownTypes, read by kernel/fstypes.py)
    also checks each filesystem type against what the kernel knows.
    """
    if not isinstance(data, dict):
        raise ProfileError([_problem(None, None, None, None, "must be a mapping, not %s" % describe(data))])
    mounts = data.get("mounts") if isinstance(data.get("mounts"), list) else []
    problems = []
    bad = set()
    misnamed = _misnamed_types(mounts, known_types, problems, bad)
    for err in schema_validator().iter_errors(data):
        index, field, problem = _schema_problem(data, mounts, err)
        if index in misnamed and field != "type" and err.keyword in ("not", "required"):
            continue  # `lower is not allowed for type overlayfs`: the type is the one problem
        problems.append(problem)
        bad.add((index, field))

    roots = _check_profile(data, bad, problems)
    bad_fields = {}  # entry index -> the fields the schema refused
    for index, field in bad:
        bad_fields.setdefault(index, set()).add(field)
    split_memo = {}  # shared by the entries: most repeat a few option lists
    entries, reserved, targets = [], [], []
    for index, raw in enumerate(mounts):
        if not isinstance(raw, dict):
            continue
        checker = _EntryCheck(index, raw, bad_fields.get(index, _NONE_BAD), split_memo)
        entry = checker.run()
        problems.extend(checker.problems)
        if checker.target is not None:
            targets.append((checker.target, index, raw["target"], raw.get("type")))
        if entry is not None:
            entries.append(entry)
            reserved.append(_reserved(raw))
    problems.extend(_check_targets(targets, roots))
    written = {index: w for _target, index, w, _etype in targets}
    problems.extend(_problem(i, written.get(i), f, f, m) for i, f, m in overlay_rules.shared_problems(entries))
    if problems:
        problems.sort(key=lambda p: -1 if p[0] is None else p[0])
        raise ProfileError(problems)
    return Profile(
        name=data["name"],
        entries=tuple(entries),
        on_error=data.get("on_error", "rollback"),
        allowed_roots=roots or (),
        description=data.get("description", ""),
        reserved=tuple(reserved),
    )


def _misnamed_types(mounts, known, problems, bad):
    """Return the indexes of entries whose type is a known wrong word or unknown to the kernel (problems added)."""
    out = set()
    verdicts = {}  # type -> why the kernel does not know it ('' when it does): a profile repeats a few types
    for index, raw in enumerate(mounts):
        etype = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(etype, str):
            continue
        if etype in TYPE_HINTS:
            out.add(index)  # the schema's `not` names it, with its hint
        elif known is not None:
            why = verdicts.get(etype)
            if why is None:
                why = verdicts[etype] = fstypes.problem(etype, known) if TYPE_RX.fullmatch(etype) else ""
            if why:
                out.add(index)
                target = raw.get("target") if isinstance(raw.get("target"), str) else None
                problems.append(_problem(index, target, "type", "type", why))
                bad.add((index, "type"))
    return out


def _check_profile(data, bad, problems):
    """Return the cleaned allowed_roots (None when absent or broken); add profile-level problems."""
    name = data.get("name")
    if (None, "name") not in bad and isinstance(name, str) and not NAME_RX.fullmatch(name):
        problems.append(_problem(None, None, "name", "name",
                                 "%s, not %s" % (_PATTERN_TEXT["name"], describe(name))))
    if "allowed_roots" not in data or (None, "allowed_roots") in bad:
        return None
    roots = []
    for k, root in enumerate(data["allowed_roots"]):
        try:
            roots.append(clean_path(root))
        except ValueError as exc:
            problems.append(_problem(None, None, "allowed_roots", "allowed_roots[%d]" % k, str(exc)))
            return None
    return tuple(roots)


def _check_targets(targets, roots):
    """Return problems between entries: duplicates, paths through a symlink entry, allowed_roots, protection."""
    problems = []
    first = {}
    links = {}
    for target, index, written, etype in targets:
        if target in first:
            other, other_written = first[target]
            problems.append(_problem(index, written, "target", "target",
                                     "same target as entry %d (%s)" % (other, show(other_written))))
        else:
            first[target] = (index, written)
        if etype == SYMLINK:
            links.setdefault(target, (index, written))
    for target, index, written, _etype in targets:
        for parent in paths.ancestors(target) if links else ():
            if parent in links:
                problems.append(_problem(index, written, "target", "target",
                                         "lies under the symlink of entry %d (%s); livemount never "
                                         "follows symlinks in targets" % (links[parent][0], show(links[parent][1]))))
                break
        if roots is not None and not any(paths.is_at_or_under(target, r) for r in roots):
            problems.append(_problem(index, written, "target", "target",
                                     "not at or under an allowed root (%s)" % ", ".join(roots)))
        guarded = protected_problem(target, roots)
        if guarded:
            problems.append(_problem(index, written, "target", "target", guarded))
    return problems


def _reserved(raw):
    if _RESERVED_FIELDS.isdisjoint(raw):
        return NO_RESERVED  # the common case: one shared frozen value, not a new one per entry
    return Reserved(
        mimic=raw.get("mimic", False),
        on_busy=raw.get("on_busy", "fail"),
        source_namespace=raw.get("source_namespace"),
        upper_policy=raw.get("upper_policy"),
    )


def parse_mode(value):
    """Return the int mode for "0755"/"0o755"/493; ValueError for ambiguous integers like 755."""
    if isinstance(value, str):
        if not MODE_RX.fullmatch(value):
            raise ValueError("%s, not %s" % (_PATTERN_TEXT["mode"], describe(value)))
        return int(value[2:] if value.startswith("0o") else value, 8)
    mode = int(value)
    # YAML reads an unquoted 755 as decimal 755 = 0o1363 (sticky bit, odd
    # permissions); nobody means that, so refuse rather than guess.
    if 512 <= mode <= 777 and set(str(mode)) <= set("01234567"):
        raise ValueError("%d is decimal here (0o%o); write it quoted, as '0%d'" % (mode, mode, mode))
    return mode


class _EntryCheck:
    """Checks one entry mapping beyond its shape; `run()` returns an Entry or None.

    `split_memo` maps (type, options) to what options() makes of them: the
    problems of the option words and split_options' result, both pure
    functions of the words, computed once per distinct list of a profile.
    """

    __slots__ = ("index", "raw", "bad", "usable_fields", "split_memo", "problems", "target", "written")

    def __init__(self, index, raw, bad_fields, split_memo=None):
        self.index = index
        self.raw = raw
        self.bad = bad_fields
        # The fields present that passed the schema: the mapping itself when none failed (the common case).
        self.usable_fields = raw.keys() - bad_fields if bad_fields else raw
        self.split_memo = {} if split_memo is None else split_memo
        self.problems = []
        self.target = None
        written = raw.get("target")
        self.written = written if isinstance(written, str) else None

    def fail(self, field, where, message):
        """Record a problem about `field` (shown as `where`)."""
        self.problems.append(_problem(self.index, self.written, field, where, message))

    def path(self, field, value, k=None):
        """Return `value` cleaned, or None after recording why it cannot be (shown as field, or field[k])."""
        try:
            return clean_path(value)
        except ValueError as exc:
            self.fail(field, field if k is None else "%s[%d]" % (field, k), str(exc))
            return None

    def run(self):
        """Return the canonical Entry, or None when the entry has problems (recorded in .problems)."""
        raw, bad, usable = self.raw, self.bad, self.usable_fields
        if "target" in usable:
            self.target = self.path("target", raw["target"])
            if self.target == "/":
                self.fail("target", "target", "cannot be / itself")
                self.target = None
        etype = raw.get("type") if "type" not in bad else None
        if etype is not None and not TYPE_RX.fullmatch(etype):
            self.fail("type", "type", "%s, not %s" % (_PATTERN_TEXT["type"], describe(etype)))
            etype = None
        source = self.source(etype) if "source" in usable else None
        lower = self.layers("lower") if "lower" in usable else None
        data = self.layers("data") if "data" in usable else None
        upper = self.path("upper", raw["upper"]) if "upper" in usable else None
        work = self.path("work", raw["work"]) if "work" in usable else None
        if upper and work and (paths.is_at_or_under(work, upper) or paths.is_at_or_under(upper, work)):
            # overlayfs refuses these: "workdir and upperdir must be separate subtrees".
            self.fail("work", "work", "must be a separate directory tree from upper (%s)" % upper)
        if etype == OVERLAY and self.target is not None:
            # Layers inside each other or at the target (docs/overlay-rules.md).
            found = overlay_rules.layout_problems(self.target, lower or (), data or (), upper, work)
            if not self.problems and lower:
                # Only for fields that are all valid: a broken one is reported for itself, not as a missing layer.
                found += overlay_rules.one_layer_problem(lower, data or (), upper)
            for field, where, message in found:
                self.fail(field, where, message)
        mode = None
        if "mode" in usable:
            try:
                mode = parse_mode(raw["mode"])
            except ValueError as exc:
                self.fail("mode", "mode", str(exc))
        split = self.options(etype) if etype is not None and etype != SYMLINK else None
        if self.problems or bad or self.target is None or etype is None:
            return None
        flags, fs_options, propagation, options = split or (frozenset(), (), None, tuple(raw.get("options", ())))
        return build(Entry, {
            "target": self.target,
            "type": etype,
            "source": source,
            "recursive": raw.get("recursive", False),
            "flags": flags,
            "fs_options": fs_options,
            "lower": lower or (),
            "data": data or (),
            "upper": upper,
            "work": work,
            "propagation": propagation,
            "mkdir": raw.get("mkdir", True),
            "mode": 0o755 if mode is None else mode,
            "uid": int(raw.get("uid", 0)),
            "gid": int(raw.get("gid", 0)),
            "index": self.index,
            "options": options,
        })

    def layers(self, field):
        """Return the clean paths of layer list `field` (None in place of each refused one)."""
        return tuple(self.path(field, p, k) for k, p in enumerate(self.raw[field]))

    def source(self, etype):
        """Return the canonical source of an entry that has one: a clean path for bind, as written for the others."""
        value = self.raw["source"]
        if etype == BIND:
            return self.path("source", value)
        m = _BAD_PATH_CHAR.search(value)
        bad = "contains control character %r at offset %d" % (m.group(), m.start()) if m else unencodable(value)
        if bad:
            self.fail("source", "source", bad)
            return None
        return value

    def options(self, etype):
        """Return (flags, fs_options, propagation, options as a tuple) from options and propagation, or None."""
        if "options" in self.bad:
            return None
        words = tuple(self.raw.get("options", ()))
        key = (etype, words)
        found = self.split_memo.get(key)
        if found is None:
            found = self.split_memo[key] = _split(etype, words)
        refused, split = found
        for where, message in refused:
            self.fail("options", where, message)
        if split is None:
            return None
        flags, fs_options, propagation = split
        if "propagation" in self.usable_fields:
            field = self.raw["propagation"]
            if propagation is not None and propagation != field:
                self.fail("propagation", "propagation",
                          "%s conflicts with %r in options; give it once" % (field, propagation))
                return None
            propagation = field
        return flags, fs_options, propagation, words


def _split(etype, words):
    """Return ([(where, problem)], (flags, fs_options, propagation) or None) for option words of an `etype` entry."""
    refused = [("options[%d]" % k, problem) for k, problem in enumerate(map(_option_problem, words)) if problem]
    if refused:
        return refused, None
    from ..options import split_options  # written alongside; imported late to keep this module light

    try:
        flags, fs_options, propagation = split_options(etype, list(words))
    except ValueError as exc:
        return [("options", str(exc))], None
    return [], (frozenset(flags), tuple(fs_options), propagation)


def _option_problem(opt):
    """Return why one option string is refused, or None when it may go to split_options."""
    m = _BAD_OPTION_CHAR.search(opt)
    if m:
        return "contains control character %r at offset %d" % (m.group(), m.start())
    if unencodable(opt):
        return unencodable(opt)
    if "," in opt:
        return "one option per item, the list is the separator: write %s" % ", ".join(
            repr(part) for part in opt.split(",") if part)
    key, eq, _value = opt.partition("=")
    if eq and not key.strip():
        return "has an empty key: %r" % opt
    if key != key.strip() or " " in key:
        return "has blanks in its key: %r" % opt
    if key in _LAYER_KEYS:
        return "overlay layers go in the lower, data, upper and work fields, not in options: %r" % opt
    if key == "source":
        return "the source goes in the source field, not in options: %r" % opt
    if not eq and key in _WORD_HINTS:
        return "%r is not a mount option here: %s" % (opt, _WORD_HINTS[key])
    return None
