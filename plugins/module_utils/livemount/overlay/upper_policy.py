"""Replacing an overlay whose new mount reuses the old one's upper or work: upper_policy fresh or carry.

Two overlay superblocks on one upper (or work) directory is undefined
behaviour (Documentation/filesystems/overlayfs.rst: the underlying
filesystems must not change while mounted), and after a lazy unmount the old
superblock lives on while anything uses it. So the replacement never mounts
on the old upper while the old overlay may be alive:

* `fresh` (the default): the old upper and work are renamed aside, next to
  themselves (`U.livemount-20261121T183000Z`: same parent, same
  filesystem); nothing inside them is written, and the old overlay keeps
  running on them for whoever is still inside. Fresh, empty directories take
  their names, optionally seeded (overlay reset copies the changes it keeps),
  and the new overlay is swapped in atomically like any replace.
* `carry`: the old overlay is frozen read-only (mount_setattr(2); EBUSY while
  a file is open for writing), unmounted without MNT_DETACH as soon as
  nothing uses it (retrying for `Executor.carry_wait` seconds), and only then
  is the new overlay mounted on the same upper. The target is empty between
  the two. Whoever still holds the old overlay when the wait ends is named,
  and everything is put back.

Each function performs its system calls through `run` and pushes their undo.
"""

import errno
import time

from ..kernel import holders
from .. import paths
from ..errors import SysError

ASIDE = ".livemount-"


def move_aside(run, c, undo=True):
    """Return {old path: aside path} after moving the reused upper/work of the old overlay aside.

    Fresh directories with the old ones' mode and owner take their names and
    `executor.seed(run, change, old_upper_aside, new_upper)` (if set) fills
    the fresh upper. Each rename is journaled before it is made, so recovery
    can put it back (recover.py). With `undo` False nothing is pushed: a
    rollback leaves the old directories aside and the fresh ones in place.
    """
    e, old = c.entry, c.live
    reused = [p for p in (old.upper, old.work) if p and p in (e.upper, e.work)]
    stamp = stamp_now()
    moved = {}
    for p in reused:
        aside = _free_name(run, p, stamp)
        run.journal({"kind": "aside", "from": p, "to": aside, "dev": list(old.dev)})
        run.system.rename(p, aside)
        if undo:
            run.push("move %s back to %s" % (aside, p), lambda p=p, aside=aside: run.system.rename(aside, p))
        moved[p] = aside
    for p in reused:
        was = run.system.lstat(moved[p])
        run.system.mkdir(p, was.mode if was.mode is not None else 0o755, was.uid or 0, was.gid or 0)
        if undo:
            run.push("remove fresh %s" % p, lambda p=p: remove_fresh(run, p))
    seed = run.executor.seed
    if seed is not None and e.upper in moved:
        seed(run, c, moved[e.upper], e.upper)
    return moved


def stamp_now():
    """Return the UTC time as the suffix of an aside name: `20261121T183000Z`."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def record(run, e, moved, old_gone, why="upper_policy fresh"):
    """Note in the outcome where the old upper and work of overlay entry `e` were kept, and warn about it."""
    aside = {"target": e.target, "upper": e.upper, "upper_aside": moved.get(e.upper),
             "work": e.work, "work_aside": moved.get(e.work), "old_gone": old_gone}
    run.executor.outcome.asides.append(aside)
    run.warn("kept the old upper and work of overlay %s at %s (%s)%s" % (
        e.target, " and ".join(moved[p] for p in sorted(moved)), why,
        "" if old_gone else ": processes still inside the old overlay keep using them"))


def remove_fresh(run, path):
    """Remove directory `path` that move_aside made, with what overlayfs or a seed put in it since."""
    fact = run.system.lstat(path)
    if fact.kind == "missing":
        return
    if fact.kind == "dir":
        for name in run.system.listdir(path):
            remove_fresh(run, paths.join(path, name))
        run.system.rmdir(path)
    else:
        run.system.unlink(path)


def carry_release(run, c):
    """Freeze the old overlay at the target read-only and unmount it once nothing uses it; push the undo.

    Raises SysError (nothing left changed once the undo ran) when a file is
    open for writing on it, or when it is still in use after the wait.
    """
    e, live = c.entry, c.live
    old_entry = c.before.entry if c.before else None
    # Once the frozen mount is unmounted there is nothing to unfreeze: the undo below mounts the old entry
    # again from its spec, with its own flags (another mount: unfreezing "the old one" then fails ESTALE).
    state = {"gone": False}
    if "ro" not in live.flags:
        try:
            run.system.setattr(e.target, frozenset(live.flags) | {"ro"}, None, live.ident)
        except SysError as exc:
            if exc.errno != errno.EBUSY:
                raise
            raise _busy(run, e.target, exc, "cannot freeze overlay %s for upper_policy carry: a process holds a"
                                            " file open for writing on it" % e.target)

        def unfreeze():
            if not state["gone"]:
                run.system.setattr(e.target, frozenset(live.flags), None, live.ident)
        run.push("unfreeze %s" % e.target, unfreeze)
    deadline = time.monotonic() + run.executor.carry_wait
    while True:
        try:
            run.system.umount(e.target, False, live.ident)  # never MNT_DETACH: the old superblock must really go
            state["gone"] = True
            break
        except SysError as exc:
            if exc.errno != errno.EBUSY:
                raise
            if time.monotonic() >= deadline:
                raise _busy(run, e.target, exc, "cannot carry the upper of overlay %s: the old overlay is still in"
                                                " use after %gs; use upper_policy fresh to swap it in now"
                            % (e.target, run.executor.carry_wait))
            time.sleep(0.05)
    if old_entry is not None:
        run.push("mount %s again" % e.target, lambda: _mount_again(run, old_entry))


def _mount_again(run, entry):
    from ..steps import build  # steps imports this module

    h = build(run, entry)
    run.attach(h, entry.target, role="old")
    run.executor.outcome.remade.append(entry.target)


def _busy(run, target, exc, message):
    said = holders.describe(*holders.explain(run.system, target, run.system.proc_fd()))
    err = SysError("%s (%s)" % (message, said) if said else message, errno=exc.errno, call=exc.call)
    return err


def _free_name(run, path, stamp):
    """Return `path.livemount-STAMP` (or -2, -3...): a sibling name nothing uses yet."""
    base = path + ASIDE + stamp
    name, n = base, 1
    while run.system.lstat(name).kind != "missing":
        n += 1
        name = "%s-%d" % (base, n)
    return name
