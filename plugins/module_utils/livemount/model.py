"""The canonical model: desired entries, live mounts, path facts and plan changes.

Desired and live state are both normalized into these frozen values before any
comparison, so no decision depends on how something was spelled.

Canonical vocabularies
----------------------
* paths: clean absolute strings (see paths.clean), escapes already decoded.
* per-mount flags (`flags`): a frozenset drawn from MOUNT_FLAGS. Absence of an
  atime flag means the kernel default `relatime`; `rw` is the absence of `ro`.
* filesystem options (`fs_options`): a sorted tuple of (key, value-or-None)
  pairs, normalized per filesystem type by options.normalize_fs_options
  (tmpfs sizes in bytes, modes in octal without leading zeros...).
* propagation: one of PROPAGATIONS, or None for "leave as it is".
"""

import dataclasses
import enum
from typing import FrozenSet, Optional, Tuple

from .records import field, record

# Per-mount flags livemount manages exactly (mount_setattr(2) MOUNT_ATTR_*).
MOUNT_FLAGS = frozenset({"ro", "nosuid", "nodev", "noexec", "noatime", "strictatime", "nodiratime"})
ATIME_FLAGS = frozenset({"noatime", "strictatime"})  # neither present = relatime
PROPAGATIONS = ("private", "shared", "slave", "unbindable")

# Entry types that are not kernel filesystem names.
BIND = "bind"
SYMLINK = "symlink"
OVERLAY = "overlay"
TMPFS = "tmpfs"

FsOptions = Tuple[Tuple[str, Optional[str]], ...]


@record
class Entry:
    """One desired (or recorded) entry of a profile, in canonical form.

    `type` is "bind", "symlink", "overlay", "tmpfs" or any kernel filesystem name.
    `source`: bind source path, link content for a symlink, device/label for a
    filesystem (None for tmpfs/overlay, which use `type` as their source).
    `index` and `options` (as written) are for messages only and never compared.
    """

    target: str
    type: str
    source: Optional[str] = None
    recursive: bool = False
    flags: FrozenSet[str] = frozenset()
    fs_options: FsOptions = ()
    lower: Tuple[str, ...] = ()
    data: Tuple[str, ...] = ()
    upper: Optional[str] = None
    work: Optional[str] = None
    propagation: Optional[str] = None
    mkdir: bool = True
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    index: Optional[int] = field(default=None, compare=False)
    options: Tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_mount(self):
        """Return True for entries that are mounts (everything but symlinks)."""
        return self.type != SYMLINK

    @property
    def label(self):
        """Return how messages name this entry: `entry N (/target)` or just the target."""
        if self.index is None:
            return self.target
        return "entry %s (%s)" % (self.index, self.target)

    def spec(self):
        """Return the identity-relevant fields without mkdir/mode/uid/gid (what is mounted)."""
        return (self.type, self.source, self.recursive, self.lower, self.data, self.upper, self.work)


@record
class Ident:
    """Which mount, exactly: what a step checks at its target before it acts, and what the state records.

    `unique` is the kernel's 64-bit mount id (statx(2) STATX_MNT_ID_UNIQUE,
    statmount(2); Linux 6.8+): never given to another mount while the
    system runs. `mount_id` is mountinfo's id, which the kernel hands to the
    next mount as soon as this one is gone, and `dev` its device: together
    they are the fallback of older kernels, good within one run only
    (docs/design.md, "Which mount is ours").
    """

    unique: Optional[int] = None
    mount_id: Optional[int] = None
    dev: Optional[Tuple[int, int]] = None

    def matches(self, other):
        """Return True when `other` (an Ident) names the same mount, as far as both can tell."""
        if self.unique is not None and other.unique is not None:
            return self.unique == other.unique
        return self.mount_id is not None and (self.mount_id, self.dev) == (other.mount_id, other.dev)

    def __str__(self):
        if self.unique is not None:
            return "mount #%d" % self.unique
        if self.dev is not None:
            return "mount %s (device %d:%d)" % (self.mount_id, self.dev[0], self.dev[1])
        return "mount %s" % self.mount_id

    def to_dict(self):
        """Return the journal's form: {"unique", "mount_id", "dev"}."""
        return {"unique": self.unique, "mount_id": self.mount_id, "dev": list(self.dev) if self.dev else None}

    @classmethod
    def from_dict(cls, d):
        """Return the Ident of a journal's dict form (schema-checked by the reader)."""
        return cls(d.get("unique"), d.get("mount_id"), tuple(d["dev"]) if d.get("dev") else None)


@record
class LiveMount:
    """One line of /proc/self/mountinfo, decoded and normalized.

    `flags` uses the same vocabulary as Entry.flags; `fs_options` are the
    super options normalized for `fstype` (overlay layer options removed and
    parsed into lower/data/upper/work instead). `raw_*` keep the kernel text.
    """

    mount_id: int
    parent_id: int
    dev: Tuple[int, int]
    root: str
    mount_point: str
    flags: FrozenSet[str]
    propagation: str
    peer: Optional[int]
    master: Optional[int]
    fstype: str
    source: str
    fs_options: FsOptions
    lower: Tuple[str, ...] = ()
    data: Tuple[str, ...] = ()
    upper: Optional[str] = None
    work: Optional[str] = None
    raw_mount_options: str = ""
    raw_super_options: str = ""
    unique: Optional[int] = None  # the 64-bit unique mount id, when the kernel tells (Ident)

    @property
    def ident(self):
        """Return the Ident of this mount."""
        return Ident(self.unique, self.mount_id, self.dev)

    @property
    def devstr(self):
        """Return the device as `major:minor`."""
        return "%d:%d" % self.dev


@record
class PathFact:
    """What lstat(2) (and readlink) saw at a path, gathered before planning.

    kind: "missing", "dir", "file", "symlink" or "other".
    `link` is the symlink content; `empty` is meaningful for directories.
    `dev` is st_dev as (major, minor), `ino` st_ino: (dev, ino) is which
    directory it is (a directory livemount created is recorded by it).
    """

    kind: str
    link: Optional[str] = None
    mode: Optional[int] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    dev: Optional[Tuple[int, int]] = None
    empty: Optional[bool] = None
    ino: Optional[int] = None

    @property
    def identity(self):
        """Return (major, minor, inode) of what is there, None when unknown."""
        return None if self.dev is None or self.ino is None else (self.dev[0], self.dev[1], self.ino)


MISSING = PathFact("missing")


@record
class Owned:
    """One entry recorded in the state as ours.

    `created` lists the paths livemount created for it (mount points, parents,
    the symlink itself), outermost first; they are removed with it when empty.
    `dev` and `fs_options` are what the live table showed right after the
    mount: drift is measured against them when the filesystem hides options.
    `synthetic_for` names the target of the entry that needed this synthetic
    entry (e.g. a writable mimic), None for entries of the profile.
    `unique` is the mount's unique id (Ident.unique): the mount livemount made
    or adopted, never another one at the same path. `root` and `fstype` are
    what it is, as the table showed them with `dev`; `marker` identifies its
    superblock for kernels without unique ids (kernel/identity.py). All are
    None in states written before they were recorded.
    """

    entry: Entry
    created: Tuple[str, ...] = ()
    dev: Optional[Tuple[int, int]] = None
    fs_options: Optional[FsOptions] = None
    synthetic_for: Optional[str] = None
    unique: Optional[int] = None
    root: Optional[str] = None
    fstype: Optional[str] = None
    marker: Optional[str] = None

    def seen_as(self, live, marker=None):
        """Return this record completed from LiveMount `live`: which mount it is and what that mount is."""
        return dataclasses.replace(self, dev=live.dev, fs_options=tuple(live.fs_options), unique=live.unique,
                                   root=live.root, fstype=live.fstype,
                                   marker=marker if marker is not None else self.marker)


class Action(str, enum.Enum):
    """What a Change does. `conflict` changes stop the plan before any change."""

    KEEP = "keep"
    MKDIR = "mkdir"
    MOUNT = "mount"
    REMOUNT = "remount"
    REPLACE = "replace"
    UNMOUNT = "unmount"
    LINK = "link"
    UNLINK = "unlink"
    RMDIR = "rmdir"
    FORGET = "forget"  # a recorded entry that is no longer there: the state drops it, nothing else is touched
    MIMIC = "mimic"
    CONFLICT = "conflict"

    def __str__(self):
        return self.value


# What the executor performs: every action but keep and conflict (plan.to_perform picks those changes).
PERFORMED_ACTIONS = frozenset(
    {Action.MKDIR, Action.MOUNT, Action.REMOUNT, Action.REPLACE, Action.UNMOUNT, Action.LINK, Action.UNLINK,
     Action.RMDIR, Action.MIMIC, Action.FORGET}
)


@record
class Change:
    """One step of a plan: `action` applied to `entry` because of `reason`.

    `path` is the path acted on (the entry's target, or a directory for mkdir).
    `before` is the owned record being changed or removed (None for new ones).
    `live` is the live mount currently visible at the target, when relevant.
    `adopt` marks a keep that takes an exactly matching foreign mount into state.
    `file_point` marks a mkdir that creates an empty file (mount point of a file bind).
    `synthetic` (a mimic only: `entry` is its tmpfs) lists what goes back on the
    tmpfs, and `synthetic_for` names the target of the entry that needed it.
    `upper_policy` (a replace of an overlay whose new mount reuses the old
    one's upper or work directory) is "fresh" or "carry" (docs/overlay.md).
    """

    action: Action
    entry: Optional[Entry]
    reason: str
    path: str = ""
    before: Optional[Owned] = None
    live: Optional[LiveMount] = None
    adopt: bool = False
    file_point: bool = False
    synthetic: Tuple[Entry, ...] = ()
    synthetic_for: Optional[str] = None
    upper_policy: Optional[str] = None

    @property
    def target(self):
        """Return the path this change is about."""
        return self.path or (self.entry.target if self.entry else "")

    def to_dict(self):
        """Return the JSON form shared by the CLI's --json and the Ansible modules."""
        entry = self.entry
        # `_value_` is what the `value` property reads (enum), and `target` is spelled out: one --json line per
        # change of a plan (5,000 keeps), without two property calls each.
        d = {"action": self.action._value_,  # pylint: disable=protected-access
             "target": self.path or (entry.target if entry else ""), "reason": self.reason}
        if entry is not None:
            d["type"] = entry.type
        if self.adopt:
            d["adopt"] = True
        if self.upper_policy:
            d["upper_policy"] = self.upper_policy
        return d


# A frozen dataclass's __init__ sets each field through object.__setattr__:
# about 2.5 us a LiveMount (a quarter of parsing 10,000 mounts) and 5-10 us an
# Entry (loading a profile, reading a state). Filling __dict__ directly builds
# the same value; classes that validate in __post_init__ or use slots keep
# their constructor. The fields go in in their declared order, each once, as
# __init__ would set them: CPython then lets the instance dict share its keys
# with the class's other instances (208 bytes an Entry instead of 464, 7 MB
# less for a plan of 5,000 entries against 10,000 mounts). Each class gets
# its own builder, one line per field, made once (as dataclasses makes
# __init__): a loop over the fields costs half as much again. The builder
# takes the values as keyword arguments, its defaults the fields' own: the
# call binds them in C, where a dict.get per field cost a third more.
_BUILDERS = {}
_REQUIRED = object()
_PREFIX = "_lm_"  # the builder's own names: no field's


def build(cls, values):
    """Return an instance of frozen dataclass `cls` holding `values` ({field: value}), defaults for the rest."""
    make = builder(cls)
    try:
        return make(**values)
    except TypeError:
        names = frozenset(f.name for f in dataclasses.fields(cls))
        if not values.keys() <= names:
            _unknown(cls, values, names)
        raise


def builder(cls):
    """Return build()'s function for `cls`: it takes the fields as keyword arguments (every field named, in a
    loop that makes many: no dict to build and unpack per instance)."""
    make = _BUILDERS.get(cls)
    if make is None:
        make = _BUILDERS[cls] = _builder(cls)
    return make


def _builder(cls):
    """Return a function of keyword arguments building `cls` as build() says (its constructor for a class that
    validates)."""
    fields = dataclasses.fields(cls)
    if "__post_init__" in vars(cls) or "__slots__" in vars(cls) or any(f.name.startswith(_PREFIX) for f in fields):
        return cls
    env = {_PREFIX + "new": object.__new__, _PREFIX + "cls": cls, _PREFIX + "required": _REQUIRED}
    params, lines = [], []
    for k, f in enumerate(fields):
        if f.default is dataclasses.MISSING:  # a field without a default that values lack stays unset
            params.append("%s=%srequired" % (f.name, _PREFIX))
            lines.append("    if %s is not %srequired: %sd[%r] = %s" % (f.name, _PREFIX, _PREFIX, f.name, f.name))
        else:
            env["%sdefault_%d" % (_PREFIX, k)] = f.default
            params.append("%s=%sdefault_%d" % (f.name, _PREFIX, k))
            lines.append("    %sd[%r] = %s" % (_PREFIX, f.name, f.name))
    head = ["def build_one(*, %s):" % ", ".join(params),
            "    %sobj = %snew(%scls)" % (_PREFIX, _PREFIX, _PREFIX),
            "    %sd = %sobj.__dict__" % (_PREFIX, _PREFIX)]
    source = "\n".join(head + lines + ["    return %sobj" % _PREFIX])
    exec(source, env)  # pylint: disable=exec-used  # field names only, from the class itself
    return env["build_one"]


def _unknown(cls, values, names):
    raise TypeError("%s has no field %s" % (cls.__name__, ", ".join(sorted(set(values) - names))))
