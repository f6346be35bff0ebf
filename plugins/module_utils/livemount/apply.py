"""Executor(system, journal).apply(changes) -> Outcome: perform a plan with undo.

Every change is announced in the journal before its first system call and
marked done after its last. Each system call that changes something pushes
its undo. On failure (on_error=rollback) everything done so far is undone in
reverse; one failed undo does not stop the others, and if any failed the
distinct UndoError names the original failure, every undo failure and what is
left. With on_error=continue a failed change is undone alone, the changes
that depend on it are skipped, and the rest go on.
"""

import os
import time
from typing import List

from . import paths
from .errors import ApplyError, SysError, UndoError
from .kernel.sysapi import Wrapper
from .model import Action
from .plan import to_perform
from .steps import perform
from .records import field, record

_DOWN = (Action.UNMOUNT, Action.UNLINK, Action.RMDIR, Action.FORGET)
# Journal format: 2 names the mounts (begin `live`, `attach` records); recover.py reads 1 the old way.
JOURNAL_VERSION = 2


@record(frozen=False)
class Outcome:
    """What an apply did: per-change results, failures, skips, rollbacks, warnings."""

    done: List = field(default_factory=list)  # (Change, changed: bool, created: [paths])
    failed: List = field(default_factory=list)  # (Change, message)
    skipped: List = field(default_factory=list)  # (Change, reason)
    rolled_back: List = field(default_factory=list)  # descriptions of undone operations
    warnings: List = field(default_factory=list)
    remade: List = field(default_factory=list)  # targets an undo mounted afresh: same entry, new superblock
    asides: List = field(default_factory=list)  # upper_policy fresh: where old uppers/works were kept (dicts)
    plan_id: str = ""
    # [(target, Ident, marker)] of every mount attached (undos included), in order: which mount is ours now.
    attached: List = field(default_factory=list)
    made_ids: List = field(default_factory=list)  # [(path, (major, minor, inode))] of directories made (dirs.py)
    removed_ids: List = field(default_factory=list)  # the same of the directories removed

    def attached_at(self):
        """Return {target: (Ident, marker)} of the last mount attached at each target by this run."""
        return {t: (ident, marker) for t, ident, marker in self.attached}


class ExecutorSys(Wrapper):
    """The Sys as the steps of one apply call it (`run.system.attach(h, target)`).

    Every call is the executor's Sys's; each detached mount a call returns
    (clone, clone_mount, create_fs) is recorded, so the executor releases at
    the end whatever a step made and never attached (an undo copy kept for a
    rollback that did not happen, a mount built by a step that failed).
    """

    def __init__(self, inner, handles):
        super().__init__(inner)
        self.handles = handles

    def _made(self, handle):
        self.handles.append(handle)
        return handle

    def clone(self, source, recursive):
        """Return the Handle of a detached bind of `source`, recorded for release."""
        return self._made(self.inner.clone(source, recursive))

    def clone_mount(self, target, expect=None):
        """Return the Handle of a detached copy of the mount at `target` (`expect`), recorded for release."""
        return self._made(self.inner.clone_mount(target, expect))

    def create_fs(self, fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
        """Return the Handle of a new detached filesystem, recorded for release."""
        return self._made(self.inner.create_fs(fstype, source, fs_options, lower, data, upper, work))


class Run:
    """The context one change is performed in: calls go through `system` (an ExecutorSys), undos pile up here."""

    def __init__(self, executor, change, n=0):
        self.executor = executor
        self.n = n
        self.system = executor.run_system
        self.world = executor.world
        self.beneath = executor.beneath
        self.change = change
        self.undo = []
        self.created = []

    def push(self, desc, fn):
        """Remember how to undo what was just done."""
        self.undo.append((desc, fn))

    def warn(self, msg):
        """Record a warning for the outcome."""
        self.executor.outcome.warnings.append(msg)

    def journal(self, rec, durable=True):
        """Write `rec` (a dict) to the journal as part of this step, before what it announces is done.

        `durable` False: the next durable record takes it to the disk (journal.py), which is soon enough
        for a record of what is done already and that nothing of this process undoes before then.
        """
        self.executor._journal(dict(rec, n=self.n), durable)

    def pinned(self, target, ident):
        """Return a Pin (Sys.pin) of the mount `ident` at `target`: made on first use, kept until the apply ends.

        setattr and reconfigure through it change that very mount, and so do
        their undos, even once another mount is stacked on it. Only for mounts
        the run changes in place (a remount): an open pin makes a plain
        unmount of its mount EBUSY.
        """
        pin = self.executor.pins.get((target, ident))
        if pin is None or pin.closed:
            pin = self.executor.pins[(target, ident)] = self.system.pin(target, ident)
            self.executor.handles.append(pin)  # released with the detached mounts when the apply ends
        return pin

    def attach(self, handle, target, beneath=False, expect=None, role="new"):
        """Return the Ident of `handle` after attaching it at `target`, journaled first and remembered as ours.

        The journal's `attach` record (synced) names the very mount before it
        appears, so recovery adopts that mount and no other (recover.py).
        `role` says which entry of the step it is: "new" (the change's
        entry) or "old" (an undo putting the entry it replaced back).
        """
        ident, marker = handle.ident, handle.marker
        if ident is not None:
            self.journal({"kind": "attach", "path": target, "role": role, "ident": ident.to_dict(), "marker": marker})
        else:
            self.executor._sync_journal()  # a mount step's begin is on disk before its mount appears
        self.system.attach(handle, target, beneath, expect)
        ident, marker = handle.ident, handle.marker  # a classic mount(2) stand-in learns them by attaching
        self.executor.outcome.attached.append((target, ident, marker))
        return ident


class Executor:
    """Performs ordered changes through one Sys, journaling each and undoing on failure."""

    def __init__(self, system, journal=None, world=None, on_error="rollback", beneath=True, header=None,
                 entry_dict=None, progress=None, carry_wait=0.0, seed=None, busy=None, created_ids=None):
        self.system = system
        self.journal = journal
        self.world = world
        self.on_error = on_error
        self.beneath = beneath
        self.header = header or {}
        self.entry_dict = entry_dict or (lambda e: None)
        self.progress = progress
        self.carry_wait = carry_wait  # upper_policy carry: how long to wait for the old overlay to be let go
        self.seed = seed  # upper_policy fresh: fills a fresh upper (overlay reset), see upper_policy.py
        self.busy = busy  # what an unmount meeting EBUSY does (holders.BusyPolicy; None: fail as the kernel said)
        self.handles = []  # every detached mount the steps made: released at the end unless attached
        self.run_system = ExecutorSys(system, self.handles)  # what each Run calls
        self.pins = {}  # (target, Ident) -> Pin, see Run.pinned
        self.created_ids = dict(created_ids or {})  # {path: {(major, minor, inode)}}: the directories made (dirs.py)
        self.outcome = Outcome()

    def apply(self, changes):
        """Return the Outcome of performing `changes`; raise ApplyError/UndoError after a rollback."""
        steps = to_perform(changes)
        out = self.outcome
        out.plan_id = os.urandom(6).hex()  # what uuid4().hex[:12] gave: 48 random bits, without importing uuid
        if not steps:
            return out
        if self.journal is not None:
            self.journal.begin(dict(self.header, plan_id=out.plan_id, started=time.time(), steps=len(steps),
                                    version=JOURNAL_VERSION))
        done_runs = []
        failed_at = []
        try:
            for k, c in enumerate(steps, 1):
                why = self._blocked(c, failed_at)
                if why:
                    out.skipped.append((c, why))
                    continue
                if self.progress:
                    self.progress(k, len(steps), c)
                # A mount's begin rides on its attach record's sync (journal.py): nothing before it is visible.
                self._journal({"kind": "begin", "n": k, "action": c.action.value, "path": c.target,
                               "entry": self.entry_dict(c.entry) if c.entry else None,
                               "before": self.entry_dict(c.before.entry) if c.before else None,
                               "live": c.live.ident.to_dict() if c.live is not None else None},
                              durable=c.action != Action.MOUNT)
                run = Run(self, c, k)
                try:
                    changed = perform(run, c)
                except SysError as exc:
                    self._journal({"kind": "failed", "n": k, "error": str(exc)})
                    label = "step %d of %d (%s %s)" % (k, len(steps), c.action.value, c.target)
                    if self.on_error == "continue":
                        failures = self._undo([run], out)
                        if failures:
                            raise self._undo_error(label, exc, out, failures)
                        out.failed.append((c, "cannot %s: %s" % (label, exc)))
                        failed_at.append(c)
                        continue
                    failures = self._undo(done_runs + [run], out)
                    if failures:
                        raise self._undo_error(label, exc, out, failures)
                    self._finish_journal()
                    raise ApplyError("cannot apply %s: %s; rolled back %d operation(s), nothing changed"
                                     % (label, exc, len(out.rolled_back)), step=label, errno=exc.errno,
                                     rolled_back=out.rolled_back)
                # Not synced on its own: the next begin's fdatasync carries it, and a
                # lost done record costs nothing (recover.py re-examines every begun step).
                self._journal({"kind": "done", "n": k}, durable=False)
                done_runs.append(run)
                out.done.append((c, changed, list(run.created)))
        finally:
            for h in self.handles:
                if not h.closed:
                    try:
                        self.system.close(h)
                    except SysError as exc:  # a leaked fd is worth a warning, not a failure
                        out.warnings.append("cannot close %r: %s" % (h, exc))
        # The journal stays until the caller has saved the new state (engine.py):
        # removing it first would leave a window where our mounts are owned by nobody.
        return out

    def _blocked(self, c, failed):
        """Return why `c` cannot run after the failures so far (continue mode), or ''."""
        for f in failed:
            if c.action in _DOWN and paths.is_at_or_under(f.target, c.target) and c is not f:
                # The rmdir of a mount point whose unmount failed meets EBUSY
                # and would forget a directory we still need to remove later.
                return "skipped: %s %s could not be removed" % (
                    f.target, "below it" if f.target != c.target else "mounted there")
            if c.action not in _DOWN and paths.is_at_or_under(c.target, f.target) and c is not f:
                return "skipped: %s failed" % f.target
            if c.action not in _DOWN and f.action in _DOWN and paths.is_under(f.target, c.target):
                return "skipped: %s below it could not be taken down" % f.target
        return ""

    def _undo(self, runs, out):
        """Undo `runs` newest first; return the list of undo failures (the others still run)."""
        failures = []
        for run in reversed(runs):
            for desc, fn in reversed(run.undo):
                try:
                    fn()
                    out.rolled_back.append(desc)
                except SysError as exc:
                    failures.append("cannot %s: %s" % (desc, exc))
        return failures

    def _undo_error(self, label, exc, out, failures):
        # Keep the journal: the next run reconciles from it and adopts what is left.
        if self.journal is not None:
            self._journal({"kind": "undo-failed", "failures": failures})
            self.journal.close()
        return UndoError(
            "cannot apply %s: %s; ROLLBACK FAILED: %s; the mount table is not what it was: the next run will "
            "recover from the journal" % (label, exc, "; ".join(failures)),
            step=label, errno=exc.errno, rolled_back=out.rolled_back, undo_failures=failures, left=failures)

    def _journal(self, rec, durable=True):
        if self.journal is not None:
            self.journal.record(rec, durable)

    def _sync_journal(self):
        if self.journal is not None:
            self.journal.sync()

    def _finish_journal(self):
        if self.journal is not None:
            self.journal.finish()
