"""What the CLI says about plans, applies and mounts, as plain data: no styles, no I/O.

the view_*.py modules turn these into tables and colours; keeping the words here makes
them the same in every rendering (table, tree, demo) and testable without a
terminal. Tones: '+' added, '-' removed, '=' unchanged, '!' in the way.
"""

import os
import re

# Conflicts first (they stop the plan), then the way up, the changes, the way down, what stays.
ORDER = ["conflict", "mkdir", "mount", "link", "remount", "replace", "unmount", "unlink", "rmdir", "forget", "keep"]


def counts(changes):
    """Return {action: number of changes} of a plan."""
    out = {}
    for c in changes:
        out[c.action.value] = out.get(c.action.value, 0) + 1
    return out


def count_words(counts):
    """Return `1 to create, 2 to mount, 3 unchanged`: a plan's counts in plan order ('' when empty)."""
    words = {"mount": "to mount", "link": "to link", "mkdir": "to create", "remount": "to remount",
             "replace": "to replace", "unmount": "to unmount", "unlink": "to unlink", "rmdir": "to remove",
             "forget": "to forget (already gone)",
             "keep": "unchanged", "mimic": "to mimic"}
    return ", ".join("%d %s" % (counts[a], words[a]) for a in ORDER + ["mimic"] if counts.get(a) and a in words)


def summary_line(report):
    """Return `Changes pending: N to mount, N to remount, ...` (`No changes. N unchanged`, `Refused: ...`)."""
    n = counts(report.changes)
    parts = count_words(n)
    if n.get("conflict"):
        return "Refused: %s stop%s the plan (otherwise %s)" % (
            plural(n["conflict"], "conflict"), "s" if n["conflict"] == 1 else "", parts or "nothing to do")
    head = "Changes pending: " if report.changed else "No changes. "
    return head + (parts or "nothing to do")


def plural(n, word, many=None):
    """Return `1 change`, `2 changes` (`many`: the plural when it is not word + s)."""
    return "%d %s" % (n, word if n == 1 else many or word + "s")


def apply_counts(report):
    """Return {done, kept, skipped, failed, rolled back} counts of an apply's report."""
    steps = [c for c in report.changes if c.action.value not in ("keep", "conflict")]
    return {"done": len(steps) - len(report.failed) - len(report.skipped),
            "kept": len([c for c in report.changes if c.action.value == "keep"]),
            "skipped": len(report.skipped), "failed": len(report.failed),
            "rolled back": len(report.rolled_back)}


def age(iso, now=None):
    """Return how long ago an ISO 8601 time was: `just now`, `5 minutes ago`, `3 days ago`."""
    import datetime

    try:
        then = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return "unknown time"
    now = now or datetime.datetime.now(then.tzinfo)
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now" if seconds >= -60 else "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return "%d %s%s ago" % (n, unit, "" if n == 1 else "s")
    return "just now"


def reason_kind(change):
    """Return (kind, detail): why a change is planned, as one of a few words plus what is left to say.

    Kinds: conflict, drift, new entry, removed entry, profile changed, adopted,
    parent rebuilt, mount point, parent, cleanup, up to date.
    """
    a, r = change.action.value, change.reason
    if a == "conflict":
        # "cannot manage /t: a mount ... is on top": the target is in its own column.
        prefix = r.split(": ", 1)
        return "conflict", prefix[1] if len(prefix) == 2 and prefix[0].endswith(" " + change.target) else r
    if change.adopt:
        return "adopted", r.replace(": adopted", "")
    if a == "rmdir" and r.startswith("created inside "):
        # plan._rmdirs: "created inside /srv/app, which is unmounted" (a destroy) or "... which is replaced".
        where, _, how = r[len("created inside "):].rpartition(", which is ")
        return ("cleanup", "") if how == "unmounted" else ("parent rebuilt", where)
    if "is rebuilt" in r:
        return "parent rebuilt", r.split(" is rebuilt")[0].replace("parent ", "")
    if "drift" in r:
        detail = r.replace("changed by hand (drift): ", "").replace(" (drift)", "")
        return "drift", "" if a == "remount" and change_parts(change) else detail
    if r == "new entry":
        return "new entry", ""
    if r.startswith("removed from profile"):
        return "removed entry", r[len("removed from profile; "):]
    if a == "mkdir":
        for what in ("mount point", "parent"):
            if r == "create missing " + what:
                return what, ""
        return "mount point", r
    if a == "rmdir":
        return "cleanup", "" if r == "created by livemount, no longer needed" else r
    if a == "keep":
        return "up to date", "" if r == "up to date" else r
    if a == "remount" and change_parts(change):
        return "profile changed", ""
    if a == "replace" and re.match(r"(type|source|link) \S+ -> ", r):
        return "profile changed", ""  # the change cell shows the same before -> after
    if a == "replace":
        # "overlay layers changed (a remount silently ignores new layers); upper_policy fresh: ..."
        first = re.sub(r" \([^)]*\)$", "", r.split("; ")[0])
        # The change cell of an overlay replace lists the layers that come and go.
        return "profile changed", "" if first == "overlay layers changed" else first
    return "profile changed", r


def reason_note(change):
    """Return what a change's reason says beyond its kind and detail ('' when nothing): an overlay replace's how.

    The table keeps a reason short; a note is printed below it.
    """
    if change.action.value != "replace" or "; " not in change.reason:
        return ""
    first, rest = change.reason.split("; ", 1)
    m = re.search(r" \(([^)]*)\)$", first)
    return (m.group(1) + "; " if m else "") + rest


def describe(entry):
    """Return one short line saying what `entry` mounts: `bind /src ro,nosuid`, `-> /dest`, `tmpfs size=1m`."""
    if entry.type == "symlink":
        return "-> %s" % entry.source
    words = list(entry.options) or [w for w in _option_words(entry) if w != "rw"]
    if entry.type == "bind":
        head = ("rbind " if entry.recursive else "bind ") + entry.source
    elif entry.type == "overlay":
        head = "overlay " + ":".join(entry.lower) + (" upper " + entry.upper if entry.upper else "")
    else:
        head = entry.type + (" " + entry.source if entry.source else "")
    return head + (" " + ",".join(words) if words else "")


def change_parts(c):
    """Return [(text, tone)] for the change cell; tone '+' added, '-' removed, '=' unchanged, '!' in the way."""
    a = c.action.value
    old = c.before.entry if c.before is not None else None
    if a in ("mount", "link"):
        return [(describe(c.entry), "+")]
    if a == "mkdir":
        return [("file" if c.file_point else "directory", "+")]
    if a == "rmdir":
        return [("directory", "-")]
    if a in ("unmount", "unlink"):
        return [(describe(old or c.entry), "-")]
    if a == "keep":
        return [(describe(c.entry), "=")]
    if a == "conflict":
        if c.live is not None:
            return [("%s %s is there" % (c.live.fstype, c.live.source), "!")]
        return []
    if a == "replace" and old is not None and old.type == c.entry.type == "symlink":
        return [("-> ", ""), (old.source, "-"), (" -> ", ""), (c.entry.source, "+")]
    if a == "replace" and old is not None and old.type == c.entry.type == "overlay" and old.source == c.entry.source:
        return _overlay_parts(old, c.entry)
    if a == "replace":
        return [(describe(old), "-"), (" -> ", ""), (describe(c.entry), "+")] if old else [(describe(c.entry), "+")]
    return _remount_parts(c, old)


def _overlay_parts(old, new):
    """Return what changes between two overlays, layer by layer: `lower +/l/hotfix`, `upper /u -> /u2`."""
    parts = []
    for name in ("lower", "data"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            added = [p for p in after if p not in before]
            gone = [p for p in before if p not in after]
            words = [("+" + p, "+") for p in added] + [("-" + p, "-") for p in gone]
            if not words:  # the same layers in another order
                words = [(":".join(before), "-"), (" -> ", ""), (":".join(after), "+")]
            parts.append([(name + " ", "")] + _spaced(words))
    for name in ("upper", "work"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            parts.append([(name + " ", ""), (before or "none", "-"), (" -> ", ""), (after or "none", "+")])
    if not parts:
        return [(describe(old), "-"), (" -> ", ""), (describe(new), "+")]
    out = []
    for k, p in enumerate(parts):
        out += ([("; ", "")] if k else []) + p
    return out


def _spaced(words):
    out = []
    for k, w in enumerate(words):
        out += ([(" ", "")] if k else []) + [w]
    return out


def _remount_parts(c, old):
    """Return the option words a remount adds (+) and removes (-), flags measured against the live mount."""
    have = set(c.live.flags) if c.live is not None else set(old.flags if old else ())
    want = set(c.entry.flags)
    parts = []
    if "ro" in want - have or "ro" in have - want:
        parts.append(("rw -> ro" if "ro" in want else "ro -> rw", "+" if "ro" in want else "-"))
    parts += [("+" + f, "+") for f in sorted(want - have - {"ro"})]
    parts += [("-" + f, "-") for f in sorted(have - want - {"ro"})]
    if old is not None and old.fs_options != c.entry.fs_options:
        before, after = dict(old.fs_options), dict(c.entry.fs_options)
        written = _written(old), _written(c.entry)
        for k in sorted(set(before) | set(after)):
            if before.get(k, "") != after.get(k, "") or (k in before) != (k in after):
                if k in before:
                    parts.append(("-" + written[0].get(k, kv(k, before[k])), "-"))
                if k in after:
                    parts.append(("+" + written[1].get(k, kv(k, after[k])), "+"))
    if c.entry.propagation and c.live is not None:
        live = (c.live.propagation or "private").split("+")[0]
        if live != c.entry.propagation:
            parts.append(("propagation %s -> %s" % (live, c.entry.propagation), "+"))
    out = []
    for i, p in enumerate(parts):
        out += ([(" ", "")] if i else []) + [p]
    return out


def _written(entry):
    """Return {option key: the option as the profile wrote it}."""
    return {w.split("=", 1)[0]: w for w in entry.options}


def kv(k, v):
    """Return `k` or `k=v` (v None means a flag-like option)."""
    return k if v is None else "%s=%s" % (k, v)


def _option_words(entry):
    words = ["ro" if "ro" in entry.flags else "rw"] + sorted(f for f in entry.flags if f != "ro")
    return words + [kv(k, v) for k, v in entry.fs_options]


def mount_lines(rows, tree):
    """Return [(guide, mount dict, layer)]: mounts in table order, or as a tree with findmnt-like guides.

    `layer` is (name, path) for the extra lines that spell out an overlay's
    layers below it (the mount dict is then the overlay's), else None.
    """
    ids = {m["mount_id"] for m in rows}
    kids = {}
    for m in rows:
        kids.setdefault(m["parent_id"] if tree and m["parent_id"] in ids and m["parent_id"] != m["mount_id"]
                        else None, []).append(m)
    out = []

    def walk(m, prefix, last, top):
        # No space after the branch, as in findmnt: the line then folds as one word, never at the guide.
        guide = "" if top else prefix + ("└─" if last else "├─")
        out.append((guide, m, None))
        inner = "" if top else prefix + ("  " if last else "│ ")
        children = kids.get(m["mount_id"], []) if tree else []
        for layer in overlay_layers(m):
            # The layers are details of this mount, not mounts: indented, with no branch of their own.
            out.append((inner + ("│ " if children else "  ") if tree else "  ", m, layer))
        for i, k in enumerate(children):
            walk(k, inner, i == len(children) - 1, False)

    for m in kids.get(None, []):
        walk(m, "", True, True)
    return out


def overlay_layers(m):
    """Return [(name, path)] of an overlay mount dict: lower layers top first, data layers, upper, work."""
    if m["fstype"] != "overlay":
        return []
    out = [("lower", p) for p in m["lower"]] + [("data", p) for p in m["data"]]
    return out + [(k, m[k]) for k in ("upper", "work") if m[k]]


def errno_text(number):
    """Return `EIO (Input/output error)` for an errno number, '' for None."""
    import errno as errno_mod

    if not number:
        return ""
    return "%s (%s)" % (errno_mod.errorcode.get(number, "errno %d" % number), os.strerror(number))


def busy_text(item):
    """Return one line about a process holding a busy mount: `pid 42 (bash): cwd /srv/app` (holders.py's dicts)."""
    if not isinstance(item, dict):
        return str(item)
    head = "pid %s" % item["pid"] if "pid" in item else ""
    name = item.get("comm") or item.get("command")
    if name:
        head += " (%s)" % name
    known = ("pid", "comm", "command", "how", "path")
    rest = " ".join(str(item[k]) for k in ("how", "path") if item.get(k))
    rest = ", ".join([rest] * bool(rest) + ["%s %s" % (k, item[k]) for k in sorted(item) if k not in known])
    return ": ".join(x for x in (head.strip(), rest) if x)


def size_text(value):
    """Return a byte count as people write it: `33554432` -> `32m`, `1536` -> `1536` (only exact multiples)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return value
    for unit, size in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d%s" % (n // size, unit)
    return str(n)


_SIZES = frozenset({"size"})  # filesystem options the model keeps in bytes (options.normalize_fs_options)


def fs_option_words(fs_options):
    """Return filesystem options as words, sizes as people write them: [`size=32m`, `mode=755`]."""
    return [kv(k, size_text(v) if k in _SIZES and v is not None else v) for k, v in fs_options]


def human_bytes(n):
    """Return a byte count the way du -h writes it: `0`, `512`, `4.0K`, `12M`, `3.4G`."""
    size = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            if not unit:
                return "%d" % size
            return ("%.1f%s" if size < 10 else "%.0f%s") % (size, unit)
        size /= 1024
