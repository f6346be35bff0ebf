"""livemount watch: notice drift of enabled profiles as it happens, report it, and optionally repair it.

What is watched: the named profiles, else every enabled one. What each should
look like: the profile as last applied in this namespace (its state), else
the enabled copy. So a profile applied by hand since it was enabled is not
reverted to the enabled copy (`status` shows that difference); what is
reported and repaired is what changed behind livemount's back.

Each check is the plan in check mode (lock shared, nothing written): no
pending change is "in sync", pending changes are "drift", a conflict (a mount
livemount does not own, on top of or in the way of one it does) is reported
and never fought. With repair, drift is applied like any apply (plan, lock,
journal, rollback) — at most `burst` times per `window` seconds per profile,
so something that keeps undoing the profile gets a "repairs suspended" line
instead of a loop. A line is emitted only when a profile's condition changes.

The loop (`run`) wakes on the kernel's notice that the mount table changed
(kernel/mountwatch.py), lets a burst of changes settle, and checks; also
every `interval` seconds (a symlink removed by hand changes no mount table,
a propagation change wakes no poll).
"""

import collections
import time
from typing import List, Optional

from .. import engine
from ..errors import LivemountError, PlanError
from ..plan import to_perform
from ..profile.load import load_profile
from ..state import StateStore, now
from .store import EnabledStore
from ..records import field, record

# Words for each kind of event, as a text line says them.
KINDS = {
    "watching": "watching",
    "drift": "drift",
    "in_sync": "in sync",
    "conflict": "conflict, left alone",
    "repaired": "repaired",
    "repair_failed": "repair failed",
    "suspended": "repairs suspended",
    "error": "cannot check",
    "stopped": "no longer watched",
}


@record(frozen=False)
class Event:
    """One thing worth a line: a profile's condition changed, or a repair happened."""

    profile: str
    kind: str
    message: str
    changes: List[dict] = field(default_factory=list)
    elapsed: Optional[float] = None
    time: str = field(default_factory=now)

    def line(self):
        """Return the event as one line of text: `web: drift: mount /srv/app/cache: recorded but not mounted`."""
        return "%s: %s: %s" % (self.profile, KINDS[self.kind], self.message)

    def to_dict(self):
        """Return the event as one JSON object (`livemount watch --json` prints one per line)."""
        d = {"time": self.time, "profile": self.profile, "event": self.kind, "message": self.message,
             "changes": self.changes}
        if self.elapsed is not None:
            d["elapsed"] = round(self.elapsed, 3)
        return d


class RepairLimit:
    """At most `burst` repairs of one profile within any `window` seconds."""

    def __init__(self, burst=3, window=60.0):
        self.burst = burst
        self.window = window
        self._done = collections.defaultdict(collections.deque)

    def allow(self, name, t):
        """Return True (and count a repair at time t) when one more repair of `name` is allowed now."""
        done = self._done[name]
        while done and done[0] <= t - self.window:
            done.popleft()
        if len(done) >= self.burst:
            return False
        done.append(t)
        return True

    def resume_at(self, name):
        """Return when the next repair of `name` will be allowed (a monotonic time), or None when it is now."""
        done = self._done.get(name)
        return done[0] + self.window if done and len(done) >= self.burst else None


class Watcher:
    """Checks profiles against the live table and remembers what it last said about each."""

    def __init__(self, system, names=(), config=None, root=None, repair=False, limit=None, clock=time.monotonic):
        self.system = system
        self.names = list(names)
        self.store = EnabledStore(config)
        self.root = root
        self.repair = repair
        self.limit = limit or RepairLimit()
        self.clock = clock
        self.last = {}  # name -> the condition last reported
        self.suspended = {}  # name -> monotonic time repairs resume

    def wanted(self):
        """Return ([(name, Profile, profile data, origin)] of the profiles to watch, [Event] of those that cannot be)."""
        out, events = [], []
        ns = self.system.namespace_id()
        for name in self.names or self.store.names():
            try:
                data = StateStore(engine.state_root(self.root), ns, name).load().profile_data
                origin = "as last applied"
                if data is None:
                    enabled = self.store.load(name)
                    if enabled is None:
                        raise LivemountError("cannot watch profile %s: it is not enabled and was never applied in %s"
                                             % (name, ns))
                    data, origin = enabled.profile_data, "enabled copy, not applied yet"
                out.append((name, load_profile(data), data, origin))
            except LivemountError as exc:
                events.extend(self._say(name, ("error", str(exc)), "error", str(exc)))
        return out, events

    def check(self):
        """Return the Events of one look at every watched profile (repairing drift when asked to)."""
        wanted, events = self.wanted()
        for name in sorted(set(self.last) - {w[0] for w in wanted} - set(self.names)):
            del self.last[name]
            events.append(Event(name, "stopped", "it is no longer enabled"))
        for name, profile, data, origin in wanted:
            events.extend(self._check_one(name, profile, data, origin))
        return events

    def next_deadline(self):
        """Return the monotonic time a suspended repair may be retried, or None."""
        return min(self.suspended.values()) if self.suspended else None

    def _check_one(self, name, profile, data, origin):
        first = name not in self.last
        out = [Event(name, "watching", "%d entries (%s)" % (len(profile.entries), origin))] if first else []
        try:
            report = engine.reconcile(profile, self.system, root=self.root, check=True)
        except PlanError as exc:
            reasons = tuple(c.reason for c in exc.conflicts) or (str(exc),)
            return out + self._say(name, ("conflict", reasons), "conflict", "; ".join(reasons),
                                   [c.to_dict() for c in exc.conflicts])
        except LivemountError as exc:
            return out + self._say(name, ("error", str(exc)), "error", str(exc))
        changes = to_perform(report.changes)
        if not changes:
            if first:
                self.last[name] = ("in_sync",)
                out[0].message += ", in sync"
                return out
            return out + self._say(name, ("in_sync",), "in_sync", "the live table matches the profile again")
        text = "; ".join("%s %s: %s" % (c.action.value, c.target, c.reason) for c in changes)
        out += self._say(name, ("drift", text), "drift", text, [c.to_dict() for c in changes])
        if self.repair:
            out += self._repair(name, profile, data)
        return out

    def _repair(self, name, profile, data):
        t = self.clock()
        if not self.limit.allow(name, t):
            resume = self.limit.resume_at(name)
            if name in self.suspended:
                return []
            self.suspended[name] = resume
            return [Event(name, "suspended", "%d repairs within %g s: something keeps undoing the profile; next "
                          "attempt in %.0f s" % (self.limit.burst, self.limit.window, max(0.0, resume - t)))]
        self.suspended.pop(name, None)
        try:
            report = engine.reconcile(profile, self.system, root=self.root, profile_data=data)
        except LivemountError as exc:
            return self._say(name, ("repair_failed", str(exc)), "repair_failed", str(exc))
        done = to_perform(report.changes)
        self.last[name] = ("in_sync",)
        text = "; ".join("%s %s" % (c.action.value, c.target) for c in done) or "nothing left to do"
        return [Event(name, "repaired", text, [c.to_dict() for c in done], elapsed=self.clock() - t)]

    def _say(self, name, condition, kind, message, changes=()):
        """Return [Event] when `condition` differs from what was last said about `name`, else []."""
        if self.last.get(name) == condition:
            return []
        self.last[name] = condition
        return [Event(name, kind, message, list(changes))]


def run(watcher, waiter, emit, stop, interval=60.0, settle=0.05):
    """Return None once stop() is true, after checking at start and whenever the table changes or `interval` passes.

    `waiter.wait(timeout)` returns True when the table changed (or a wakeup
    came), False on timeout; `emit(event)` prints one Event. A burst of
    changes (an apply makes several) is one check: after a wakeup the table
    must stay quiet for `settle` seconds.
    """
    clock = watcher.clock
    for event in watcher.check():
        emit(event)
    next_periodic = clock() + interval
    while not stop():
        deadline = min(d for d in (next_periodic, watcher.next_deadline()) if d is not None)
        changed = waiter.wait(max(0.0, deadline - clock()))
        if stop():
            return
        if changed:
            quiet_by = clock() + 20 * settle  # a table that never stays quiet is checked anyway
            while clock() < quiet_by and waiter.wait(settle) and not stop():
                pass
        elif clock() < deadline:
            continue
        if clock() >= next_periodic:
            next_periodic = clock() + interval
        for event in watcher.check():
            emit(event)
