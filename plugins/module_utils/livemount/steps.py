"""How each kind of Change is performed through Sys, and how it is undone.

`perform(run, change)` issues the system calls of one change through
`run.system` (`run.system.attach(h, target)`), pushing an undo function onto
`run.undo` after each call that changed something. Every call acting on an
attached mount names the mount it expects there (its model.Ident: the live
one the plan checked, or the one this run attached), so a mount stacked on
it meanwhile fails the step instead of being the one changed (sysapi,
"Verify, then act"). Undo functions restore the exact previous table: an
unmounted mount is kept alive as a detached clone (same superblock, same
device) until the whole apply has succeeded, so putting it back restores its
content too. Overlays are the exception: a clone would keep the old overlay's
superblock alive on its upper directory, so they are re-mounted from their spec.
"""

import errno
import os

from . import dirs, match, mimic, options, paths
from .overlay import upper_policy
from .errors import SysError
from .model import BIND, OVERLAY, SYMLINK, Action, Change


def perform(run, change):
    """Perform one change through `run` (see apply.Run); return True if it changed something."""
    handler = _HANDLERS[change.action]
    return handler(run, change)


def build(run, entry):
    """Return a detached mount Handle for `entry` with its per-mount flags already set."""
    if entry.type == BIND:
        h = run.system.clone(entry.source, entry.recursive)
    elif entry.type == OVERLAY:
        h = run.system.create_fs("overlay", "overlay", entry.fs_options, entry.lower, entry.data,
                                 entry.upper, entry.work)
    else:
        h = run.system.create_fs(entry.type, entry.source or entry.type, entry.fs_options)
    # mount_setattr(2) works on a detached mount: it appears with the right flags at once.
    run.system.setattr(h, entry.flags, None)
    return h


def _mkdir(run, c):
    e = c.entry
    fact = run.system.lstat(c.path)
    want = "file" if c.file_point else "dir"
    if fact.kind == want:
        if dirs.ours(run, c.path, fact):
            run.created.append(c.path)  # one livemount made, hidden until a mount above went: still ours
            dirs.made(run, c.path)
        return False  # already there (someone made it since the plan): not ours to remove
    try:
        if c.file_point:
            run.system.mkfile(c.path, 0o644 if e.mode == 0o755 else e.mode, e.uid, e.gid)
        else:
            run.system.mkdir(c.path, e.mode, e.uid, e.gid)
    except SysError as exc:
        # Another run made it between the lstat above and our call: two
        # profiles (two locks) applied at once that share a missing parent.
        if exc.errno == errno.EEXIST and run.system.lstat(c.path).kind == want:
            return False
        raise
    if c.file_point:
        run.push("remove created file %s" % c.path, lambda: run.system.unlink(c.path))
    else:
        run.push("remove created directory %s" % c.path, lambda: run.system.rmdir(c.path))
    run.created.append(c.path)
    dirs.made(run, c.path)
    return True


def _rmdir(run, c):
    fact = run.system.lstat(c.path)
    if fact.kind == "missing":
        return False
    if dirs.foreign(run, c.path, fact):
        run.warn("kept %s: it is not the directory livemount made there (someone made it again since)" % c.path)
        return False
    try:
        if fact.kind == "dir":
            _remove_dir(run, c.path, fact)
        elif fact.kind == "file":
            view = _writing(run.system.unlink, c.path)
            if fact.identity is not None:
                run.executor.outcome.removed_ids.append((c.path, fact.identity))

            def undo_file():
                run.system.mkfile(c.path, fact.mode or 0o644, fact.uid or 0, fact.gid or 0, view)
                dirs.made(run, c.path, undo=True)  # another inode now, as for a directory (_rmdir_once)

            run.push("recreate file %s" % c.path, undo_file)
        else:
            return False
    except SysError as exc:
        # Someone else's files in it, still a mount point, or a filesystem
        # read-only itself (not just its mount): leave the directory, say so,
        # and stop tracking it.
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY, errno.EROFS):
            run.warn("kept %s: %s" % (c.path, os.strerror(exc.errno).lower()))
            return False
        raise
    return True


def _remove_dir(run, path, fact):
    """Return None after removing directory `path`, with what livemount made inside it when nothing else is.

    ENOTEMPTY from rmdir(2) because what is left in it is only directories
    livemount made (by identity: a copy hidden under a mount that went since)
    removes those first, deepest first, each with its undo (dirs.py).
    """
    try:
        _rmdir_once(run, path, fact)
        return
    except SysError as exc:
        inside = dirs.own_tree(run, path) if exc.errno == errno.ENOTEMPTY else None
        if not inside:
            raise
    for child, child_fact in inside:
        _rmdir_once(run, child, child_fact)
    _rmdir_once(run, path, fact)


def _rmdir_once(run, path, fact):
    view = _writing(run.system.rmdir, path)
    if fact.identity is not None:
        run.executor.outcome.removed_ids.append((path, fact.identity))

    def undo():
        run.system.mkdir(path, fact.mode or 0o755, fact.uid or 0, fact.gid or 0, view)
        dirs.made(run, path, undo=True)  # another inode now: the state learns it (state_after.learn_restored, or recovery)

    run.push("recreate directory %s" % path, undo)


def _writing(call, *args):
    """Return True when Sys method `call` had to go through a private writable view, False when it went plainly.

    Only for what livemount made itself (its links and directories, and
    putting them back on undo): when the mount holding them is read-only
    now (EROFS), the call is made again through a detached copy of that
    mount with its per-mount `ro` cleared (sysapi). Nothing anyone sees
    changes, and a filesystem read-only itself still says EROFS.
    """
    try:
        call(*args)
        return False
    except SysError as exc:
        if exc.errno != errno.EROFS:
            raise
    call(*args, True)
    return True


def _mount(run, c):
    e = c.entry
    moved = {}
    if c.upper_policy == "fresh" and c.live is not None and \
            not any(a["target"] == e.target for a in run.executor.outcome.asides):
        # A child overlay redone with other layers (overlay/plan.py): its old overlay was unmounted in the
        # down phase (if that was lazy, the unmount moved the upper aside already).
        moved = upper_policy.move_aside(run, c)
    h = build(run, e)
    ident = run.attach(h, e.target)
    if moved:
        upper_policy.record(run, e, moved, old_gone=True)
    detach = _may_carry(e)
    run.push("unmount %s" % e.target, lambda: run.system.umount(e.target, detach, ident))
    if e.propagation:
        run.system.setattr(e.target, None, e.propagation, ident)
    return True


def _unmount(run, c, aside_done=False):
    e = c.entry
    live = c.live
    if live is None:
        return False  # umount2(2) would say EINVAL: nothing to do, it is already gone
    # Which mount is at the target: the one checked, then the copy an undo puts back in its place.
    at = {"ident": live.ident}
    if live.propagation != "private":
        # Unmounting a shared mount propagates to its peers (and can fail EBUSY there).
        run.system.setattr(e.target, None, "private", live.ident)
        old = live.propagation.split("+")[0]
        run.push("restore propagation of %s" % e.target,
                 lambda: run.system.setattr(e.target, None, old, at["ident"]))
    keep = _copy_for_undo(run, e.target, live.ident)
    if mimic.unmount_detached(c) or _carries(run, c):
        # A recursive copy carries copies of the mounts below its source (umount2(2): EBUSY without
        # MNT_DETACH); the planner made sure every mount below is one of them.
        run.system.umount(e.target, True, live.ident)
        lazily = False
    else:
        lazily = _umount(run, e.target, live.ident)
    writable_overlay = e.type == OVERLAY and bool(live.upper)
    if writable_overlay and keep is not None and not lazily:
        # The copy would keep the old superblock alive on its upper, and a
        # later step may mount on that upper: let it die now (undo mounts the
        # entry again from its spec instead).
        _release(run, keep)
        keep = None
    if keep is None:
        # Overlays, or a Sys that cannot copy a mount: undo mounts the entry
        # again. A tmpfs put back that way on a rollback comes back empty.
        run.push("mount %s again" % e.target, lambda: at.update(ident=_private_again(
            run, live, _remount_from_spec(run, e))))
    else:
        run.push("put back %s" % e.target, lambda: at.update(ident=_private_again(
            run, live, run.attach(keep, e.target, role="old"))))
    if writable_overlay and lazily and not aside_done:
        # The old overlay lives on for its users, writing into its upper: no
        # mount may use that upper again while it does (overlayfs.rst). Move
        # it aside and leave fresh directories in its place. Without a copy
        # to put back, the undo above mounts onto those fresh directories.
        moved = upper_policy.move_aside(run, Change(Action.REPLACE, e, c.reason, live=live), undo=keep is not None)
        upper_policy.record(run, e, moved, old_gone=False, why="on_busy detach")
    return True


def _may_carry(entry):
    """Return True for an entry whose mount may carry copies of submounts: undo must detach its subtree."""
    return entry.type == BIND and entry.recursive


def _carries(run, c):
    """Return True when the mount `c` takes down is a recursive bind with copies of its source's submounts below it."""
    return run.world is not None and bool(match.carried_copies(c.entry, c.live, run.world))


def _release(run, handle):
    """Close a detached mount copy now rather than at the end of the apply."""
    run.system.close(handle)


def _copy_for_undo(run, target, expect):
    """Return a detached copy of the mount on top at `target` (that is `expect`), kept alive for undo.

    None when the Sys cannot make one: the classic mount(2) API has no
    open_tree(2), and LinuxSys then says ENOSYS (kernels before 5.2).
    """
    try:
        keep = run.system.clone_mount(target, expect)
    except SysError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        return None
    return keep


def _umount(run, target, expect):
    """Return True if the top mount at `target` (that is `expect`) was detached lazily, False if plainly unmounted.

    When it is busy, the busy hook names who holds it or detaches lazily.

    The hook is holders.BusyPolicy, which the engine gives the Executor (`busy`):
    per on_busy it raises the SysError with the holders added (fail) or
    unmounts with MNT_DETACH (detach). An Executor used without it raises
    EBUSY as the kernel said it. Either way the undo is the same: put back
    the clone kept before the unmount.
    """
    try:
        run.system.umount(target, False, expect)
        return False
    except SysError as exc:
        hook = run.executor.busy
        if exc.errno != errno.EBUSY or hook is None:
            raise
        hook.on_busy(run, target, exc, expect)
        return True


def _private_again(run, live, ident):
    """Return `ident` (the mount an undo put back in place of `live`) after making it private, as `live` was.

    The kernel makes a mount attached below a shared one shared
    (attach_recursive_mnt); a private mount taken down there comes back
    shared unless told. (A shared or slave one: its undo sets that back.)
    """
    parent = run.world.table.by_id(live.parent_id) if run.world is not None else None
    if live.propagation == "private" and parent is not None and parent.propagation.startswith("shared"):
        run.system.setattr(live.mount_point, None, "private", ident)
    return ident


def _remount_from_spec(run, e):
    """Return the Ident of the entry's mount made again (an undo that had no copy to put back)."""
    h = build(run, e)
    ident = run.attach(h, e.target, role="old")
    run.executor.outcome.remade.append(e.target)  # a new device: the engine tells the state
    return ident


def _remount(run, c):
    e, live = c.entry, c.live
    if live is None:
        raise SysError("cannot remount %s: not mounted" % e.target, errno.EINVAL)

    # Every call (and undo) goes through one pin of the mount checked: a mount stacked on it meanwhile is never
    # the one changed, and ours is still put back as it was.
    def ours():
        return run.pinned(e.target, live.ident)

    if match.flags_differ(e, live):
        old_flags = live.flags
        run.system.setattr(ours(), e.flags, None)
        run.push("restore flags of %s" % e.target, lambda: run.system.setattr(ours(), old_flags, None))
    if match.fs_options_differ(e, live, run.world, c.before):
        have = dict(live.fs_options)
        changed = [(k, v) for k, v in e.fs_options if have.get(k, object()) != v]
        back = [(k, have[k]) for k, _value in changed if k in have]
        # One the kernel did not show was at its default (a tmpfs of half of RAM): put that back.
        back += options.hidden_defaults(e.type, [k for k, _value in changed if k not in have],
                                        run.system.tmpfs_defaults())
        run.system.reconfigure(ours(), changed)
        if back:
            run.push("restore options of %s" % e.target, lambda: run.system.reconfigure(ours(), back))
    if match.propagation_differs(e, live):
        old = live.propagation.split("+")[0]
        run.system.setattr(ours(), None, e.propagation)
        run.push("restore propagation of %s" % e.target, lambda: run.system.setattr(ours(), None, old))
    return True


def _replace(run, c):
    e = c.entry
    if e.type == SYMLINK:
        return _relink(run, c)
    live = c.live
    old = c.before.entry if c.before else None
    if live is None:
        return _mount(run, c)
    if c.upper_policy == "carry":
        upper_policy.carry_release(run, c)
        return _mount(run, c)
    moved = upper_policy.move_aside(run, c) if c.upper_policy == "fresh" else {}
    shares_upper = not moved and (
        old is not None and old.type == OVERLAY and e.type == OVERLAY
        and (old.upper and old.upper in (e.upper, e.work) or old.work and old.work in (e.upper, e.work))
    )
    # The old mount, kept alive for undo: without a copy there is no atomic swap either.
    keep = None if shares_upper or not run.beneath else _copy_for_undo(run, e.target, live.ident)
    if keep is None:
        # Never two live overlays on one upper (kernel overlayfs.rst): old one goes first.
        _unmount(run, Change(Action.UNMOUNT, old or e, c.reason, before=c.before, live=live), aside_done=bool(moved))
        if moved:
            upper_policy.record(run, e, moved, old_gone=True)
        return _mount(run, c)
    new = build(run, e)
    state = {"old_on_top": True}
    # MOVE_MOUNT_BENEATH: lookups never see it empty. It slides under the old mount checked at the target.
    ident = run.attach(new, e.target, True, live.ident)

    def undo_swap():
        if state["old_on_top"]:
            run.system.umount(e.target, True, live.ident)  # old top off; its clone `keep` still holds it
        old_ident = run.attach(keep, e.target, True, ident, role="old")
        run.system.umount(e.target, _may_carry(e), ident)  # the new mount, now on top of the restored clone
        _private_again(run, live, old_ident)

    run.push("swap %s back" % e.target, undo_swap)
    if moved:
        # Try a plain unmount first: whether anything still used the old overlay is worth telling.
        old_gone = _umount_unless_busy(run, e.target, live.ident)
        upper_policy.record(run, e, moved, old_gone)
    else:
        # Processes inside the old mount keep their view: detach it lazily.
        run.system.umount(e.target, True, live.ident)
    state["old_on_top"] = False
    if e.propagation:
        run.system.setattr(e.target, None, e.propagation, ident)
    return True


def _umount_unless_busy(run, target, expect):
    """Return True after a plain unmount of the top at `target` (`expect`), False after a lazy one (it was busy)."""
    try:
        run.system.umount(target, False, expect)
        return True
    except SysError as exc:
        if exc.errno != errno.EBUSY:
            raise
    run.system.umount(target, True, expect)
    return False


def _link(run, c):
    e = c.entry
    run.system.symlink(e.source, e.target)
    run.push("remove link %s" % e.target, lambda: run.system.unlink(e.target))
    return True


def _relink(run, c):
    e = c.entry
    fact = run.system.lstat(e.target)
    if fact.kind == "missing":
        return _link(run, c)
    tmp = _tmp_name(e.target)
    _clear_stale_link(run, tmp)
    run.system.symlink(e.source, tmp)
    run.push("remove temporary link %s" % tmp, lambda: _unlink_if_present(run, tmp))
    # rename(2) over the old link: readers see the old or the new link, never none.
    run.system.rename(tmp, e.target)
    old = fact.link

    def undo():
        t2 = _tmp_name(e.target)
        run.system.symlink(old, t2)
        run.system.rename(t2, e.target)

    run.push("restore link %s -> %s" % (e.target, old), undo)
    return True


def _unlink(run, c):
    e = c.entry
    fact = run.system.lstat(e.target)
    if fact.kind != "symlink":
        return False
    view = _writing(run.system.unlink, e.target)
    old = fact.link
    run.push("restore link %s" % e.target, lambda: run.system.symlink(old, e.target, view))
    return True


def _unlink_if_present(run, path):
    if run.system.lstat(path).kind != "missing":
        run.system.unlink(path)


def _clear_stale_link(run, tmp):
    """Remove a temporary link left by a run that died, or whose undo failed, before this one."""
    fact = run.system.lstat(tmp)
    if fact.kind != "symlink":
        return  # missing; anything else makes symlink(2) fail with EEXIST, as it should
    run.system.unlink(tmp)
    run.push("restore temporary link %s" % tmp, lambda: run.system.symlink(fact.link, tmp))


def _tmp_name(target):
    # One fixed name per target, not per process: a leftover from a killed run
    # is then recognised (and cleared) by the next run instead of piling up.
    parent = os.path.dirname(target) or "/"
    return paths.join(parent, ".%s.livemount-tmp" % os.path.basename(target))


def _keep(run, c):
    return False


def _forget(run, c):
    return False  # the state drops the record (state_after.next_state); no system call


_HANDLERS = {
    Action.MKDIR: _mkdir,
    Action.RMDIR: _rmdir,
    Action.MOUNT: _mount,
    Action.UNMOUNT: _unmount,
    Action.REMOUNT: _remount,
    Action.REPLACE: _replace,
    Action.LINK: _link,
    Action.UNLINK: _unlink,
    Action.KEEP: _keep,
    Action.FORGET: _forget,
    Action.MIMIC: mimic.exec_mimic,
}
