"""livemount overlay reset TARGET [PATHS...]: discard what an overlay changed, never writing into a mounted layer.

The discarded changes are overlay_changes items (all of them, or those at
and below PATHS). The reset freezes the overlay read-only, then replaces it
with a new overlay on a fresh upper and work directory: steps.py moves the
old ones aside (renamed, never written), makes them anew, calls our `seed`
to copy the kept changes in (overlay_copy.py), and swaps the new mount in
atomically, undoing everything on failure. See docs/overlay-reset.md.

Resetting path P makes the merged view at P (and below) the lower view at
P and changes nothing else; overlay_copy.py says how the new upper gets
there. A reset of everything copies nothing: the new upper stays empty.
"""

import errno
import shutil

from ..kernel import holders, namespace, nsexec
from ..overlay import changes as overlay_changes, reset_journal as overlay_reset_journal
from .. import paths
from ..errors import LivemountError, SysError, UndoError
from ..model import OVERLAY, Action, Change, Entry
from ..mountinfo import parse_mountinfo
from ..overlay.copy import DROP, plan_paths, seed_upper
from ..overlay.stack import Layers

FRESH = "fresh"


def check_paths(target, raw):
    """Return the clean overlay paths of `raw`, sorted, each ancestor absorbing the paths below it.

    An empty result means "everything", as does `/` among them.
    """
    out = []
    for p in raw:
        try:
            if "\x00" in p:
                raise ValueError("path must not contain NUL")
            out.append(paths.clean(p))
        except ValueError as exc:
            raise LivemountError("cannot reset overlay %s: path %r: %s (paths are inside the overlay, like"
                                 " /etc/app.conf)" % (target, p, exc)) from None
    if "/" in out:
        return []
    kept = []
    for p in sorted(set(out), key=paths.sort_key):
        if not any(paths.is_under(p, k) for k in kept):
            kept.append(p)
    return kept


select = overlay_changes.select  # the items a reset of `wanted` discards


# ---- the whole reset ---------------------------------------------------------------------------

def find_overlay(table, target):
    """Return the LiveMount of the overlay on top at mount point `target` (LivemountError if there is none)."""
    live = table.top(target)
    if live is None:
        raise LivemountError("cannot reset overlay %s: it is not a mount point" % target)
    if live.fstype != OVERLAY:
        raise LivemountError("cannot reset overlay %s: the mount there is %s, not overlay" % (target, live.fstype))
    return live


def superblock_mounts(dev, proc="/proc"):
    """Return [{namespace, mount_point, ro}] of every overlay mount of device `dev` in any mount namespace in `proc`.

    Every namespace's table is read once (namespace.every_table); lazily
    detached and never-attached mounts appear in none (see old_gone).
    """
    out = set()
    for ns, table in namespace.every_table(proc):
        for m in table.mounts:
            if m.dev == dev and m.fstype == OVERLAY:
                out.add((ns, m.mount_point, "ro" in m.flags))
    return [{"namespace": n, "mount_point": p, "ro": ro} for n, p, ro in sorted(out)]


def _where(m):
    """Return how messages name a mount of superblock_mounts: `/srv/app in mnt:[4026531841]`."""
    return "%s in %s%s" % (m["mount_point"], m["namespace"], " (read-only)" if m["ro"] else "")


def reset(target, wanted=(), system=None, root=None, check=False, discard=False, force=False, progress=None,
          proc="/proc"):
    """Return the JSON-ready report of resetting the overlay at `target` (all of it, or overlay paths `wanted`).

    Check mode lists what would be discarded and changes nothing (no freeze:
    the listing may then be racy). The overlay must be owned by a profile
    (the reset then runs under its lock, with its journal, and updates its
    state) unless `force`: a forced reset has a lock and journal of its own
    (overlay_reset_journal.py) and first recovers one of its target that was
    killed. `discard` deletes the old upper and work once no mount of the
    old overlay is left anywhere. Raises LivemountError when refused
    (nothing changed), ApplyError/UndoError as an apply does.
    """
    from .. import engine

    if system is None:
        from ..kernel.real import real_system  # late: ctypes only when the real kernel is used

        system = real_system()
    system, ns_target, on_busy = nsexec.resolve(system)
    if ns_target is not None:
        ns_target.close()
        raise LivemountError("cannot reset overlay %s: --namespace and --pid are not supported here; run the reset"
                             " inside that namespace" % target)
    run = _Reset(system, engine.state_root(root), check, discard, on_busy, progress, proc)
    path = system.realpath(target)
    table = parse_mountinfo(system.read_mountinfo())
    killed = overlay_reset_journal.pending(run.root, system.namespace_id(), path)
    # After a killed forced reset the target may hold anything: recovery looks, under the lock.
    live = table.top(path) if force and killed else find_overlay(table, path)
    wanted = check_paths(path, wanted)
    store = run.owner_store(live) if live is not None and live.fstype == OVERLAY else None
    if store is None:
        if not force:
            raise LivemountError("cannot reset overlay %s: no livemount profile owns it in %s; --force resets it"
                                 " anyway (no profile state is written; it has a lock and journal of its own)%s" % (
                                     path, system.namespace_id(), "; a --force reset of it was interrupted: the"
                                     " next one recovers it first" if killed else ""))
        return run.forced(path, wanted)
    with store.lock(write=not check):
        state = store.load()
        own = run.owned(state, live)
        if own is None:
            raise LivemountError("cannot reset overlay %s: profile %s no longer owns it"
                                 % (live.mount_point, store.name))
        if store.journal.exists():
            raise LivemountError("cannot reset overlay %s: an apply of profile %s was interrupted; `livemount apply`"
                                 " recovers it first" % (live.mount_point, store.name))
        # Read the table again under the lock: an apply may have changed it meanwhile.
        live = find_overlay(parse_mountinfo(system.read_mountinfo()), live.mount_point)
        return run.reset(live, wanted, store, state, own)


class _Reset:
    """One reset: the decisions in order, then the swap through an Executor."""

    def __init__(self, system, root, check, discard, on_busy, progress, proc):
        self.system, self.root, self.check, self.discard = system, root, check, discard
        self.on_busy, self.progress, self.proc = on_busy, progress, proc
        self.journal = None  # a forced reset's ResetJournal (overlay_reset_journal.py)

    def owner_store(self, live):
        """Return the StateStore of the profile owning overlay `live` in this namespace, or None."""
        from ..state import StateStore, list_profiles

        ns = self.system.namespace_id()
        StateStore(self.root, ns, "").check_dir()  # never trust state in a directory others can write
        for name in list_profiles(self.root, ns):
            store = StateStore(self.root, ns, name)
            if self.owned(store.load(), live) is not None:
                return store
        return None

    def forced(self, target, wanted):
        """Return the report of a reset no profile owns, under its own lock, after recovering a killed one."""
        ns = self.system.namespace_id()
        store = overlay_reset_journal.store_for(self.root, ns, target)
        store.check_dir()  # never trust a journal in a directory others can write
        with store.lock(write=not self.check):
            killed = store.journal.exists()
            recovered = overlay_reset_journal.recover_reset(self.system, store, target) if killed and not self.check \
                else []
            # Read the table under the lock: another forced reset may have changed it meanwhile.
            live = find_overlay(parse_mountinfo(self.system.read_mountinfo()), target)
            if killed and self.check:
                # The overlay may run on its renamed upper: its listing means something only after recovery.
                report = self.new_report(live, wanted, None)
                report.update(changed=True, recovered=["an interrupted `overlay reset --force` of %s would be"
                                                       " recovered first" % target])
                report["warnings"].append("what would be discarded is known after that recovery only")
                return report
            self.journal = None if self.check else store.journal
            report = self.reset(live, wanted, None, None, None)
            report["recovered"] = list(recovered or [])
            return report

    @staticmethod
    def owned(state, live):
        """Return the Owned record of `state` for overlay `live` (same target and layers), or None."""
        from ..match import same_identity

        for o in state.owned:
            if o.entry.type == OVERLAY and o.entry.target == live.mount_point and same_identity(o.entry, live, None, o):
                return o
        return None

    def new_report(self, live, wanted, store):
        """Return the report of a reset of `wanted` in overlay `live` before anything is decided."""
        return {"target": live.mount_point, "profile": store.name if store else None,
                "namespace": self.system.namespace_id(), "mode": "check" if self.check else "apply",
                "paths": list(wanted) or ["/"], "all": not wanted, "upper": live.upper, "work": live.work,
                "discarded": [], "counts": {}, "unchanged_paths": [], "copied": [], "changed": False, "frozen": False,
                "warnings": [], "upper_aside": None, "work_aside": None, "old_gone": None, "removed_aside": False,
                "recovered": []}

    def reset(self, live, wanted, store, state, own):
        """Return the report: refuse what cannot be done exactly, list, freeze, swap, save, discard."""
        report = self.new_report(live, wanted, store)
        if live.upper is None:
            report["warnings"].append("the overlay has no upper directory: it changes nothing")
            return report
        others = self.refuse_unsafe(live, wanted)
        if others:
            report["warnings"].append("other mounts of this overlay keep using the old upper: %s"
                                      % ", ".join(_where(m) for m in others))
        layers = Layers(live.lower, live.data, overlay_changes.xattr_prefix(live))
        if self.check:
            report["warnings"].append("check mode does not freeze the overlay: a concurrent writer can make this"
                                      " listing inexact")
            self.decide(report, live, wanted, layers)
            report["changed"] = bool(report["discarded"])
            return report
        if self.journal is not None:
            self.journal.start(live)  # before the freeze: a reset killed from here on leaves it
        try:
            frozen = self.freeze(live)
        except LivemountError:
            self.end_journal()  # refused: nothing was changed
            raise
        report["frozen"] = frozen
        try:
            plans = self.decide(report, live, wanted, layers)
            if not report["discarded"]:
                self.thaw(live, frozen)
                self.end_journal()
                return report
            outcome = self.swap(live, store, state, own, plans, layers, report)
        except BaseException as exc:
            try:
                self.thaw(live, frozen)
            except SysError as also:
                exc.args = ("%s; %s" % (exc, also),)  # both matter: the failure and the mount left read-only
                if self.journal is not None:
                    self.journal.close()  # kept: the next forced reset thaws it
                raise
            if isinstance(exc, LivemountError) and not isinstance(exc, UndoError):
                self.end_journal()  # rolled back, or refused, and thawed: nothing is left to recover
            raise
        self.end_journal()
        aside = outcome.asides[-1]
        report.update(changed=True, upper_aside=aside["upper_aside"], work_aside=aside["work_aside"],
                      old_gone=aside["old_gone"])
        report["warnings"] += outcome.warnings
        if self.discard:
            self.remove_aside(live, report)
        return report

    def end_journal(self):
        """Return None after removing a forced reset's journal (it has nothing left to recover)."""
        if self.journal is not None:
            self.journal.remove()

    def refuse_unsafe(self, live, wanted):
        """Return the other mounts of the same overlay; raise LivemountError where a reset cannot be exact."""
        target = live.mount_point
        table = parse_mountinfo(self.system.read_mountinfo())
        below = [m.mount_point for m in table.submounts(target)]
        if below:
            raise LivemountError("cannot reset overlay %s: mounts below it would go with the old overlay: %s;"
                                 " unmount them first" % (target, ", ".join(below)))
        for p in (live.upper,) + live.lower + live.data:
            if not p.startswith("/"):
                raise LivemountError("cannot reset overlay %s: layer path %r is relative" % (target, p))
        opts = dict(live.fs_options)
        if wanted and (opts.get("index", self.system.overlay_defaults().get("index")) in ("on", "Y")):
            # The index (in workdir) names upper inodes; a copied upper has new ones (overlayfs.rst, Inode index).
            raise LivemountError("cannot reset paths of overlay %s: it uses index=on, whose index in the work"
                                 " directory names the upper's own inodes; reset all of it instead" % target)
        mine = (self.system.namespace_id(), target)
        others = [m for m in superblock_mounts(live.dev, self.proc) if (m["namespace"], m["mount_point"]) != mine]
        # This namespace's own binds of it, even when /proc shows another namespace (a Sys acting elsewhere).
        others += [{"namespace": mine[0], "mount_point": m.mount_point, "ro": "ro" in m.flags} for m in table.mounts
                   if m.dev == live.dev and m.mount_id != live.mount_id
                   and {"namespace": mine[0], "mount_point": m.mount_point, "ro": "ro" in m.flags} not in others]
        writable = [_where(m) for m in others if not m["ro"]]
        if wanted and writable:
            raise LivemountError("cannot reset paths of overlay %s: other mounts of it can write into its upper"
                                 " while the kept changes are copied: %s" % (target, ", ".join(writable)))
        return others

    def decide(self, report, live, wanted, layers):
        """Return the PathPlans after filling the report's discarded items, counts and unchanged paths."""
        items = overlay_changes.for_mount(live)
        report["discarded"] = select(items, wanted)
        report["counts"] = overlay_changes.counts(report["discarded"])
        touched = [w for w in wanted if select(items, [w])]
        report["unchanged_paths"] = [w for w in wanted if w not in touched]
        plans = plan_paths(live.mount_point, live.upper, layers, touched)
        report["copied"] = [{"path": p.path, "how": p.how} for p in plans if p.how != DROP]
        return plans

    def freeze(self, live):
        """Return True after making the overlay's mount read-only (False when it already was)."""
        if "ro" in live.flags or "ro" in live.raw_super_options.split(","):
            return False  # nothing writes through it already
        try:
            self.system.setattr(live.mount_point, live.flags | {"ro"}, None, live.ident)
        except SysError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # mount_setattr(2): EBUSY while a file on the mount is open for writing.
            held, _below = holders.explain(self.system, live.mount_point, self.system.proc_fd())
            said = holders.describe(held)
            err = LivemountError("cannot reset overlay %s: a process holds a file open for writing on it (EBUSY)%s;"
                                 " nothing was changed" % (live.mount_point, " (%s)" % said if said else ""))
            err.busy = held
            raise err from exc
        return True

    def thaw(self, live, frozen):
        """Return None after giving the (old or restored) overlay at the target its own flags back."""
        if not frozen:
            return
        top = parse_mountinfo(self.system.read_mountinfo()).top(live.mount_point)
        if top is None or top.dev != live.dev:
            return  # the old overlay is not on top: nothing of ours is left frozen there
        try:
            self.system.setattr(live.mount_point, live.flags, None, top.ident)
        except SysError as exc:
            raise SysError("cannot unfreeze overlay %s: %s; it is left read-only (`mount -o remount,bind,rw %s`"
                           " restores it)" % (live.mount_point, exc, live.mount_point), errno=exc.errno,
                           call=exc.call) from exc

    def swap(self, live, store, state, own, plans, layers, report):
        """Return the executor's Outcome after replacing the overlay by one on a fresh upper, seeded with plans."""
        from .. import engine
        from ..apply import Executor
        from ..observe import observe, refresh_table
        from ..state_after import next_state

        entry = own.entry if own is not None else Entry(
            live.mount_point, OVERLAY, flags=live.flags, fs_options=tuple(live.fs_options), lower=live.lower,
            data=live.data, upper=live.upper, work=live.work)
        what = "all changes" if report["all"] else "changes at " + ", ".join(report["paths"])
        change = Change(Action.REPLACE, entry, "overlay reset: discard %s" % what, before=own, live=live,
                        upper_policy=FRESH)
        world = observe(self.system, [entry], (own,) if own is not None else ())
        ns = self.system.namespace_id()
        busy = holders.BusyPolicy(self.on_busy, holders.entry_policies(None, state) if state else {},
                                  self.system.proc_fd())
        executor = Executor(self.system, store.journal if store else self.journal, world,
                            beneath=self.system.features().beneath,
                            header={"profile": store.name if store else None, "namespace": ns,
                                    "overlay_reset": live.mount_point},
                            entry_dict=engine.entry_dict, progress=self.progress, busy=busy,
                            seed=None if report["all"] else _Seed(live, plans, layers))
        outcome = executor.apply([change])
        if store is not None:
            # The state reconcile would save after this one change.
            new = next_state(state, [change], outcome, refresh_table(self.system, world), state.profile_data)
            store.save(new)
            store.journal.finish()
        return outcome

    def remove_aside(self, live, report):
        """Return None after deleting the old upper and work, or saying in the report why they are kept."""
        if not report["old_gone"]:
            why = "the old overlay was busy: it lives on, lazily detached, for the processes still using it"
        else:
            left = superblock_mounts(live.dev, self.proc)
            why = "mounts of the old overlay remain: %s" % ", ".join(_where(m) for m in left) if left else ""
        if why:
            report["warnings"].append("kept the old upper %s and work %s: %s"
                                      % (report["upper_aside"], report["work_aside"], why))
            return
        for d in (report["upper_aside"], report["work_aside"]):
            try:
                shutil.rmtree(d)
            except OSError as exc:
                # The reset itself is done; only the clean-up stopped.
                raise LivemountError("cannot delete the old %s %s of overlay %s: %s: %s; the reset is done, the rest"
                                     " of it is left" % ("upper" if d == report["upper_aside"] else "work", d,
                                                         live.mount_point, exc.filename or d,
                                                         exc.strerror or exc)) from exc
        report["removed_aside"] = True
        # The executor's "kept the old upper and work" is no longer true.
        report["warnings"] = [w for w in report["warnings"] if not w.startswith("kept the old upper and work of")]


class _Seed:
    """The executor's seed hook: fills a fresh upper with the kept changes (steps.py calls it)."""

    def __init__(self, live, plans, layers):
        self.live, self.plans, self.layers = live, plans, layers

    def __call__(self, run, change, old_upper, new_upper):
        """Return None after copying the kept changes into `new_upper`; SysError (so the executor rolls back) on failure."""
        try:
            seed_upper(old_upper, new_upper, self.plans, self.layers)
        except OSError as exc:
            raise SysError("cannot copy the kept changes of overlay %s into %s: %s: %s"
                           % (self.live.mount_point, new_upper, exc.filename or new_upper, exc.strerror or exc),
                           errno=exc.errno, call="seed \"%s\"" % new_upper) from exc
