"""plan(state, profile, world) -> [Change]: the whole decision, as data, with no I/O.

Per target the planner decides one of keep / mount / remount / replace /
unmount (links: link / replace / unlink), then widens the decision to the
subtree (a child sitting on a parent that is mounted, replaced or unmounted is
taken down first and put back after), then adds the directories to create and
remove, and finally orders everything (order.py). Anything it must not touch
becomes a `conflict` change; the engine refuses a plan that has one.
"""

import dataclasses

from . import match, mimic, paths
from .overlay import plan as plan_overlay
from .model import BIND, OVERLAY, PERFORMED_ACTIONS, SYMLINK, Action, Change, builder
from .order import depends_on, order_changes

# Decisions that put a fresh mount (or no mount) at a target: whatever sits on
# top of the old one below that target has to come down and go back up.
_REBUILDS = (Action.MOUNT, Action.REPLACE, Action.UNMOUNT)


def plan(state, profile, world):
    """Return the ordered list of Changes turning `state` + live `world` into `profile`.

    `state` has `.owned` (iterable of model.Owned) and `.created` (paths we
    created). Keeps are included so the plan shows every entry; conflicts are
    included as Action.CONFLICT changes.
    """
    desired = {e.target: e for e in profile.entries}
    may_mimic = mimic.allowed(profile)
    desired.update(mimic.carried(state.owned, desired))
    owned = {o.entry.target: o for o in state.owned}
    targets = sorted(set(desired) | set(owned), key=paths.sort_key)

    created = frozenset(state.created)
    changes = []
    for t in targets:
        own = owned.get(t)
        if own is not None and own.synthetic_for is not None and own.entry.type == SYMLINK and \
                not _in_its_mimic(own, owned, world):
            # A link a mimic recreated lives in the mimic's tmpfs; with that tmpfs gone, the same link at the
            # same path is the original the mimic copied: someone else's, however alike (never unlinked).
            changes.append(Change(Action.FORGET, own.entry, "the writable mimic of %s that held this link is gone: "
                                  "the link there now is not livemount's" % paths.ancestors(t)[-1], before=own))
            continue
        changes.extend(_decide(desired.get(t), own, world, created))
    changes = _rebuild_children(changes, desired, owned, world)
    while True:
        # A mount built from what another target shows (a bind of it, an overlay layered on it) is built again
        # when that target is; its own children and dependents then are too.
        more = _rebuild_dependents(changes, owned)
        if more is changes:
            break
        changes = _rebuild_children(more, desired, owned, world)
    changes = _links_in_fresh_parents(changes, world)
    changes.extend(_foreign_below(changes, desired, owned, world))
    # What the down phase removes of ours may be what the up phase finds at another path (a bind put up
    # again from the same source): the world after it knows, by the identities recorded when livemount made them.
    going = _rmdirs(state, changes, desired, world)
    looked_at = _rmdirs_input(changes)
    ids = state.ids_of() if going else {}
    removed = frozenset(i for c in going for i in ids.get(c.path, ()))
    through = _through_uppers(going, world)
    emptied = _emptied_uppers(changes, plan_overlay.upper_policies(profile))
    changes = _add_mkdirs(changes, _after_down(changes, world, removed, through), may_mimic, emptied)
    # A mount point that makes room for another kind of entry (_make_room) may be one the new mount above
    # would hide as well: removed once.
    removing = {c.path for c in changes if c.action == Action.RMDIR}
    again = _rmdirs_input(changes)
    if len(again) != len(looked_at) or any(a is not b for a, b in zip(again, looked_at)):
        # _add_mkdirs added a mount or a conflict: decided again.
        going = _rmdirs(state, changes, desired, world)
    changes.extend(c for c in going if c.path not in removing)
    changes.extend(_cycles(desired))
    changes = plan_overlay.checks(changes, world, plan_overlay.upper_policies(profile))
    return order_changes(changes)


def conflicts_in(changes):
    """Return the conflict changes of a plan (empty when it may be applied)."""
    return [c for c in changes if c.action == Action.CONFLICT]


def to_perform(changes):
    """Return the changes the executor performs, the ones that alter the system (all but keep and conflict)."""
    return [c for c in changes if c.action in PERFORMED_ACTIONS]


# ---- one target ----------------------------------------------------------

def _in_its_mimic(own, owned, world):
    """Return True when the mimic tmpfs recorded at the parent of synthetic link `own` is the top mount there."""
    parent = paths.ancestors(own.entry.target)[-1]
    rec = owned.get(parent)
    if rec is None or rec.synthetic_for is None or not rec.entry.is_mount:
        return False
    live = match.find_recorded(rec, world.table, world)
    return live is not None and live is world.table.top(parent)


def _decide(want, own, world, created=frozenset()):
    """Return the changes for one target, considering only that target (and the paths we `created`)."""
    recorded = own.entry if own else None
    if want is not None and recorded is not None and (want.type == SYMLINK) != (recorded.type == SYMLINK):
        # A link became a mount or the other way round: remove, make room, create.
        down = _decide(None, own, world)
        room = _make_room(down, own, created, "a symlink" if want.type == SYMLINK else "a mount")
        if room is None:
            return down + _decide(want, None, world)
        return down + room + _decide(want, None, world.without([own.entry.target]))
    if _point_kind_changes(want, own, world):
        # The kernel mounts a file only on a file and a directory only on a
        # directory (move_mount(2): EINVAL): no replace in place, the mount
        # point itself must change. _add_mkdirs makes the new one.
        down = _decide(None, own, world)
        if down[0].action != Action.UNMOUNT:
            return down
        kind = world.point_kind(want)
        room = _make_room(down, own, created, "a %s mount point" % _kind_name(kind))
        return down + (room or []) + [Change(Action.MOUNT, want, "mount point must become a %s"
                                             % _kind_name(kind))]
    if own is None and want is not None and want.target in created:
        room = _created_in_the_way(want, world)
        if room:
            return room + _decide(want, None, world.without([want.target]))
    if (want or recorded).type == SYMLINK:
        return _decide_link(want, own, world)
    return _decide_mount(want, own, world)


def _created_in_the_way(want, world):
    """Return the removal of what livemount created at `want`'s target when `want` needs something else there.

    A mount point livemount made that no entry owns any more (a run was
    killed between unmounting the entry there and removing it) is ours to
    remove, as _make_room removes it when the entry that needed it goes in
    the same plan: a link needs the path free, a bind of a file a file, every
    other mount a directory.
    """
    kind = world.fact(want.target).kind
    if kind not in ("dir", "file") or world.table.top(want.target) is not None:
        return []
    if want.type != SYMLINK and kind == world.point_kind(want):
        return []
    successor = "a symlink" if want.type == SYMLINK else "a %s mount point" % _kind_name(world.point_kind(want))
    return [Change(Action.RMDIR, None, "%s created by livemount: %s takes its place" % (_kind_name(kind), successor),
                   path=want.target)]


def _decide_mount(want, own, world):
    target = (want or own.entry).target
    stack = world.table.stack(target)
    top = stack[-1] if stack else None
    if own is not None:
        rec = own.entry
        ours = [m for m in stack if match.same_identity(rec, m, world, own)]
        if top is not None and (not ours or ours[-1] is not top):
            if want is not None and not ours and _adoptable(want, top, world):
                return [Change(Action.KEEP, want, "recorded mount gone, an exact match is mounted: adopted",
                               live=top, adopt=True)]
            if want is None and not ours:
                # Ours is gone (unmounted by hand); what is there now is someone else's: never touched.
                return [Change(Action.FORGET, rec, "removed from profile; its mount is gone, and the %s %s mounted "
                               "there now is not livemount's: left alone" % (top.fstype, top.source), before=own)]
            what = _foreign(world, top, "is on top")
            return [Change(Action.CONFLICT, want or rec, "cannot %s %s: %s" % (
                "unmount" if want is None else "manage", target, what), live=top, before=own)]
        if top is None:
            if want is None:
                return [Change(Action.FORGET, rec, "removed from profile; already not mounted", before=own)]
            return [Change(Action.MOUNT, want, "recorded but not mounted (drift)", before=own)]
        if want is None:
            return [Change(Action.UNMOUNT, rec, "removed from profile", before=own, live=top)]
        if want.spec() != rec.spec():
            return [Change(Action.REPLACE, want, _spec_reason(rec, want), before=own, live=top)]
        if want.type == OVERLAY and match.fs_options_differ(want, top, world, own):
            # overlayfs ignores option changes on remount: only a new mount applies them.
            return [Change(Action.REPLACE, want, "overlay options changed (a remount cannot apply them)",
                           before=own, live=top)]
        diffs = match.setting_diffs(want, top, world, own)
        if diffs:
            drift = want == rec and want.flags == rec.flags and want.fs_options == rec.fs_options
            reason = ("changed by hand (drift): " if drift else "") + "; ".join(diffs)
            return [Change(Action.REMOUNT, want, reason, before=own, live=top)]
        # Built as model.build does (a third of the instructions of Change's own __init__): a plan that changes
        # nothing is made of these, one per entry.
        return [_CHANGE(action=Action.KEEP, entry=want, reason="up to date", before=own, live=top)]
    # Not ours.
    if top is None:
        return [Change(Action.MOUNT, want, "new entry")]
    if _adoptable(want, top, world):
        return [Change(Action.KEEP, want, "already mounted exactly as desired: adopted", live=top, adopt=True)]
    return [Change(Action.CONFLICT, want, "cannot mount %s on %s: %s"
                   % (want.type, target, _foreign(world, top, "is there")), live=top)]


_CHANGE = builder(Change)


def _foreign(world, live, where):
    """Return how a conflict names the mount `live` in the way: another profile's, or one livemount does not own."""
    owner = world.owner_of(live)
    if owner is not None:
        return "a mount of profile %s %s (%s %s): livemount never takes over another profile's mount" % (
            owner, where, live.fstype, live.source)
    return "a mount not owned by livemount %s (%s %s)" % (where, live.fstype, live.source)


def _decide_link(want, own, world):
    target = (want or own.entry).target
    fact = world.fact(target)
    if own is not None:
        rec = own.entry
        if fact.kind == "missing":
            if want is None:
                return [Change(Action.FORGET, rec, "removed from profile; already gone", before=own)]
            return [Change(Action.LINK, want, "recorded but missing (drift)", before=own)]
        if fact.kind != "symlink":
            return [Change(Action.CONFLICT, want or rec, "cannot manage symlink %s: a %s is in the way"
                           % (target, _kind_name(fact.kind)), before=own)]
        if want is None:
            return [Change(Action.UNLINK, rec, "removed from profile", before=own)]
        if fact.link != want.source:
            reason = "link %s -> %s" % (fact.link, want.source)
            if fact.link != rec.source:
                reason = "changed by hand (drift): " + reason
            return [Change(Action.REPLACE, want, reason, before=own)]
        return [Change(Action.KEEP, want, "up to date", before=own)]
    if fact.kind == "missing":
        return [Change(Action.LINK, want, "new entry")]
    if fact.kind == "symlink" and fact.link == want.source:
        return [Change(Action.KEEP, want, "already linked exactly as desired: adopted", adopt=True)]
    what = "a symlink to %s" % fact.link if fact.kind == "symlink" else "a %s" % _kind_name(fact.kind)
    return [Change(Action.CONFLICT, want, "cannot create symlink %s: %s not owned by livemount is in the way"
                   % (target, what))]


def _make_room(down, own, created, successor):
    """Return what else empties the target once `down` removed the owned entry, None if something stays.

    A removed link leaves nothing. An unmounted mount leaves its mount point,
    which may go only if livemount created it (else it is not ours: conflict).
    """
    if down[0].action == Action.UNLINK or (down[0].action == Action.FORGET and own.entry.type == SYMLINK):
        return []
    if down[0].action in (Action.UNMOUNT, Action.FORGET) and own.entry.target in created:
        return [Change(Action.RMDIR, None, "mount point created by livemount: %s takes its place" % successor,
                       path=own.entry.target)]
    return None


def _point_kind_changes(want, own, world):
    """Return True when an owned, mounted entry is to be replaced by one needing the other mount point kind."""
    if want is None or own is None or not want.is_mount or not own.entry.is_mount:
        return False
    have = world.fact(want.target).kind  # a mount's root has the kind of the point it sits on
    if have not in ("file", "dir") or have == world.point_kind(want):
        return False
    return world.table.top(want.target) is not None


def _after_down(changes, world, removed=frozenset(), through=()):
    """Return the world as the up phase finds it: links we unlink and directories we remove are gone.

    `removed`: the identities of the directories the down phase removes, gone wherever the world saw them;
    `through`: the paths in an overlay's upper where those removed through the overlay were (_through_uppers).
    """
    gone = [c.target for c in changes if c.action in (Action.UNLINK, Action.RMDIR)] + list(through)
    return world.without(gone, removed) if gone or removed else world


def _through_uppers(going, world):
    """Return the paths in an upper directory that the down phase's rmdirs, made through a live overlay, remove.

    A directory livemount made inside a writable overlay is in its upper;
    the planner saw it there too (a path below an overlay entry's target is
    looked up in its layers), under the upper's own device and path, where
    the identity of the one seen through the overlay does not find it.
    """
    out = []
    for c in going:
        m = world.table.visible(paths.ancestors(c.target)[-1]) if paths.ancestors(c.target) else None
        if m is not None and m.fstype == OVERLAY and m.upper and m.root == "/":
            out.append(paths.join(m.upper, paths.relative(c.target, m.mount_point)))
    return out


def _emptied_uppers(changes, policies):
    """Return the targets of the overlays this plan mounts on a fresh, empty upper (upper_policy fresh)."""
    return frozenset(c.target for c in changes
                     if c.action in (Action.MOUNT, Action.REPLACE) and c.entry is not None and c.entry.type == OVERLAY
                     and c.live is not None and c.live.fstype == OVERLAY and plan_overlay.shares_upper(c.live, c.entry)
                     and policies.get(c.target, plan_overlay.FRESH) == plan_overlay.FRESH)


def _exact(want, live, world, own):
    return match.same_identity(want, live, world, own) and not match.setting_diffs(want, live, world, own)


def _adoptable(want, live, world):
    """Return True when a mount we hold no record of is exactly `want` and recognizably so."""
    return match.has_identity(want) and _exact(want, live, world, None)


def _spec_reason(old, new):
    if old.type != new.type:
        return "type %s -> %s" % (old.type, new.type)
    if old.source != new.source:
        return "source %s -> %s" % (old.source, new.source)
    if old.type == OVERLAY:
        return "overlay layers changed (a remount silently ignores new layers)"
    if old.recursive != new.recursive:
        return "recursive %s -> %s" % (old.recursive, new.recursive)
    return "mount changed"


def _kind_name(kind):
    return {"dir": "directory", "file": "regular file"}.get(kind, kind)


# ---- subtrees ------------------------------------------------------------

def _rebuild_children(changes, desired, owned, world):
    """Return changes where entries below a rebuilt mount are taken down and put back."""
    rebuilt = {c.target for c in changes if _rebuilds(c)}
    if not rebuilt:
        return changes
    out = []
    for c in changes:
        # Look up the target's ancestors in a set: comparing every change with
        # every rebuilt target made a first apply quadratic (bench/apply_cost.py).
        under = [a for a in paths.ancestors(c.target) if a in rebuilt]
        if not under or c.action in (Action.CONFLICT, Action.UNMOUNT, Action.UNLINK, Action.FORGET):
            out.append(c)
            continue
        parent = under[-1]
        own = owned.get(c.target)
        want = desired.get(c.target)
        if c.action not in (Action.KEEP, Action.REMOUNT, Action.REPLACE):
            out.append(c)  # not live yet: it goes up after the parent anyway
            continue
        down = own.entry if own else c.entry
        if down.type == SYMLINK:
            out.append(Change(Action.UNLINK, down, "parent %s is rebuilt: link redone" % parent, before=own))
        else:
            out.append(Change(Action.UNMOUNT, down, "parent %s is rebuilt: child redone" % parent,
                              before=own, live=c.live))
        if want is not None:
            action = Action.LINK if want.type == SYMLINK else Action.MOUNT
            # An overlay whose layers or options change on the way keeps the old mount for its upper policy
            # (overlay/plan.py): mounted again on the same upper, it would show it over another stack.
            relayered = (c.action == Action.REPLACE and want.type == OVERLAY and c.live is not None
                         and c.live.fstype == OVERLAY and plan_overlay.shares_upper(c.live, want))
            out.append(Change(action, want, "parent %s is rebuilt: child redone" % parent,
                              live=c.live if relayered else None))
    return out


_DONE = {Action.MOUNT: "mounted", Action.REPLACE: "replaced", Action.UNMOUNT: "unmounted"}


def _rebuild_dependents(changes, owned):
    """Return changes where a kept mount built from a target this plan mounts afresh is replaced (or `changes`).

    A bind copies the mount its source shows when it is made, and overlayfs
    opens its layers when it is mounted: neither follows a later mount at
    that path. So when the mount at (or above) a bind's source or an
    overlay's layer is mounted, replaced or unmounted, a dependent kept as
    it is would go on showing the old one; it is replaced after it
    (order.py puts dependents after what they depend on).
    """
    rebuilt = {c.target: c.action for c in changes if _rebuilds(c)}
    if not rebuilt:
        return changes
    out, found = [], False
    for c in changes:
        own = owned.get(c.target)
        if c.action in (Action.KEEP, Action.REMOUNT) and own is not None and c.entry is not None \
                and c.entry.is_mount and c.live is not None:
            on = [(p, a) for p in depends_on(c.entry) for a in paths.ancestors(p) + [p] if a in rebuilt]
            if on:
                found = True
                p, a = on[-1]
                what = "source" if c.entry.type == BIND else "layer"
                done = _DONE[rebuilt[a]]
                where = "is %s by this plan" % done if p == a else "lies in %s, which this plan %s" % (
                    a, {"mounted": "mounts", "replaced": "replaces", "unmounted": "unmounts"}[done])
                out.append(Change(Action.REPLACE, c.entry, "its %s %s %s: built again after it" % (what, p, where),
                                  before=own, live=c.live))
                continue
        out.append(c)
    return out if found else changes


def _cycles(desired):
    """Return a conflict for each mount entry built, through sources, layers and parent mounts, from itself.

    A bind of a target, or an overlay layered on one, is made after it
    (order.py); a child after its parent. When those needs go round, no
    order works: each mount would copy or stack an empty directory, or the
    kernel refuses (ENOENT).
    """
    mounts = {t: e for t, e in desired.items() if e.is_mount}
    uses, within = {}, {}  # `within`: the targets at or above a path, per path (entries share sources and layers)
    for t, e in mounts.items():
        found = []
        for p in depends_on(e):
            at = within.get(p)
            if at is None:
                at = within[p] = [a for a in paths.ancestors(p) + [p] if a in mounts]
            found.extend(a for a in at if a != t)
        if found:
            uses[t] = found
    if not uses:
        return []
    out, done = [], set()
    for start in sorted(uses):
        # Depth first along the needs, one path at a time: a need already on the path closes a cycle.
        trail, stack = [], [(start, iter(_needs(start, mounts, uses)))]
        on = {start}
        trail.append(start)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on.discard(trail.pop())
                done.add(node)
                continue
            if nxt in on:
                ring = trail[trail.index(nxt):] + [nxt]
                for t in ring[:-1]:
                    if t not in done:
                        done.add(t)
                        out.append(Change(Action.CONFLICT, mounts[t], "cannot mount %s: it is built from itself: %s"
                                          " (bind sources, overlay layers and parent mounts), so no order can mount"
                                          " them" % (t, " -> ".join(ring[ring.index(t):] + ring[1:ring.index(t) + 1]))))
                continue
            if nxt not in done:
                on.add(nxt)
                trail.append(nxt)
                stack.append((nxt, iter(_needs(nxt, mounts, uses))))
    return out


def _needs(t, mounts, uses):
    """Return the targets whose mount must be up before the mount at `t`: its parents, and what it is built from."""
    return [a for a in paths.ancestors(t) if a in mounts] + uses.get(t, [])


def _links_in_fresh_parents(changes, world):
    """Return changes where a link to create below a fresh parent mount is judged by what that mount will show.

    A parent mounted again (drift), for the first time or replaced shows its
    source's content: the link may already be there (keep: no EEXIST; a
    redo's unlink of the old one is dropped, it may be that very link) or
    something else may be in its place (conflict).
    """
    fresh = {c.target: c.entry for c in changes
             if c.action in (Action.MOUNT, Action.REPLACE) and c.entry is not None and c.entry.is_mount}
    if not fresh:
        return changes
    out, kept = [], set()
    for c in changes:
        if c.action != Action.LINK or not any(a in fresh for a in paths.ancestors(c.target)):
            out.append(c)
            continue
        fact = world.projected(c.target, fresh, set())
        if fact.kind in ("missing", "unknown"):
            out.append(c)
        elif fact.kind == "symlink" and fact.link == c.entry.source:
            kept.add(c.target)
            out.append(Change(Action.KEEP, c.entry, "already linked inside the parent mounted first",
                              before=c.before))
        else:
            what = "a symlink to %s" % fact.link if fact.kind == "symlink" else "a %s" % _kind_name(fact.kind)
            out.append(Change(Action.CONFLICT, c.entry, "cannot create symlink %s: %s is in the way inside the "
                              "mount made first at its parent" % (c.target, what)))
    return [c for c in out if not (c.action == Action.UNLINK and c.target in kept)]


def _rebuilds(change):
    """Return True when `change` puts a fresh mount, or none, where a mount was visible."""
    if change.action not in _REBUILDS or not change.entry or not change.entry.is_mount:
        return False
    return change.action != Action.UNMOUNT or change.live is not None


def _foreign_below(changes, desired, owned, world):
    """Return conflicts for mounts we do not own that a rebuilt mount would hide or strand."""
    out = []
    for c in changes:
        if not _rebuilds(c) or mimic.is_synthetic(c):
            continue  # below a mimic's mounts: copies of the read-only directory's own mounts, they go with it
        ours = {m.mount_id for m in match.carried_copies(c.before.entry, c.live, world)} if c.before else ()
        for m in world.table.submounts(c.target):
            if m.mount_point in owned or m.mount_point in desired or m.mount_id in ours:
                continue
            verb = "unmount" if c.action == Action.UNMOUNT else c.action.value
            out.append(Change(Action.CONFLICT, c.entry, "cannot %s %s: a mount not owned by livemount is below it "
                              "at %s (%s)" % (verb, c.target, m.mount_point, m.fstype), live=m))
    return out


# ---- directories -----------------------------------------------------------

def _add_mkdirs(changes, world, may_mimic=frozenset(), emptied=frozenset()):
    """Return changes plus the mkdir steps (and refusals) the creating changes need.

    A directory to create in a read-only one is a conflict, unless the entry
    is in `may_mimic`: then a writable mimic of that directory comes first.
    The overlays at `emptied` start on a fresh upper: only their lower layers show.
    """
    ups = sorted((c for c in changes if c.action in (Action.MOUNT, Action.REPLACE, Action.LINK)),
                 key=lambda c: paths.sort_key(c.target))
    if not ups:
        return list(changes)  # nothing goes up: no directory to make, no mimic to plan (a plan that changes nothing)
    fresh = {c.target: c.entry for c in ups if c.entry.is_mount}
    shown = {t: (dataclasses.replace(e, upper=None) if t in emptied else e) for t, e in fresh.items()} \
        if emptied else fresh  # what each fresh mount shows; `fresh` still says what is writable
    gone = {c.target for c in changes if c.action == Action.UNMOUNT and c.live is not None} - set(fresh)

    def source_kind(e, hops=0):
        """Return the kind of a bind's source once what the plan mounts first is up (World.source_kind, else)."""
        src = e.source
        if e.type == BIND and src and hops < 8 and src != e.target and paths.under_any(src, fresh):
            if src in fresh:  # the root of a mount this plan makes: a file only for a bind of a file
                return "file" if fresh[src].type == BIND and source_kind(fresh[src], hops + 1) == "file" else "dir"
            return world.projected(src, shown, gone, staying).kind
        return world.source_kind(e)  # (a cycle of binds is refused: plan._cycles)

    def point_kind(e):
        """Return "file" for a bind of what will be a regular file (its mount point is a file), else "dir"."""
        return "file" if e.type == BIND and source_kind(e) == "file" else "dir"

    staying = {c.target: c.entry for c in changes
               if c.action in (Action.KEEP, Action.REMOUNT) and c.entry is not None and c.entry.is_mount}
    made = {}
    plain = set()  # parents already found to be plain directories: the same answer for every entry below them
    mimicked = {}  # {directory: the first entry needing its mimic}; planned together at the end (nesting)
    out = list(changes)

    def read_only(e, where):
        """Return True when `where` stays read-only for `e` (else a mimic, planned once, makes it writable)."""
        if where in mimicked or not world.read_only(where, fresh, staying, gone):
            return False
        if e.target in may_mimic and mimic.can_mimic(where, world, fresh):
            mimicked[where] = e
            return False
        return True

    for c in ups:
        e = c.entry
        need = paths.ancestors(e.target)
        if e.is_mount and c.action == Action.MOUNT:
            need = need + [e.target]
        for p in need:
            is_target = p == e.target
            if p in made or (p in plain and not is_target):
                continue
            fact = world.projected(p, shown, gone, staying)
            if fact.kind == "unknown":
                where = paths.ancestors(p)[-1]
                if e.mkdir and (where not in made or where in fresh) and read_only(e, where):
                    # Hidden under a mount this plan takes away, on a read-only filesystem: whether it is
                    # there cannot be seen now, and if it is not, it cannot be made (EROFS at apply).
                    out.append(Change(Action.CONFLICT, e, "cannot %s %s: %s is hidden under the mount at %s, "
                                      "which this plan takes away, and %s is read-only then, so if %s is missing "
                                      "it cannot be created there; apply without %s first" % (
                                          "link" if e.type == SYMLINK else "mount", e.target, p,
                                          _hidden_by(p, gone), where, p, e.target)))
                    break
                if e.mkdir:
                    # steps._mkdir makes it only if it is missing then (and only then records it as ours).
                    file_point = is_target and point_kind(e) == "file"
                    made[p] = "file" if file_point else "dir"
                    out.append(Change(Action.MKDIR, e, "create %s if missing (hidden under a mount removed first)"
                                      % ("mount point" if is_target else "parent"), path=p, file_point=file_point))
            elif fact.kind == "missing":
                if not e.mkdir:
                    out.append(Change(Action.CONFLICT, e, "cannot mount %s: %s does not exist and mkdir is false"
                                      % (e.target, p)))
                    break
                where = paths.ancestors(p)[-1]
                # A directory made by this plan is on the mount holding its parent, unless a fresh mount
                # then covers it: the read-only question is then that mount's.
                if (where not in made or where in fresh) and read_only(e, where):
                    out.append(_read_only_conflict(e, where, p))
                    break
                file_point = is_target and point_kind(e) == "file"
                made[p] = "file" if file_point else "dir"
                out.append(Change(Action.MKDIR, e, "create missing %s" % ("mount point" if is_target else "parent"),
                                  path=p, file_point=file_point))
            elif fact.kind == "symlink":
                out.append(Change(Action.CONFLICT, e, "cannot %s %s: refusing to follow symlink at %s"
                                  % ("link" if e.type == SYMLINK else "mount", e.target, p)))
                break
            elif is_target:
                if fact.kind != point_kind(e):
                    out.append(Change(Action.CONFLICT, e, "cannot mount %s: existing %s in the way"
                                      % (e.target, _kind_name(fact.kind))))
            elif fact.kind != "dir":
                out.append(Change(Action.CONFLICT, e, "cannot %s %s: %s is a %s, not a directory"
                                  % ("link" if e.type == SYMLINK else "mount", e.target, p, _kind_name(fact.kind))))
                break
            else:
                plain.add(p)
        else:
            where = paths.ancestors(e.target)[-1]
            if e.type == SYMLINK and (where not in made or where in fresh) and read_only(e, where):
                out.append(_read_only_conflict(e, where, e.target))
        if e.type == BIND and c.action != Action.LINK and source_kind(e) == "missing":
            out.append(Change(Action.CONFLICT, e, "cannot mount %s: source %s does not exist" % (e.target, e.source)))
    return out + mimic.plan_mimics(mimicked, world, changes)


def _hidden_by(path, gone):
    """Return the nearest target at or above `path` among `gone` (the mount whose going makes `path` unknown)."""
    return next((a for a in reversed(paths.ancestors(path) + [path]) if a in gone), path)


def _read_only_conflict(entry, where, path):
    verb = "link" if entry.type == SYMLINK else "mount"
    return Change(Action.CONFLICT, entry, "cannot %s %s: %s is read-only, so %s cannot be created there"
                  % (verb, entry.target, where, path))


def _rmdirs(state, changes, desired, world):
    """Return rmdir steps for directories we created that no remaining entry needs.

    A directory we created below a mount that this plan replaces or unmounts
    lives in that mount's content (for a bind, in its source): it is removed
    before the mount goes, even if still needed, and made again in the new
    content by a mkdir if it is missing there. One that a mount this plan
    leaves in place still sits in or on (another profile's) gets no step: it
    stays in state and goes with a later run that finds it unused.

    One that a mount this plan puts up will hide (created below its target,
    on the filesystem it covers) is removed before that mount, even if a
    path below it is still needed: what is needed there is made in the new
    mount's content.
    """
    # Sets and ancestor lookups, never every created path against every target: a
    # profile whose directories livemount created made this quadratic (bench/plan_scale.py).
    # A bind's source or an overlay's layer that livemount made (the mount point of an entry gone now) is
    # needed as much as a target is.
    needed = paths.with_ancestors(list(desired) + [p for e in desired.values() for p in depends_on(e)])
    rebuilt = {c.target: c.action for c in changes if c.action in (Action.REPLACE, Action.UNMOUNT) and _rebuilds(c)}
    fresh = {c.target for c in changes if c.action == Action.MOUNT}
    down = {}
    for c in changes:
        if c.action == Action.UNMOUNT:
            down[c.target] = down.get(c.target, 0) + 1
    refused = {c.target for c in changes if c.action == Action.CONFLICT}
    out = []
    for p in state.created:  # each path decided on its own; only the steps are sorted, deepest first
        inside = [r for r in paths.ancestors(p) if r in rebuilt] if rebuilt else ()
        if inside:
            how = "unmounted" if rebuilt[inside[-1]] == Action.UNMOUNT else "replaced"
            out.append(Change(Action.RMDIR, None, "created inside %s, which is %s" % (inside[-1], how), path=p))
            continue
        cover = _covering(p, fresh, world, down) if fresh else None
        if (cover is None and p in needed) or _mount_left_in(p, world, down, refused):
            continue
        if cover is not None:
            out.append(Change(Action.RMDIR, None, "created where the new mount at %s will hide it" % cover, path=p))
            continue
        out.append(Change(Action.RMDIR, None, "created by livemount, no longer needed", path=p))
    out.sort(key=lambda c: paths.sort_key(c.path), reverse=True)
    return out


def _rmdirs_input(changes):
    """Return what _rmdirs reads of a plan's `changes`: its mounts, replaces, unmounts and conflicts (the very
    Change objects, in order)."""
    return [c for c in changes if c.action in _RMDIRS_READ]


_RMDIRS_READ = frozenset((Action.MOUNT, Action.REPLACE, Action.UNMOUNT, Action.CONFLICT))


def _covering(path, fresh, world, down):
    """Return the target in `fresh` (mounts this plan puts up) whose mount will hide `path`, or None.

    It hides what is below its target on the filesystem there now: None when
    a mount that stays (`down` counts the plan's unmounts per target) lies
    between them, `path` being in that mount's content instead.
    """
    for at in [path] + paths.ancestors(path)[::-1]:
        if at != path and at in fresh:
            return at
        if len(world.table.stack(at)) > down.get(at, 0):
            return None
    return None


def _mount_left_in(path, world, down, refused=frozenset()):
    """Return True when a live mount at or below `path` stays once the plan's unmounts are done.

    `down` counts the plan's unmounts per target. rmdir(2) would fail there
    (EBUSY on a mount point, ENOTEMPTY above one): planning it would report
    a change on every run while the mount stays. A mount below one that
    goes goes too: a recursive bind's copies leave with it, anything else is
    taken down first or is a conflict. Mounts at a conflict's target
    (`refused`) count as gone: the plan runs only once the conflict is
    resolved, and shows what it would do then.
    """
    if any(paths.is_at_or_under(t, path) for t in world.others):
        return True  # another profile's link or mount is in it: it stays until that is gone (leftovers.py)
    taken = {}
    for m in world.table.stack(path) + list(world.table.submounts(path)):
        mp = m.mount_point
        if taken.get(mp, 0) < down.get(mp, 0):
            taken[mp] = taken.get(mp, 0) + 1
        elif not paths.under_any(mp, down, strict=True) and not paths.under_any(mp, refused):
            return True
    return False
