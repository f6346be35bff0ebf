"""The lock and journal of `overlay reset --force`, and recovering a forced reset that was killed.

A forced reset has no profile, so it gets a store of its own in the
namespace's state directory, named after the target (state.reset_store_name):
a lock, taken for the whole reset, and a journal, but never a state file.
The journal is opened before the overlay is frozen (its header holds the
overlay's device and flags), the Executor journals the replace into it as for
an owned overlay (the aside renames included), and it is removed only once
the overlay at the target is thawed. A reset killed at any moment leaves it.

The next forced reset of that target recovers under the same lock, from the
journal and the live table, with recover.py's rules: the old overlay is given
to recover() as owned, so a swap cut between "attach beneath" and "detach the
old one" is finished, and an aside rename is undone while the old overlay is
still on top; otherwise the old upper stays aside. Then the old overlay, if it
is still on top, gets its own flags back.
"""

import os

from ..journal import Journal
from ..kernel.sysapi import perform
from ..model import Owned
from ..mountinfo import parse_mountinfo
from ..observe import observe
from ..recover import after_finish, recover
from ..state import State, StateStore, reset_store_name
from ..overlay.upper_policy import ASIDE, stamp_now


class ResetJournal(Journal):
    """The journal of one forced reset: opened before the freeze, removed only when the overlay is thawed."""

    def start(self, live):
        """Return None after creating the journal with what recovery needs of overlay `live` (device, flags)."""
        Journal.begin(self, {"overlay_reset": live.mount_point, "profile": None, "dev": list(live.dev),
                             "flags": sorted(live.flags)})

    def begin(self, header):
        """Return None after recording the executor's plan header in the journal already open."""
        self.record(dict(header, kind="plan"))

    def finish(self):
        """Return None after closing the journal but keeping it: after a rollback the overlay is still frozen."""
        self.close()

    def remove(self):
        """Return None after closing and removing the journal: the reset is over, nothing is left frozen."""
        Journal.finish(self)


def store_for(root, namespace_id, target):
    """Return the StateStore of forced resets at mount point `target`, its journal a ResetJournal."""
    store = StateStore(root, namespace_id, reset_store_name(target))
    store.journal = ResetJournal(store.journal.path)
    return store


def recover_reset(system, store, target):
    """Return the messages of recovering the killed forced reset at `target` from `store`'s journal (then removed)."""
    from ..profile.load import entry_from_dict

    header, records = store.journal.read()
    plan = next((r for r in records if r.get("kind") == "plan"), {})
    header = dict(header, **{k: v for k, v in plan.items() if k != "kind"})
    dev = tuple(header.get("dev") or ())
    begun = [r for r in records if r.get("kind") == "begin" and r.get("entry")]
    done = sum(1 for r in records if r.get("kind") == "done")
    messages = ["recovered an interrupted `overlay reset --force` of %s (plan %s, %d of %d steps done)"
                % (target, header.get("plan_id", "-"), done, header.get("steps", 0))]
    if begun:
        entry = entry_from_dict(begun[0]["entry"])
        # The old overlay is what the journal says we were replacing: recover() treats it as owned.
        state = State(store.name, store.namespace_id, (Owned(entry, dev=dev),))
        finish, said = _finish_ops(system, state, header, records, entry, target, dev)
        for name, args in finish:
            perform(system, name, args)
        messages += said
    messages += _thaw(system, target, dev, header.get("flags") or [])
    store.journal.remove()
    return messages


def _finish_ops(system, state, header, records, entry, target, dev):
    """Return (finish ops, messages) of recover(), after moving away a seeded upper that stops a rename back.

    A reset of some paths fills the fresh upper with the kept changes before
    the swap. Killed then, the old overlay is still on top, running on the
    renamed upper, and recover() will not remove a directory that holds
    files. That copy is ours and complete or not, only a copy: it is renamed
    aside too (`U.livemount-partial-STAMP`, kept), and the old upper goes back.
    """
    from ..profile.load import entry_from_dict

    def run_recover():
        world = observe(system, [entry], state.owned)
        _new_state, finish, said = recover(state, header, records, world, entry_from_dict, lstat=system.lstat,
                                           listdir=system.listdir)
        return world, finish, said[1:]  # said[0] speaks of an apply and of planning afresh

    world, finish, said = run_recover()
    top = after_finish(world, finish).table.top(target)
    if top is None or tuple(top.dev) != dev:
        return finish, said
    moved = []
    for r in records:
        if (r.get("kind") == "aside" and ("rename", (r["to"], r["from"])) not in finish
                and system.lstat(r["to"]).kind == "dir" and system.lstat(r["from"]).kind == "dir"):
            to = _free_name(system, r["from"] + ASIDE + "partial-" + stamp_now())
            system.rename(r["from"], to)
            moved.append("moved %s, made for the new overlay and never mounted, to %s" % (r["from"], to))
    if not moved:
        return finish, said
    world, finish, said = run_recover()
    return finish, moved + said


def _thaw(system, target, dev, flags):
    """Return the messages of giving the old overlay, if still on top at `target`, its own flags back."""
    top = parse_mountinfo(system.read_mountinfo()).top(target)
    if top is None or tuple(top.dev) != dev or "ro" not in top.flags or "ro" in flags:
        return []
    system.setattr(target, frozenset(flags), None, top.ident)
    return ["gave overlay %s its own flags back: the killed reset had left it read-only" % target]


def _free_name(system, base):
    """Return `base` (or base-2, -3...): a name nothing uses yet."""
    name, n = base, 1
    while system.lstat(name).kind != "missing":
        n += 1
        name = "%s-%d" % (base, n)
    return name


def pending(root, namespace_id, target):
    """Return True when a forced reset of `target` was killed and its journal waits for recovery."""
    return os.path.lexists(store_for(root, namespace_id, target).journal.path)
