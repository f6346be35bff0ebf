"""What a plan was computed from, so that exactly that plan is applied later, or refused with what changed.

A plan is a pure function of (state, profile, world) (plan.py). Its
fingerprint records those inputs as the planner saw them: the profile's
canonical entries, what the state owns, every live mount the plan depends on
(the stacks at and below each target, the mount holding every observed
path), what lstat saw at each observed path, and the overlay directories.
Applying a plan that was shown (apply after its confirmation, destroy, a
saved plan file) observes again under the lock and goes on only when the
fingerprint is the same (engine.py); otherwise it refuses, and
`differences` says what changed since, one sentence per change.

The fingerprint is plain JSON data (a saved plan file carries it): readable
lines rather than hashes where a person may need to read what changed.
"""

import dataclasses
import json
from typing import Optional, Tuple

from .sha import sha256
from .records import record


@record
class Expected:
    """The plan a caller showed and wants applied: its fingerprint and its changes.

    `changes` (Change objects) when the plan was made in this process: the
    executor runs exactly those. A saved plan file has `change_dicts`
    instead (Change.to_dict of each): the plan is made again from the same
    inputs and must come out the same.
    """

    fingerprint: Optional[dict]  # None: an interrupted apply is recovered first; the steps alone are compared
    changes: Optional[Tuple] = None
    change_dicts: Optional[Tuple] = None


def take(state, profile, world, profile_doc, empty=None):
    """Return the fingerprint (a JSON-ready dict) of planning `profile` (its canonical dict) over state and world.

    `empty(path)` tells whether a directory is empty, for the facts observed
    without it (Sys.facts): read now, as the fingerprint is taken.
    """
    targets = {o.entry.target for o in state.owned} | {e.target for e in profile.entries}
    looked_at = set(world.facts) | set(world.realpaths.values()) | targets
    mounts = _relevant_mounts(world.table, targets, looked_at)
    return {
        "namespace": world.namespace,
        "profile": _sha(profile_doc),
        "state": {"sha256": _sha([_owned_doc(o) for o in state.owned] + [list(state.created)]),
                  "applied_at": state.applied_at},
        "mounts": sorted(_mount_line(m) for m in mounts),
        "paths": {p: _fact_text(_with_empty(world.fact(p), p, empty)) for p in sorted(world.facts)},
        "realpaths": {p: world.realpaths[p] for p in sorted(world.realpaths)},
        "overlay": _overlay_lines(world.overlay),
        "listings": {p: list(world.listings[p]) for p in sorted(world.listings)},
    }


def differences(old, new):
    """Return one sentence per way fingerprint `new` differs from `old` ([] when they are the same)."""
    out = []
    if old.get("namespace") != new.get("namespace"):
        out.append("it was made for mount namespace %s, this is %s" % (old.get("namespace"), new.get("namespace")))
        return out
    if old.get("profile") != new.get("profile"):
        out.append("the profile is not the one the plan was made from")
    if old.get("state") != new.get("state"):
        when = (new.get("state") or {}).get("applied_at")
        out.append("the profile's state changed (%s)" % ("applied again at %s" % when if when else "removed"))
    out += _mount_changes(old.get("mounts") or [], new.get("mounts") or [])
    for key, what in (("paths", "path"), ("realpaths", "path"), ("overlay", "overlay directory"),
                      ("listings", "directory listing")):
        out += _map_changes(what, old.get(key) or {}, new.get(key) or {})
    return out


def _relevant_mounts(table, targets, looked_at):
    """Return the mounts a plan over `targets` depends on: stacks at and below them, and holders of looked-at paths."""
    out = {}
    for t in targets:
        for m in table.stack(t) + list(table.submounts(t)):
            out[m.mount_id] = m
    for p in looked_at:
        if not p.startswith("/"):
            continue  # `host:` paths (observe.HOST) live in the caller's namespace, not in this table
        m = table.visible(p)
        if m is not None:
            out[m.mount_id] = m
    return out.values()


def _mount_line(m):
    source = m.source + ("[%s]" % m.root if m.root != "/" else "")
    options = ",".join(sorted(m.flags) or ["rw"])
    fs = ",".join(k if v is None else "%s=%s" % (k, v) for k, v in m.fs_options)
    layers = " ".join("%s=%s" % (k, ":".join(v) if isinstance(v, tuple) else v)
                      for k, v in (("lower", m.lower), ("data", m.data), ("upper", m.upper), ("work", m.work)) if v)
    words = [m.mount_point, m.fstype, source, options] + [w for w in (fs, layers) if w]
    return "%s %s (mount %d on %d, %s)" % (" ".join(words), m.propagation, m.mount_id, m.parent_id, m.devstr)


def _mount_changes(old, new):
    """Return sentences for mount lines only in `old` (gone) or only in `new` (appeared), paired by mount point."""
    old_set, new_set = set(old), set(new)
    gone = [line for line in old if line not in new_set]
    came = [line for line in new if line not in old_set]
    out = []
    for line in gone:
        point = line.split(" ", 1)[0]
        after = [c for c in came if c.split(" ", 1)[0] == point]
        if after:
            came.remove(after[0])
            out.append("the mount on %s changed: was %s, now %s"
                       % (point, line[len(point) + 1:], after[0][len(point) + 1:]))
        else:
            out.append("a mount went away: %s" % line)
    out += ["a mount appeared: %s" % line for line in came]
    return out


def _map_changes(what, old, new):
    # A path looked at only once is no evidence of a change: which paths are looked at follows from the profile
    # and the state, whose changes are reported on their own.
    out = []
    for p in sorted(set(old) & set(new)):
        if old[p] != new[p]:
            out.append("%s %s changed: was %s, now %s" % (what, p, _show(old.get(p)), _show(new.get(p))))
    return out


def _show(value):
    return value if isinstance(value, str) else json.dumps(value)


def _with_empty(fact, path, empty):
    """Return `fact` with `empty` as empty(path) says when it is a directory observed without it."""
    if fact.kind != "dir" or fact.empty is not None or empty is None:
        return fact
    return dataclasses.replace(fact, empty=empty(path))


def _fact_text(f):
    words = [f.kind]
    if f.link is not None:
        words.append("-> " + f.link)
    if f.mode is not None:
        words.append("%04o" % (f.mode & 0o7777))
    if f.uid is not None:
        words.append("%s:%s" % (f.uid, f.gid))
    if f.dev is not None:
        words.append("dev %d:%d" % tuple(f.dev))
    if f.empty is not None:
        words.append("empty" if f.empty else "not empty")
    return " ".join(words)


def _overlay_lines(observed):
    if observed is None:
        return {}
    out = {}
    for p in sorted(observed.dirs):
        d = observed.dirs[p]
        out[p] = "%s in mount %s%s%s" % (d.kind, d.mount_id, " holding " + ",".join(d.names) if d.names else "",
                                         " (%s)" % _sha([repr(d.origin), repr(d.index_upper), repr(d.handle),
                                                         d.volatile])[:12])
    if observed.leaving:
        out["(leaving)"] = ",".join(sorted(observed.leaving))
    return out


def _owned_doc(o):
    from .profile.forms import entry_to_dict

    return [entry_to_dict(o.entry), list(o.created), list(o.dev or ()), [list(kv) for kv in o.fs_options or ()],
            o.synthetic_for]


def _sha(doc):
    return sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=repr).encode()).hexdigest()
