"""The state a profile owns in one mount namespace, and where it is kept.

Layout: <root>/<namespace-key>/<profile>.state.json (+ .lock, + .journal).
The state file is written atomically (exclusive temp file, fsync, rename,
fsync dir) and carries a sha256 of its body: a file truncated or edited by
hand is reported, never silently trusted. The directory must belong to the
caller and not be writable by group or others.
"""

import contextlib
import datetime
import fcntl
import json
import os
import re
from typing import Optional, Tuple

from . import ourfiles, paths, stored
from .errors import StateError, strerror
from .journal import Journal, fsync_dir
from .model import Owned
from .sha import sha256
from .records import field, record

DEFAULT_ROOT = "/run/livemount"


def state_root(root=None):
    """Return the state root: the argument, else $LIVEMOUNT_STATE_DIR, else /run/livemount."""
    return root or os.environ.get("LIVEMOUNT_STATE_DIR") or DEFAULT_ROOT


FORMAT = "livemount-state"
VERSION = 1
RESET_PREFIX = "overlay-reset@"  # the stores of `overlay reset --force` (overlay_reset_journal.py)
TEMP = ".tmp."  # <profile>.state.json.tmp.<pid>.<random>: a save in progress, or a killed one's leftover


@record
class State:
    """What one profile owns in one namespace: entries, created paths, last apply."""

    profile: str
    namespace: str = ""
    owned: Tuple[Owned, ...] = ()
    created: Tuple[str, ...] = ()
    applied_at: Optional[str] = None
    profile_data: Optional[dict] = field(default=None, compare=False)
    # Which directories livemount made at the created paths: (path, (major, minor, inode)) pairs. One path
    # may have several (a directory made again inside a filesystem mounted over the first one).
    created_ids: Tuple[Tuple[str, Tuple[int, int, int]], ...] = ()

    def ids_of(self):
        """Return {created path: set of (major, minor, inode)} of the directories livemount made there."""
        out = {}
        for p, ident in self.created_ids:
            out.setdefault(p, set()).add(tuple(ident))
        return out

    def by_target(self):
        """Return {target: Owned}."""
        return {o.entry.target: o for o in self.owned}

    def leftovers(self):
        """Return the created paths no owned entry needs: kept because another profile's mount still uses them."""
        needed = paths.with_ancestors(o.entry.target for o in self.owned)
        return tuple(p for p in self.created if p not in needed)


def namespace_key(namespace_id):
    """Return a file-name-safe key for a namespace id such as `mnt:[4026531841]`."""
    m = re.match(r"^(\w+):\[(\d+)\]$", namespace_id or "")
    return "%s-%s" % m.groups() if m else re.sub(r"[^A-Za-z0-9_.-]", "_", namespace_id or "unknown")


class StateStore:
    """The files of one (profile, namespace) under a state root."""

    def __init__(self, root, namespace_id, name):
        self.root = root
        self.namespace_id = namespace_id
        self.name = name
        self.dir = os.path.join(root, namespace_key(namespace_id))
        self.path = os.path.join(self.dir, name + ".state.json")
        self.journal = Journal(os.path.join(self.dir, name + ".journal"))
        self.lock_path = os.path.join(self.dir, name + ".lock")
        self.history_path = os.path.join(self.dir, name + ".history.json")  # history.py
        # Facts about the namespace rather than the entries (nsexec.py): how it
        # was named (`target`) and which owned binds take their source from the
        # caller's namespace (`host_sources`). Read by load(), written by save()
        # when not empty, so states of the caller's own namespace are unchanged.
        self.meta = {}

    # ---- directory -----------------------------------------------------------
    def ensure_dir(self):
        """Create the state directories (mode 0700) if missing, then check they are safe."""
        ourfiles.ensure_dirs((self.root, self.dir), 0o700, "state directory")

    def check_dir(self):
        """Raise StateError unless existing state directories are owned by us and not group/other-writable."""
        ourfiles.check_dirs((self.root, self.dir), "state directory")

    # ---- lock ------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, write=True):
        """Hold the profile's lock for the whole plan+apply; readers (check mode) create nothing."""
        if write:
            self.ensure_dir()
        else:
            # Readers trust what they read too: check the directories even
            # when a lock file exists (it did not, before the first apply).
            self.check_dir()
            if not os.path.exists(self.lock_path):
                yield
                return
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if write else 0)
        try:
            fd = os.open(self.lock_path, flags, 0o600)
        except OSError as exc:
            raise StateError("cannot open lock %s: %s" % (self.lock_path, strerror(exc.errno)))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            if write:
                self.clear_temps()  # every save of this profile holds this lock: a temp file now is a dead save's
            yield
        finally:
            os.close(fd)

    # ---- state file ------------------------------------------------------------
    def exists(self):
        """Return True if a state file exists."""
        return os.path.exists(self.path)

    def load(self):
        """Return the saved State (an empty one if none); StateError if it cannot be trusted."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return State(self.name, self.namespace_id)
        except OSError as exc:
            raise StateError("cannot read state %s: %s" % (self.path, strerror(exc.errno)))
        try:
            doc = json.loads(raw.decode("utf-8"))
            if not isinstance(doc, dict) or "body" not in doc:
                raise ValueError("not a livemount state document")
            body = doc["body"]
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError("unknown format")
            if not _digest_matches(doc.get("sha256"), raw, body):
                raise ValueError("checksum mismatch (edited or truncated)")
            if body.get("profile") != self.name:
                # A good checksum proves the body is whole, not that it is this
                # profile's: a copy of another profile's state would make this
                # profile unmount the other's mounts as "removed from profile".
                raise ValueError("it is the state of profile %r, not %r" % (body.get("profile"), self.name))
            # Whole and this profile's is not yet what a state may hold: every field, every path it would act on.
            owned = stored.check_state(body)
            meta = body.get("meta") or {}
            if not isinstance(meta, dict):
                raise ValueError("meta is not an object")
            self.meta = meta
            return State(body["profile"], body.get("namespace", ""), owned, tuple(body.get("created", ())),
                         body.get("applied_at"), body.get("profile_data"),
                         tuple((p, (ma, mi, ino)) for p, ma, mi, ino in body.get("created_ids", ())))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
            raise StateError("cannot trust state %s: %s; inspect it, then remove it to start over"
                             % (self.path, exc))

    def save(self, state, entry_dict=None):
        """Write `state` atomically (temp file, fsync, rename, fsync dir).

        `entry_dict`: how an Entry becomes its dict (profile.forms.entry_to_state_dict, or one run's state_dicts()).
        """
        if entry_dict is None:
            from .profile.forms import entry_to_state_dict as entry_dict

        self.ensure_dir()
        body = {
            "profile": state.profile,
            "namespace": state.namespace,
            "applied_at": state.applied_at,
            "owned": [_owned_dict(o, entry_dict) for o in state.owned],
            "created": list(state.created),
            "created_ids": [[p] + list(ident) for p, ident in state.created_ids],
            "profile_data": state.profile_data,
        }
        if self.meta:
            body["meta"] = self.meta
        try:
            atomic_write(self.path, _document(body))
        except OSError as exc:
            raise StateError("cannot save state %s: %s" % (self.path, strerror(exc.errno))) from exc

    def clear_temps(self):
        """Return None after removing temporary files of saves that were killed (call with the lock held)."""
        prefix = os.path.basename(self.path) + TEMP
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for name in names:
            if name.startswith(prefix):
                try:
                    os.unlink(os.path.join(self.dir, name))
                except OSError:
                    pass  # gone meanwhile, or not ours to remove: the next run tries again

    def remove(self):
        """Delete the state file (the profile owns nothing any more)."""
        for p in (self.path,):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        if os.path.isdir(self.dir):
            fsync_dir(self.dir)

    def forget(self):
        """Remove state, journal and lock of a namespace that no longer exists (no mount is touched).

        Additive, for nsexec.py: the namespace's mounts died with it, so what
        the state owned is gone and nothing is left to undo.
        """
        with self.lock(write=True):
            for p in (self.path, self.journal.path, self.lock_path, self.history_path):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass  # other profiles still keep state for that namespace


def atomic_write(path, data):
    """Replace file `path` with bytes `data` atomically: exclusive temp file, fsync, rename, fsync of the directory.

    The temp file's name is unique per write (`<path>.tmp.<pid>.<random>`): a
    leftover of a killed write (the same pid again, in another pid namespace)
    is never in the way (StateStore.clear_temps removes a state's under its
    lock). On failure (a full disk) the temp file is removed and the OSError raised.
    """
    tmp = "%s%s%d.%s" % (path, TEMP, os.getpid(), os.urandom(6).hex())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]  # a short write (a full disk) is retried, then ENOSPC
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(os.path.dirname(path))


def _owned_dict(o, entry_to_dict):
    """Return the state file's form of one Owned (which mount it is: only the fields known; load() reads a
    missing dev or synthetic_for as none)."""
    d = {
        "created": list(o.created),  # always: the first key in sorted order, where _document breaks lines
        "entry": entry_to_dict(o.entry),
        "fs_options": [list(kv) for kv in o.fs_options] if o.fs_options is not None else None,
    }
    if o.dev:
        d["dev"] = list(o.dev)
    for key in ("synthetic_for", "unique", "root", "fstype", "marker"):
        if getattr(o, key) is not None:
            d[key] = getattr(o, key)
    return d


def known_profiles(root, namespace_id):
    """Return the names of the profiles this namespace has state for (list_profiles without the reset journals)."""
    return [n for n in list_profiles(root, namespace_id) if not is_reset_store(n)]


def list_profiles(root, namespace_id):
    """Return the names of profiles with a state file or journal in this namespace."""
    d = os.path.join(root, namespace_key(namespace_id))
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError("cannot use state directory %s: %s" % (d, strerror(exc.errno)))
    out = set()
    for n in names:
        for suffix in (".state.json", ".journal"):
            if n.endswith(suffix):
                out.add(n[: -len(suffix)])
    return sorted(out)


def reset_store_name(target):
    """Return the store name of `overlay reset --force` at mount point `target`: `overlay-reset@srv_app-1a2b3c4d5e6f`.

    Additive, for overlay_reset_journal.py. The '@' is not allowed in a
    profile name (schemas/profile.schema.json), so no profile's files can be
    these. The readable part (the path's last 40 safe characters) is for
    people reading `livemount status`; the hash of the whole path is what
    tells two targets apart.
    """
    digest = sha256(target.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", target.strip("/")) or "root"
    return "%s%s-%s" % (RESET_PREFIX, readable[-40:], digest)


def is_reset_store(name):
    """Return True when store `name` is that of a forced overlay reset (reset_store_name), not a profile's."""
    return name.startswith(RESET_PREFIX)


def recorded_for(root, name, record):
    """Return the StateStores of profile `name`, in any namespace, whose meta lists `record` among its names.

    Additive, for nsexec.py: how a namespace that is gone (its nsfs file
    unbound, its process dead) finds the state it left. Unreadable states are
    skipped: status reports them.
    """
    out = []
    try:
        keys = sorted(os.listdir(root))
    except FileNotFoundError:
        return out
    for key in keys:
        kind, _sep, ino = key.partition("-")
        if kind != "mnt" or not ino.isdigit():
            continue
        store = StateStore(root, "mnt:[%s]" % ino, name)
        if not (store.exists() or store.journal.exists()):
            continue
        try:
            store.load()
        except StateError:
            continue
        if record in (store.meta.get("targets") or []):
            out.append(store)
    return out


def now():
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _canonical(body):
    """Return the bytes the sha256 of a state covers: the body as compact JSON with sorted keys."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _digest(body):
    return sha256(_canonical(body)).hexdigest()


def _digest_matches(recorded, raw, body):
    """Return True when `recorded` is the sha256 of `body`'s canonical text (read from file bytes `raw`).

    A file laid out as _document writes it holds that very text: it is hashed
    from the file's own bytes, without serializing the body again (a fifth of
    reading a state of 5,000 entries). Any other layout of the same body (a
    file reformatted by hand) is hashed from the body serialized again.
    """
    start = raw.find(b'\n"body":')
    if start != -1 and raw.endswith(b"}\n"):
        text = raw[start + 8:-2].replace(b'},\n{"created":', b'},{"created":')
        if sha256(text).hexdigest() == recorded:
            return True
    return _digest(body) == recorded


def _document(body):
    """Return the state file's bytes: {"body", "format", "sha256", "version"}, the body serialized once.

    The body's canonical text is both what is hashed and what is written, so
    a save serializes it once, with json's C encoder (an `indent` makes json
    fall back to its pure-Python encoder: most of an apply's save time at
    1,000 entries). load() parses the file and hashes the body's canonical
    form again, so the layout of the file is free: each owned entry starts a
    line, for people reading it. The break is placed before `{"created":`,
    an object's first key in sorted order; a string cannot hold that text
    (a quote inside a JSON string is always escaped), so only whitespace
    between tokens is added.
    """
    text = _canonical(body)
    head = b'{"format":"%s","version":%d,"sha256":"%s",\n"body":' % (
        FORMAT.encode(), VERSION, sha256(text).hexdigest().encode())
    return head + text.replace(b'},{"created":', b'},\n{"created":') + b"}\n"
