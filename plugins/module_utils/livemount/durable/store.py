"""The enabled copies of profiles, kept where a reboot does not lose them.

Layout: <config>/enabled/<name>.json (config: `--config-dir`,
$LIVEMOUNT_CONFIG_DIR, else /etc/livemount), one file per enabled profile:

    {"format": "livemount-enabled", "version": 1, "sha256": "<of the body>",
     "body": {"profile": NAME, "enabled_at": ISO-8601, "source": where it came from,
              "profile_data": {the profile as validated}}}

Written atomically (exclusive temp file, fsync, rename, fsync of the
directory), mode 0644: the generator and `status` read it, only root writes
it. Read like a state file, as untrusted input: the directories and the file
must belong to the caller and not be writable by group or others, the file
is opened without following a symlink, the checksum must match (a file edited
or truncated by hand is refused, not half-read), the body must name the
profile its file is named for, and the profile must still validate.
"""

import json
import os
import stat

from .. import ourfiles
from ..errors import ProfileError, StateError
from ..journal import fsync_dir
from ..profile.load import NAME_RX, load_profile
from ..sha import sha256
from ..records import field, record

DEFAULT_CONFIG = "/etc/livemount"
FORMAT = "livemount-enabled"
VERSION = 1
_SUFFIX = ".json"


def config_root(config=None):
    """Return the configuration directory: the argument, else $LIVEMOUNT_CONFIG_DIR, else /etc/livemount."""
    return config or os.environ.get("LIVEMOUNT_CONFIG_DIR") or DEFAULT_CONFIG


@record
class Enabled:
    """One enabled profile as its file holds it."""

    name: str
    path: str
    enabled_at: str
    source: str
    profile_data: dict = field(compare=False)

    def profile(self):
        """Return the validated Profile (ProfileError when the copy no longer validates)."""
        return load_profile(self.profile_data)


class EnabledStore:
    """The enabled/ directory of one configuration directory."""

    def __init__(self, config=None):
        self.root = config_root(config)
        self.dir = os.path.join(self.root, "enabled")

    def path(self, name):
        """Return the file of enabled profile `name`."""
        return os.path.join(self.dir, name + _SUFFIX)

    # ---- directories -------------------------------------------------------------
    def check_dir(self):
        """Raise StateError unless the existing directories are ours and not writable by group or others."""
        ourfiles.check_dirs((self.root, self.dir), "directory")

    def ensure_dir(self):
        """Create the directories (mode 0755) when missing, then check them."""
        ourfiles.ensure_dirs((self.root, self.dir), 0o755, "directory")

    # ---- files -------------------------------------------------------------------
    def names(self):
        """Return the names of the enabled profiles, sorted (files with other names are not profiles: ignored)."""
        self.check_dir()
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError("cannot list %s: %s" % (self.dir, exc.strerror))
        names = (n[: -len(_SUFFIX)] for n in entries if n.endswith(_SUFFIX))
        return sorted(n for n in names if NAME_RX.fullmatch(n))

    def load(self, name):
        """Return the Enabled copy of `name`, or None when it is not enabled; StateError when it cannot be trusted."""
        self.check_dir()
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError("cannot read enabled profile %s: %s" % (path, exc.strerror))
        try:
            ourfiles.check_owned(path, os.fstat(fd), "file", stat.S_ISREG)
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read()
        finally:
            os.close(fd)
        try:
            doc = json.loads(raw.decode("utf-8"))
            body = doc["body"]
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError("unknown format")
            if doc.get("sha256") != _digest(body):
                raise ValueError("checksum mismatch (edited or truncated)")
            if body.get("profile") != name or body["profile_data"].get("name") != name:
                raise ValueError("it holds profile %r, not %r" % (body.get("profile"), name))
            enabled = Enabled(name, path, str(body["enabled_at"]), str(body.get("source") or ""),
                              body["profile_data"])
            enabled.profile()
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, ProfileError) as exc:
            raise StateError("cannot trust enabled profile %s: %s; enable the profile again (livemount enable "
                             "FILE) or disable it" % (path, exc))
        return enabled

    def save(self, name, profile_data, enabled_at, source):
        """Write the enabled copy of `name` atomically; return its path."""
        self.ensure_dir()
        body = {"profile": name, "enabled_at": enabled_at, "source": source, "profile_data": profile_data}
        doc = {"format": FORMAT, "version": VERSION, "sha256": _digest(body), "body": body}
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        path = self.path(name)
        tmp = "%s.tmp.%d" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask: the generator and status read it
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, path)
        fsync_dir(self.dir)
        return path

    def remove(self, name):
        """Delete the enabled copy of `name`; return True when there was one."""
        self.check_dir()
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            return False
        fsync_dir(self.dir)
        return True


def _digest(body):
    return sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
