"""Enable and disable profiles (the copies systemd applies at boot), and what `status` says about them.

`enable` validates, refuses a profile an /etc/fstab line competes with,
and writes the copy only when it differs from the one there (comparing the
canonical profile, not the text: reordered options are no change). Check
mode computes the same answer and writes nothing. Both report a diff of
what boot would mount, as the fstab-like lines of `apply --diff`.
"""

import os
from typing import List, Optional

from .. import engine
from ..diff import make_diff, table_text
from ..errors import LivemountError, PlanError, StateError
from ..plan import to_perform
from ..state import now
from . import atboot, fstab_clash, installer, units
from .store import EnabledStore
from ..records import field, record


class FstabConflict(PlanError):
    """An /etc/fstab line mounts a target of the profile too; nothing was enabled.

    ``fstab`` lists each clash: {target, line, fstab_line}.
    """

    def __init__(self, message, path, clashes):
        self.path = path
        self.fstab = list(clashes)
        super().__init__(message)

    def to_dict(self):
        """Return the error with the fstab lines at fault."""
        d = super().to_dict()
        d.update(fstab=self.fstab, fstab_path=self.path)
        return d


@record(frozen=False)
class EnableReport:
    """The result of enable or disable, as the CLI and the module present it."""

    profile: str
    action: str  # enable, disable
    mode: str  # check, apply
    changed: bool
    path: str
    diff: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)

    def to_dict(self):
        """Return the JSON form (`livemount enable --json`, the module's `enable` result)."""
        return {"profile": self.profile, "action": self.action, "mode": self.mode, "changed": self.changed,
                "path": self.path, "diff": self.diff, "warnings": list(self.warnings)}


def enable(profile, data, config=None, check=False, source="", fstab=None):
    """Return the EnableReport of storing `data` (validated as `profile`) as the enabled copy of its profile.

    Raises FstabConflict (nothing written) when an fstab line mounts one of
    its targets too.
    """
    store = EnabledStore(config)
    path, clashes = fstab_clash.read_clashes(profile, fstab)
    if clashes:
        first = fstab_clash.clash_message(profile.name, path, clashes[0])
        more = "" if len(clashes) == 1 else " (and %d more fstab lines)" % (len(clashes) - 1)
        raise FstabConflict("cannot enable profile %s: %s%s" % (profile.name, first, more), path, clashes)
    report = EnableReport(profile.name, "enable", "check" if check else "apply", False, store.path(profile.name))
    try:
        old = store.load(profile.name)
    except StateError as exc:
        old = None
        report.warnings.append("the enabled copy there cannot be trusted and is replaced: %s" % exc)
    report.changed = old is None or not _same(old, profile, data)
    report.diff = _diff(profile.name, old, profile, data)
    if report.changed and not check:
        store.save(profile.name, data, now(), source)
    report.warnings.extend(_systemd_side(changed=report.changed and not check, enabling=True))
    return report


def disable(name, config=None, check=False):
    """Return the EnableReport of removing the enabled copy of `name` (no change when it is not enabled)."""
    store = EnabledStore(config)
    report = EnableReport(name, "disable", "check" if check else "apply", False, store.path(name))
    try:
        old = store.load(name)
    except StateError as exc:
        old = None
        report.warnings.append("removing an enabled copy that cannot be trusted: %s" % exc)
    report.changed = os.path.lexists(report.path)
    report.diff = _diff(name, old, None, None)
    if report.changed and not check:
        store.remove(name)
    report.warnings.extend(_systemd_side(changed=report.changed and not check, enabling=False))
    return report


def annotate_status(rows, system, config=None, root=None, fstab=None, only=None):
    """Return `rows` (engine.status) with `enabled`, `enabled_copy` and `boot`, plus rows of enabled profiles.

    An enabled profile with no state here gets a row of its own.

    `enabled_copy`: {path, enabled_at, matches_live, pending, conflicts,
    fstab_conflicts} — whether applying the enabled copy now would change
    nothing (the plan of the enabled copy against the live table, in check
    mode), or {path, error} when the copy cannot be trusted. `boot`: the
    record of this boot's apply of it (atboot.read_record), or None. `only`
    keeps to that profile, as engine.status(name=) does.
    """
    store = EnabledStore(config)
    names = [n for n in store.names() if only in (None, n)]
    by_name = {r["profile"]: r for r in rows}
    ns = system.namespace_id()
    for n in names:
        if n not in by_name:
            by_name[n] = {"profile": n, "namespace": ns, "applied_at": None, "interrupted": False, "entries": []}
            rows.append(by_name[n])
    for r in rows:
        r["enabled"] = r["profile"] in names
        r["boot"] = atboot.read_record(root, ns, r["profile"])
        if r["enabled"]:
            r["enabled_copy"] = _copy_status(store, r["profile"], system, root, fstab)
    rows.sort(key=lambda r: r["profile"])
    return rows


def _copy_status(store, name, system, root, fstab):
    try:
        enabled = store.load(name)
        profile = enabled.profile()
    except StateError as exc:
        return {"path": store.path(name), "error": str(exc), "matches_live": False, "pending": [], "conflicts": [],
                "fstab_conflicts": []}
    out = {"path": enabled.path, "enabled_at": enabled.enabled_at, "pending": [], "conflicts": [],
           "fstab_conflicts": []}
    path, clashes = fstab_clash.read_clashes(profile, fstab)
    out["fstab_conflicts"] = [dict(c, message=fstab_clash.clash_message(name, path, c)) for c in clashes]
    try:
        report = engine.reconcile(profile, system, root=root, check=True)
        out["pending"] = [c.to_dict() for c in to_perform(report.changes)]
    except PlanError as exc:
        out["conflicts"] = [c.to_dict() for c in exc.conflicts] or [{"reason": str(exc)}]
    except LivemountError as exc:
        out["error"] = str(exc)
    out["matches_live"] = not (out["pending"] or out["conflicts"] or out.get("error"))
    return out


def _same(old, profile, data):
    """Return True when the enabled copy `old` declares the same profile and boot settings as `profile`/`data`."""
    try:
        return old.profile() == profile and units.boot_settings(old.profile_data) == units.boot_settings(data)
    except LivemountError:
        return False


def _text(profile, data):
    if profile is None:
        return ""
    boot = units.boot_settings(data)
    extra = ["%s=%s" % (k, ",".join(v) if isinstance(v, list) else v) for k, v in sorted(boot.items())
             if v != units.BOOT_DEFAULTS[k]]
    return table_text(list(profile.entries)) + ("# boot: %s\n" % " ".join(extra) if extra else "")


def _diff(name, old, profile, data):
    before = ""
    if old is not None:
        try:
            before = _text(old.profile(), old.profile_data)
        except LivemountError:
            before = ""
    d = make_diff([], [], "enabled copy of %s" % name)
    d.update(before=before, after=_text(profile, data))
    return d


def _systemd_side(changed, enabling):
    """Return warnings about the boot units; after a change, have a running systemd run the generator again."""
    if installer.installed() is None:
        return ["the boot units are not installed: the profile will not be applied at boot until "
                "`livemount systemd install` installs them"] if enabling else []
    if changed and installer.systemd_running():
        problem = installer.daemon_reload()  # systemd runs the generator again: `systemctl status` shows the unit
        return [problem] if problem else []
    return []


def load_enabled(name, config=None):
    """Return (Profile, profile data) of the enabled copy of `name`; LivemountError when it is not enabled."""
    enabled = EnabledStore(config).load(name)
    if enabled is None:
        raise LivemountError("cannot use the enabled copy of profile %s: it is not enabled (no %s)"
                             % (name, EnabledStore(config).path(name)))
    return enabled.profile(), enabled.profile_data


def follow_up(name, enabled, state, profile, data, config=None, check=False, source=""):
    """Return the EnableReport that goes with a mount_profile run, or None when the enabled copy is left alone.

    enabled=True keeps `data` as the enabled copy (with state=absent the copy
    stays as it is: not mounted now, mounted at boot); False disables; None
    disables with state=absent (gone now and at boot) and otherwise leaves
    the copy alone.
    """
    if state == "absent":
        return None if enabled else disable(name, config, check)
    if enabled:
        return enable(profile, data, config, check, source)
    return disable(name, config, check) if enabled is False else None
