"""What livemount@NAME.service runs: apply the enabled copy of NAME, and remember how that went.

The apply is an ordinary reconcile (plan, lock, journal, rollback on
failure). Its outcome is recorded next to the profile's state, in
<state root>/mnt-<inode>/<name>.boot.json — under /run by default, so a
record never outlives the boot it describes; it also carries the kernel's
boot id, so a state root kept across reboots does not show an old boot's
record as this one's. `status` shows it ("applied at boot ...", or the
failure).
"""

import json
import os

from .. import engine
from ..errors import LivemountError
from ..journal import fsync_dir
from ..plan import to_perform
from ..state import StateStore, now
from .store import EnabledStore

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def apply_enabled(name, system, config=None, root=None, progress=None):
    """Return the Report of applying the enabled copy of profile `name`; record the outcome for `status`.

    Raises what reconcile raises (after a rollback), or LivemountError when
    `name` is not enabled or its copy cannot be trusted; the record says so
    too.
    """
    ns = system.namespace_id()
    try:
        enabled = EnabledStore(config).load(name)
        if enabled is None:
            raise LivemountError("cannot apply enabled profile %s: it is not enabled (no %s)"
                                 % (name, EnabledStore(config).path(name)))
        report = engine.reconcile(enabled.profile(), system, root=root, profile_data=enabled.profile_data,
                                  progress=progress)
    except LivemountError as exc:
        _record(root, ns, name, {"result": "failed", "error": str(exc)})
        raise
    _record(root, ns, name, {"result": "applied", "error": None, "changes": len(to_perform(report.changes))})
    return report


def read_record(root, namespace_id, name):
    """Return {at, result, error, changes} of the last boot apply of `name` during this boot, or None."""
    path = _path(root, namespace_id, name)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # none, or unreadable: a record is a courtesy, never trusted for a decision
    if not isinstance(doc, dict) or doc.get("boot_id") != boot_id() or doc.get("result") not in ("applied", "failed"):
        return None
    return {k: doc.get(k) for k in ("at", "result", "error", "changes")}


def boot_id():
    """Return the kernel's id of this boot (random per boot), or '' when unknown."""
    try:
        with open(BOOT_ID) as f:
            return f.read().strip()
    except OSError:
        return ""


def _path(root, namespace_id, name):
    return os.path.join(StateStore(engine.state_root(root), namespace_id, name).dir, name + ".boot.json")


def _record(root, namespace_id, name, outcome):
    """Write the record of this boot apply; a record that cannot be written is not worth failing the boot for."""
    store = StateStore(engine.state_root(root), namespace_id, name)
    doc = dict(outcome, profile=name, at=now(), boot_id=boot_id())
    try:
        store.ensure_dir()
        path = _path(root, namespace_id, name)
        tmp = "%s.tmp.%d" % (path, os.getpid())
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600), "w") as f:
            f.write(json.dumps(doc, sort_keys=True) + "\n")
        os.rename(tmp, path)
        fsync_dir(store.dir)
    except (OSError, LivemountError):
        pass
