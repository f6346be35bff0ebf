"""The old uppers and works an overlay replace kept aside (upper_policy fresh): find them, weigh them, prune them.

upper_policy.move_aside renames a reused upper or work to a sibling named
`<name>.livemount-<UTC stamp>[-N]` and leaves it: the old overlay may still
be running on it for processes inside. They pile up; `livemount status`
lists them with their sizes and `livemount overlay prune` removes the ones
no mount uses any more.

In use means: some overlay mount, in any mount namespace (one mountinfo per
namespace under /proc), names the aside's original path as its upperdir or
workdir (the kernel keeps the option as it was given, so the old overlay
still shows the name the aside had) while not being the overlay the profile
owns now. A lazily detached old overlay, still held by a process that was
inside it, is in no mountinfo at all: prune says so and asks first.
"""

import os
import re
import shutil

from ..errors import LivemountError
from ..kernel import namespace
from ..model import OVERLAY
from ..state import StateStore, known_profiles
from .upper_policy import ASIDE

_STAMP = re.compile(r"\d{8}T\d{6}Z(-\d+)?$")


def find(root, namespace_id, name=None):
    """Return [{profile, target, role, origin, path, bytes}] of the asides next to each owned overlay's upper/work."""
    out = []
    for profile in [name] if name else known_profiles(root, namespace_id):
        try:
            state = StateStore(root, namespace_id, profile).load()
        except LivemountError:
            continue  # status reports a state it cannot trust
        for o in state.owned:
            e = o.entry
            if e.type != OVERLAY:
                continue
            for role, origin in (("upper", e.upper), ("work", e.work)):
                for path in aside_paths(origin):
                    out.append({"profile": profile, "target": e.target, "role": role, "origin": origin,
                                "path": path, "bytes": disk_usage(path), "dev": o.dev})
    return out


def aside_paths(origin):
    """Return the asides of directory `origin` (its siblings `<name>.livemount-<stamp>`), oldest first."""
    if not origin:
        return []
    parent, base = os.path.split(origin)
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    head = base + ASIDE
    return sorted(os.path.join(parent, n) for n in names if n.startswith(head) and _STAMP.match(n[len(head):])
                  and os.path.isdir(os.path.join(parent, n)) and not os.path.islink(os.path.join(parent, n)))


def disk_usage(path):
    """Return the bytes the tree at `path` takes on disk (du's count: allocated blocks), None when unreadable."""
    total = 0
    try:
        total += os.lstat(path).st_blocks * 512
        for dirpath, dirs, files in os.walk(path, onerror=_raise):
            for n in dirs + files:
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
    except OSError:
        return None
    return total


def _raise(exc):
    raise exc


def users(origin, current_devs, proc="/proc"):
    """Return `mount point in namespace` of every overlay mount, anywhere, still on `origin` and not a current one."""
    out = []
    for ns, table in namespace.every_table(proc):
        for m in table.mounts:
            if m.fstype == OVERLAY and origin in (m.upper, m.work) and tuple(m.dev) not in current_devs:
                out.append("%s in %s" % (m.mount_point, ns))
    return out


def prune(root, namespace_id, name=None, check=False, proc="/proc"):
    """Return {mode, removed: [aside], kept: [aside + why], bytes}: the asides no mount uses, deleted (or would be)."""
    found = find(root, namespace_id, name)
    current = {}
    for a in found:
        if a["dev"]:
            current.setdefault(a["origin"], set()).add(tuple(a["dev"]))
    report = {"mode": "check" if check else "apply", "namespace": namespace_id, "removed": [], "kept": [],
              "bytes": 0}
    busy = {}
    for a in found:
        if a["origin"] not in busy:
            busy[a["origin"]] = users(a["origin"], current.get(a["origin"], set()), proc)
        row = {k: a[k] for k in ("profile", "target", "role", "origin", "path", "bytes")}
        if busy[a["origin"]]:
            report["kept"].append(dict(row, why="an older overlay on %s is still mounted: %s"
                                       % (a["origin"], ", ".join(busy[a["origin"]]))))
            continue
        if not check:
            try:
                shutil.rmtree(a["path"])
            except OSError as exc:
                raise LivemountError("cannot remove %s: %s; removed before it: %s" % (
                    exc.filename or a["path"], exc.strerror or exc,
                    ", ".join(r["path"] for r in report["removed"]) or "nothing"))
        report["removed"].append(row)
        report["bytes"] += a["bytes"] or 0
    return report
