"""What one engine call did, or in check mode would do, as the CLI and the modules present it.

`Report` is the result of reconcile and destroy; `change_dict` is each change's
JSON form (`--json`, the modules' `changes`, a saved plan's steps).
"""

from typing import List, Optional

from . import fingerprint
from .model import Action
from .plan import conflicts_in, to_perform
from .records import field, record


@record(frozen=False)
class Report:
    """The result of one engine call, as the CLI and the modules present it."""

    profile: str
    namespace: str
    mode: str
    changes: List = field(default_factory=list)
    failed: List = field(default_factory=list)
    skipped: List = field(default_factory=list)
    warnings: List = field(default_factory=list)
    recovered: List = field(default_factory=list)
    rolled_back: List = field(default_factory=list)
    # The diff (diff.make_diff's dict) or a callable making it when first asked: only --diff, --json and the
    # modules in diff mode show it, and a terminal apply of 1,000 entries spent 7% of its time making it twice.
    diff_source: Optional[object] = field(default=None, repr=False, compare=False)
    kept_aside: List = field(default_factory=list)  # upper_policy.py: old uppers/works renamed aside
    # For callers that verify and roll back from this run alone (the role, the rollout): the profile
    # data as last applied before this run (None: there was none), and each owned entry's health as
    # the run leaves it (before any change in check mode), entry_health's dicts.
    previous: Optional[dict] = None
    # How to read the health when asked (callable; None: nothing recorded): the module asks, the CLI does not.
    health_source: Optional[object] = field(default=None, repr=False, compare=False)
    # fingerprint.py: what a check-mode plan was made from; a callable taking it until first asked (only
    # confirming or saving a plan asks: a plain `livemount plan` never pays for it).
    fingerprint_source: Optional[object] = field(default=None, repr=False, compare=False)

    @property
    def fingerprint(self):
        """Return the fingerprint of what this check-mode plan was made from (None when none was taken)."""
        return _made(self, "fingerprint_source")

    @property
    def diff(self):
        """Return the before and after of the owned table (make_diff's dict; None when none was made)."""
        return _made(self, "diff_source")

    @property
    def health(self):
        """Return each owned entry's health as this run leaves it (entry_health's dicts; [] when none was recorded)."""
        if self.health_source is None:
            return []
        if not isinstance(self.health_source, list):
            self.health_source = self.health_source()  # read once, when first asked
        return self.health_source

    def __getstate__(self):
        # A report made in another namespace travels back pickled (nsexec.py): the health as a list,
        # which the callable reading it cannot be.
        state = dict(self.__dict__)
        state["health_source"] = self.health
        state["fingerprint_source"] = self.fingerprint
        state["diff_source"] = self.diff
        return state

    @property
    def healthy(self):
        """Return True when every owned entry the run leaves is ok and no interrupted apply waits (check mode)."""
        return not (self.mode == "check" and self.recovered) and all(e["health"] == "ok" for e in self.health)

    def expected(self):
        """Return this check-mode plan as a fingerprint.Expected: `reconcile(expect=...)` applies exactly it.

        A plan shown before an interrupted apply is recovered was made on a
        simulation of the recovery: the apply recovers for real, plans again
        and goes on only if the steps come out the same.
        """
        if self.recovered:
            return fingerprint.Expected(None, change_dicts=tuple(change_dict(c) for c in self.changes))
        return fingerprint.Expected(self.fingerprint, changes=tuple(self.changes))

    @property
    def changed(self):
        """Return True when the plan alters the system (the same rule in check and apply mode)."""
        return bool(to_perform(self.changes)) or bool(self.recovered)

    @property
    def conflicts(self):
        """Return the conflict changes."""
        return conflicts_in(self.changes)

    def to_dict(self):
        """Return the JSON form shared by `livemount --json` and the Ansible modules."""
        return {
            "profile": self.profile,
            "namespace": self.namespace,
            "mode": self.mode,
            "changed": self.changed,
            "changes": [change_dict(c) for c in self.changes if c.action != Action.CONFLICT],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "failed": [dict(c.to_dict(), error=msg) for c, msg in self.failed],
            "skipped": [dict(c.to_dict(), why=why) for c, why in self.skipped],
            "warnings": list(self.warnings),
            "recovered": list(self.recovered),
            "kept_aside": [dict(a) for a in self.kept_aside],
            "diff": self.diff,
        }


def _made(report, name):
    """Return the value of `report`'s field `name`, made first (once, when first asked) if it holds what makes it."""
    value = getattr(report, name)
    if callable(value):
        value = value()
        setattr(report, name, value)
    return value


def change_dict(c):
    """Return the JSON form of Change `c` with the entry before and after it (profile form), as --json shows it."""
    d = c.to_dict()
    if c.action in (Action.KEEP, Action.CONFLICT, Action.MKDIR, Action.RMDIR):
        return d  # the steps that show no entry (a no-op plan's 5,000 keeps): not even an import to run
    from .profile.forms import entry_to_profile_dict

    before = c.before.entry if c.before is not None else None
    if c.action in (Action.UNMOUNT, Action.UNLINK):
        before = before or c.entry
    d["before"] = entry_to_profile_dict(before) if before is not None else None
    d["after"] = entry_to_profile_dict(c.entry) if c.action not in (Action.UNMOUNT, Action.UNLINK) else None
    return d
