"""The engine's entry points: reconcile (plan/check/apply), destroy and status.

One code path for every mode: lock, load state, recover an interrupted apply,
observe, plan; check mode stops there (it writes nothing: no mount, no
directory, no state file, no lock file); apply mode performs the plan and
saves the new state before it removes the journal. The CLI and the Ansible
modules are thin shells over these functions.

Each entry point can act in another mount namespace (`namespace`: an nsfs
file, or `pid`): the same function then runs in a child inside it (nsexec.py),
its state kept in the caller's state root under the target's identity.
"""

import dataclasses
import functools
import os
from typing import Optional

from .kernel import holders
from . import fingerprint, history, leftovers, mimic, stored, targeting
from .kernel import namespace as mntns, nsexec
from .kernel.sysapi import perform
from .apply import Executor
from .diff import make_diff
from .errors import ApplyError, LivemountError, PlanError, StateError, SysError, UndoError, UnknownProfileError
from .health import entry_health, health_of, links_looked_at_again, not_applied
from .model import Action, Change
from .observe import observe, refresh_table
from .plan import conflicts_in, plan, to_perform
from .profile.forms import entry_to_state_dict, state_dicts
from .recover import after_finish, recover
from .report import Report
from .stale import check_expected
from .state import StateStore, is_reset_store, known_profiles, list_profiles, recorded_for
from .state_after import learn_restored, next_state
from .state import state_root  # noqa: F401 (callers know it as engine.state_root)
from .records import record


@record
class _Empty:
    """The profile a destroy applies: no entries. `known_only`: refuse a name with no state (UnknownProfileError)."""

    name: str
    entries: tuple = ()
    on_error: str = "rollback"
    known_only: bool = False


def reconcile(profile, system, root=None, check=False, on_error=None, progress=None, profile_data=None,
              namespace=None, pid=None, on_busy=None, expect=None, targets=None, on_plan=None, fingerprinted=True):
    """Return a Report after making the live table match `profile` (or predicting it, with check).

    Raises ProfileError/PlanError before touching anything, ApplyError after
    a complete rollback (its `busy` lists who holds a busy mount), UndoError
    when the rollback itself failed. `namespace` (an nsfs file) or `pid`
    acts in that mount namespace; `on_busy` (fail/detach) overrides every
    entry's on_busy. A check-mode Report carries its `fingerprint`; with
    `expect` (a fingerprint.Expected: Report.expected(), or a saved plan)
    exactly that plan is applied, or StalePlanError says what changed since.
    `targets` (clean absolute paths) limits the plan to what they need
    (targeting.py), like terraform's -target. `on_plan(report)` is called
    with the plan, under the lock, before anything is applied (`apply
    --yes` shows the plan it then applies, planned once). Whether a
    directory is empty is only a fingerprint's to record: a check-mode plan
    opens each directory it looks at to see, unless `fingerprinted` False
    says the caller will not ask for its fingerprint (`livemount plan`
    without --out); an apply never does (one checking a saved plan's
    fingerprint reads it when that is taken, fingerprint.take's `empty`).
    """
    system, target, on_busy = nsexec.resolve(system, namespace, pid, on_busy)
    if target is not None:
        return nsexec.run(target, system, lambda s, r, p: reconcile(
            profile, s, root=r, check=check, on_error=on_error, progress=p, profile_data=profile_data,
            on_busy=on_busy, expect=expect, targets=targets, on_plan=on_plan, fingerprinted=fingerprinted),
            state_root(root), progress, profile=profile, clone=not check)
    store = StateStore(state_root(root), system.namespace_id(), profile.name)
    if isinstance(profile, _Empty) and profile.known_only:
        _must_exist(store, "destroy")
    run = _Run(profile, system, check, on_error, progress, profile_data, on_busy, expect, tuple(targets or ()),
               on_plan, empty=check and fingerprinted)
    report = _reconcile_locked(store, run)
    leftovers.sweep(report, state_root(root), system.namespace_id(), lambda other: _reconcile(
        other, _Run(_Empty(other.name), system, check), leftovers_only=True))
    return report


@record
class _Run:
    """The arguments of one reconcile() call, as _reconcile needs them."""

    profile: object
    system: object
    check: bool = False
    on_error: Optional[str] = None
    progress: object = None
    profile_data: Optional[dict] = None
    on_busy: Optional[str] = None
    expect: Optional[fingerprint.Expected] = None
    targets: tuple = ()
    on_plan: object = None
    preflight: bool = False  # the check-mode look a first apply takes before its lock (_reconcile_locked)
    look: object = None  # the preflight: a list it adds its _Look to; the apply after it: that _Look
    empty: bool = True  # observe whether directories are empty (only a fingerprint records it: reconcile's doc)


@record
class _Look:
    """What a first apply's check-mode look planned from (no journal to recover), and the plan it made."""

    state: object
    world: object
    changes: tuple

    def plans_the_same(self, state, world):
        """Return True when (state, world) equal what this look saw: plan() is pure, so its plan is the same."""
        return (self.state == state and self.world.table.mounts == world.table.mounts
                and dataclasses.replace(self.world, table=None) == dataclasses.replace(world, table=None))


def _reconcile_locked(store, run):
    """Return the Report of reconcile() in one StateStore, taking its lock unless check mode needs none yet."""
    args = (store, run)
    if not run.check and run.expect is None and not os.path.lexists(store.lock_path):
        # A first apply here: a plan with conflicts is refused before the state directory and the lock
        # file exist, so that a refused profile leaves nothing behind (as a refused check does).
        looks = []
        try:
            _reconcile(store, dataclasses.replace(run, check=True, progress=None, on_plan=None, preflight=True,
                                                  look=looks))
        except LivemountError:
            if not os.path.lexists(store.lock_path):
                raise
            # Another first apply made the lock meanwhile: what the look refused may have been its
            # half-done work (a link it made, not yet recorded). Decide under the lock, from scratch.
            looks = []
        # Under the lock the apply observes again; when nothing changed since, it applies this plan
        # instead of making it a second time (a tenth of a second per 1,000 entries).
        run = dataclasses.replace(run, look=looks[0] if looks else None)
        args = (store, run)
    if not run.check or os.path.lexists(store.lock_path):
        return _reconcile(*args)
    # Check mode creates nothing, so before the first apply there is no lock
    # to share: look without one, and look again under the lock if a first
    # apply made it meanwhile (what we saw may have been half its work).
    try:
        report = _reconcile(*args)
    except LivemountError:
        if not os.path.lexists(store.lock_path):
            raise
    else:
        if not os.path.lexists(store.lock_path):
            return report
    return _reconcile(*args)


def _reconcile(store, run, leftovers_only=False):
    """Return the Report of reconcile() in one StateStore, under its lock.

    With `leftovers_only` (the sweep of another profile's leftovers) it
    returns None, touching nothing, unless the state still owns nothing but
    created directories and no journal waits for that profile's own run.
    """
    profile, system, check, on_error, progress, profile_data, on_busy = (
        run.profile, run.system, run.check, run.on_error, run.progress, run.profile_data, run.on_busy)
    with store.lock(write=not check):
        state = store.load()
        if leftovers_only and (state.owned or not state.created or store.journal.exists()):
            return None  # applied or interrupted since we looked without the lock: not a leftover any more
        report = Report(profile.name, system.namespace_id(), "check" if check and not run.preflight else "apply",
                        previous=state.profile_data)
        report.warnings.extend(mntns.caller_warnings(system))
        world = observe(system, profile.entries, state.owned, mimic.allowed(profile), run.empty)
        others, owners = leftovers.neighbours(store.root, system.namespace_id(), profile.name)
        world = dataclasses.replace(world, others=others, owners=owners)
        interrupted = store.journal.exists()
        if interrupted:
            state, world = _recover(store, state, world, system, check, report)
            # What recovery adopted (a link the dead run made) and undid (a mimic rolled back) changes more
            # than the table: look again at the paths and read-only listings the plan depends on. Check mode
            # performed nothing: it keeps the table as the finishing operations would leave it.
            seen = observe(system, profile.entries, state.owned, mimic.allowed(profile), run.empty)
            world = dataclasses.replace(seen, table=world.table if check else seen.table, others=world.others,
                                        owners=world.owners)
        if run.expect is not None and run.expect.changes is not None:
            changes = list(run.expect.changes)  # the plan that was shown: never planned twice
        elif isinstance(run.look, _Look) and not interrupted and run.look.plans_the_same(state, world):
            changes = list(run.look.changes)  # the first apply's look saw exactly this: the same plan
        else:
            changes = _targeted(plan(state, profile, world), run.targets, profile.name)
            if run.preflight and not interrupted:
                run.look.append(_Look(state, world, tuple(changes)))
        report.changes = changes
        report.diff_source = functools.partial(make_diff, _owned_live(state, world), list(profile.entries),
                                               "%s in %s" % (profile.name, system.namespace_id()))
        if check or run.expect is not None:
            report.fingerprint_source = (lambda s=state, w=world: fingerprint.take(
                s, profile, w, _profile_doc(profile), _emptiness(system)))
        if run.expect is not None:
            check_expected(run.expect, report)
        conflicts = conflicts_in(changes)
        if conflicts:
            more = len(conflicts) - 1
            verb = "destroy" if isinstance(profile, _Empty) else "apply"  # check mode predicts the very same error
            err = PlanError("cannot %s profile %s: %s" % (verb, profile.name, conflicts[0].reason)
                            + ("" if not more else " (and %d more conflict%s)" % (more, "s" if more > 1 else "")),
                            conflicts)
            err.report = report
            raise err
        if check:
            report.health_source = lambda: health_of(state, world)
            return report
        if run.on_plan is not None:
            run.on_plan(report)
        policy = on_error or getattr(profile, "on_error", None) or "rollback"
        busy = holders.BusyPolicy(on_busy, holders.entry_policies(profile, state), system.proc_fd())
        dicts = state_dicts()  # each entry's dict made once, for the journal and the state saved after
        executor = Executor(system, store.journal, world, on_error=policy, beneath=system.features().beneath,
                            header={"profile": profile.name, "namespace": system.namespace_id()},
                            entry_dict=dicts, progress=progress, carry_wait=carry_wait(), busy=busy,
                            created_ids=state.ids_of())
        if not to_perform(changes):
            new = next_state(state, changes, None, world, profile_data)
            report.health_source = lambda: health_of(new, world)
            if not profile.entries:
                leftovers.warn(report, new)  # a destroy that is not complete yet says why
            if (new.owned, new.created) != (state.owned, state.created) or not (new.owned or new.created):
                # Adopted an exact match, or observations refreshed; a state owning nothing goes.
                store.meta = nsexec.namespace_meta(store.meta, profile, [o.entry.target for o in new.owned], system)
                _keep(store, new)
            _remember(store, run, new, 0)
            return report
        try:
            outcome = executor.apply(changes)
        except Exception as exc:
            if isinstance(exc, ApplyError) and not isinstance(exc, UndoError):  # a complete rollback
                learn_restored(store, state, executor.outcome, system, world)
            if hasattr(exc, "rolled_back"):
                report.rolled_back = exc.rolled_back
                # The failed step's SysError (the one the executor was handling) knows who held a busy mount.
                exc.busy = getattr(exc.__context__, "busy", [])
            exc.report = report
            raise
        report.failed, report.skipped = outcome.failed, outcome.skipped
        report.warnings.extend(outcome.warnings)
        report.kept_aside.extend(outcome.asides)
        after = refresh_table(system, world)
        new = next_state(state, changes, outcome, after, profile_data)
        report.health_source = lambda: health_of(new, links_looked_at_again(system, new, after))
        leftovers.warn(report, new)
        store.meta = nsexec.namespace_meta(store.meta, profile, [o.entry.target for o in new.owned], system)
        try:
            _keep(store, new, dicts)
        except StateError as exc:
            raise StateError("%s; what this run changed is in place and its journal %s is kept: the next run "
                             "recovers it" % (exc, store.journal.path)) from exc
        store.journal.finish()
        if not report.failed:
            _remember(store, run, new, len(to_perform(changes)))
        return report


def _keep(store, state, entry_dict=None):
    """Return None after saving `state`, or removing the state file when it owns nothing (nothing lists it then)."""
    if state.owned or state.created:
        store.save(state, entry_dict)
    elif store.exists():
        store.remove()


def destroy(name, system, root=None, check=False, namespace=None, pid=None, on_busy=None, expect=None, targets=None,
            known_only=False, progress=None, on_plan=None):
    """Return the Report of removing everything profile `name` owns in this namespace (or `namespace`/`pid`'s).

    `expect` and `targets` as for reconcile. With `known_only` a name this
    namespace has no state for raises UnknownProfileError, touching nothing
    (the Ansible module's state=absent wants such a destroy to succeed).

    When that namespace no longer exists, its state is removed without
    touching any mount (they went with it), and the Report says so. A
    directory the profile created that someone else's mount still uses is
    kept: the state then holds only that leftover (status shows it) until a
    later run removes it (leftovers.py).
    """
    if is_reset_store(name):
        # Its journal names an overlay no profile owns: destroying it as a profile would adopt and unmount it.
        raise LivemountError("cannot destroy %s: it is the journal of an interrupted `overlay reset --force`, not a"
                             " profile; run `livemount overlay reset --force TARGET` again to recover it" % name)
    try:
        return reconcile(_Empty(name, known_only=known_only), system, root=root, check=check, namespace=namespace,
                         pid=pid, on_busy=on_busy, expect=expect, targets=targets, progress=progress, on_plan=on_plan)
    except nsexec.NamespaceGoneError as exc:
        return _forget_gone(name, state_root(root), check, exc)


def _forget_gone(name, root, check, exc):
    """Return the Report of forgetting the states of `name` recorded for a namespace that is gone."""
    # A namespace with a process still in it lives on: only this name of it is gone, its state stays.
    stores = [s for s in recorded_for(root, name, exc.target.record()) if not mntns.processes_in(s.namespace_id)]
    report = Report(name, ", ".join(s.namespace_id for s in stores) or "(gone)", "check" if check else "apply")
    for store in stores:
        why = "mount namespace %s no longer exists: forgotten, no mount touched" % store.namespace_id
        for o in store.load().owned:
            report.changes.append(Change(Action.UNMOUNT if o.entry.is_mount else Action.UNLINK, o.entry, why,
                                         before=o))
        if not check:
            store.forget()
        report.warnings.append("%s; %s the state of profile %s in %s without touching any mount"
                               % (exc, "would remove" if check else "removed", name, store.namespace_id))
    if not stores:
        report.warnings.append("%s; no state of profile %s recorded for it" % (exc, name))
    return report


def status(system, root=None, name=None, namespace=None, pid=None, known_only=False):
    """Return [{profile, applied_at, interrupted, entries: [{target, type, health, detail}], leftovers}].

    `leftovers` (present only when there are some) lists the directories
    the profile created that no entry of it needs any more but someone
    else's mount still uses (kept, not lost: leftovers.py). With
    `known_only`, a `name` this namespace has no state for raises
    UnknownProfileError.
    """
    system, target, _configured = nsexec.resolve(system, namespace, pid)
    if target is not None:
        names = [name] if name else list_profiles(state_root(root), target.open().namespace_id)
        target.close()
        return nsexec.run(target, system, lambda s, r, _: status(s, root=r, name=name, known_only=known_only),
                          state_root(root), names=names)
    root = state_root(root)
    ns = system.namespace_id()
    StateStore(root, ns, name or "").check_dir()  # never list or read state from a directory others can write
    if name and known_only:
        _must_exist(StateStore(root, ns, name), "show the status of", have_history=False)
    names = [name] if name else list_profiles(root, ns)
    out = []
    for n in names:
        store = StateStore(root, ns, n)
        state = store.load()
        world = observe(system, [], state.owned)
        row = {
            "profile": n,
            "namespace": ns,
            "applied_at": state.applied_at,
            "interrupted": store.journal.exists(),
            "entries": [entry_health(o, world) for o in state.owned] + not_applied(state),
        }
        if state.leftovers():
            row["leftovers"] = list(state.leftovers())
        out.append(row)
    return out


def history_of(name, system, root=None, namespace=None, pid=None):
    """Return (namespace id, [history.Record] oldest first) of profile `name`; UnknownProfileError when it has none."""
    system, target, _configured = nsexec.resolve(system, namespace, pid)
    if target is not None:
        ns = target.open().namespace_id
        target.close()
    else:
        ns = system.namespace_id()
    store = StateStore(state_root(root), ns, name)
    store.check_dir()
    records = history.load(store)
    if not records:
        _must_exist(store, "show the history of", have_history=False)
        raise UnknownProfileError("cannot show the history of %s: no apply of it completed since livemount keeps"
                                  " a history (it keeps the last %d)" % (name, history.KEEP), [name])
    return ns, records


def _must_exist(store, verb, have_history=True):
    """Raise UnknownProfileError unless profile store.name has state, a journal (or a history) in its namespace."""
    store.check_dir()  # a state directory that cannot be trusted is said first (StateError)
    if store.exists() or store.journal.exists() or (have_history and os.path.exists(history.path_of(store))):
        return
    known = known_profiles(store.root, store.namespace_id)
    gone = os.path.exists(history.path_of(store))
    raise UnknownProfileError("cannot %s %s: no profile named %s in %s (%s)%s" % (
        verb, store.name, store.name, store.namespace_id, "known: " + ", ".join(known) if known else
        "it has none", "; it was destroyed: `livemount rollback %s` applies its last profile again" % store.name
        if gone else ""), known)


def _targeted(changes, targets, name):
    """Return `changes` limited to what `targets` need; PlanError for a target no change is about."""
    if not targets:
        return changes
    missing = targeting.unmatched(changes, targets)
    if missing:
        raise PlanError("cannot plan --target %s: no entry of profile %s is at, above or below it"
                        % (", ".join(missing), name))
    return targeting.select(changes, targets)


def _recover(store, state, world, system, check, report):
    from .profile.load import entry_from_dict

    header, records = store.journal.read()
    try:
        stored.check_journal(header, records, store.name, stored.allowed_roots(state.profile_data))
    except ValueError as exc:
        raise StateError("cannot trust journal %s: %s; nothing was changed: inspect it, then remove it to start over "
                         "(the mounts it names stay as they are)" % (store.journal.path, exc))
    new, finish, messages = recover(state, header, records, world, entry_from_dict, lstat=system.lstat,
                                    listdir=system.listdir, marker=system.marker)
    report.recovered.extend(messages if not check else ["an interrupted apply would be recovered first"])
    if check:
        return new, after_finish(world, finish)
    for name, args in finish:
        try:
            perform(system, name, args)
        except SysError as exc:
            # ESTALE: a mount someone stacked on ours is in the way; it is never touched, so recovery waits.
            raise SysError("cannot recover the interrupted apply of profile %s: %s; its journal is kept: the next "
                           "run recovers once that is resolved" % (store.name, exc), errno=exc.errno,
                           call=exc.call) from exc
    _keep(store, new)  # a destroy killed after its last step owns nothing: no state is left to list it
    store.journal.finish()
    return new, refresh_table(system, world)


def _remember(store, run, new, steps):
    """Add the profile an apply completed with to its history (history.py); a destroy is no profile to go back to."""
    if isinstance(run.profile, _Empty) or not run.profile.entries:
        return
    data = run.profile_data if run.profile_data is not None else _profile_doc(run.profile)
    history.add(store, data, new.applied_at, steps, run.targets)


def _emptiness(system):
    """Return what tells, when asked, whether directory `path` is empty: for fingerprint.take, when observe did not
    look (reconcile's `fingerprinted` False)."""
    return lambda path: system.lstat(path).empty


def _profile_doc(profile):
    """Return the canonical mapping of `profile` (what its fingerprint covers)."""
    from .profile.forms import profile_to_dict

    if isinstance(profile, _Empty):
        return {"name": profile.name, "mounts": []}
    return profile_to_dict(profile)


def _owned_live(state, world):
    # A mimic's synthetic entries are not the user's: the diff shows profile entries only.
    return [o.entry for o in state.owned if o.synthetic_for is None]


# The journal's dict form of an Entry: the state file's (recovery reads it with entry_from_dict, which fills in the
# defaults). Imported here, not in a function: an import statement costs a lookup each time it runs (one a step).
entry_dict = entry_to_state_dict


def carry_wait():
    """Return how long upper_policy carry waits for the old overlay to be let go: $LIVEMOUNT_CARRY_WAIT or 10 s."""
    try:
        return max(0.0, float(os.environ.get("LIVEMOUNT_CARRY_WAIT", "10")))
    except ValueError:
        return 10.0
