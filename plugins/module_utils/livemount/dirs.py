"""Directories livemount made, known by what they are (device and inode), not by their path.

A path names whatever directory is there now: the one livemount made, one
someone made again after it was removed, or (once the filesystem mounted
over it is gone) a copy livemount made earlier and a later mount hid. So
every directory livemount creates is recorded with its (major, minor,
inode) next to its path (State.created_ids), and:

* a created path whose directory is another one now is not removed: it is
  someone else's (`foreign`);
* an existing directory at a path to create that is one livemount made is
  its own again (`ours`): recorded, not left to leak;
* a directory that will not go (ENOTEMPTY) because what is left in it is
  only directories livemount made, hidden until a mount above went away,
  is emptied of those first (`own_tree`), deepest first.

States written before identities were recorded have none: their paths are
trusted as before.
"""

from . import paths

_MAX_DEPTH = 64  # a created tree is as deep as a profile's paths; a deeper one is not ours


def ours(run, path, fact):
    """Return True when `fact` (lstat of `path`) is a directory (or file) livemount made there."""
    ids = run.executor.created_ids.get(path)
    return bool(ids) and fact.identity is not None and fact.identity in ids


def foreign(run, path, fact):
    """Return True when livemount knows which directory it made at `path` and `fact` shows another one."""
    ids = run.executor.created_ids.get(path)
    return bool(ids) and fact.identity is not None and fact.identity not in ids


def made(run, path, undo=False):
    """Return None after noting which directory is at `path` now, as one livemount made (Outcome.made_ids).

    It goes to the journal too (a `made` record): when the run is killed, or
    its rollback fails, no state is saved, and by the time recovery looks
    that directory may be covered by a mount, which a later step of the same
    run made on it, or the same rollback put back on it; recovery would
    see that mount's root there, not the directory. The record of an undo
    (`undo`) is synced at once, since nothing durable may follow it; a
    step's rides on the next step's `begin`, which is synced before that
    step's system call.
    """
    fact = run.system.lstat(path)
    if fact.identity is not None:
        run.executor.outcome.made_ids.append((path, fact.identity))
        run.executor.created_ids.setdefault(path, set()).add(fact.identity)
        run.journal({"kind": "made", "path": path, "ident": list(fact.identity)}, durable=undo)


def own_tree(run, path, depth=0):
    """Return the directories below `path`, deepest first, when every one is livemount's own; None otherwise.

    Own means: a directory whose identity livemount recorded at that path.
    A file, a link, a mount point (its root is another filesystem's) or any
    directory made by someone else makes it None: nothing is removed then.
    """
    if depth > _MAX_DEPTH:
        return None
    out = []
    for name in run.system.listdir(path):
        child = paths.join(path, name)
        fact = run.system.lstat(child)
        if fact.kind != "dir" or not ours(run, child, fact):
            return None
        below = own_tree(run, child, depth + 1)
        if below is None:
            return None
        out.extend(below)
        out.append((child, fact))
    return out
