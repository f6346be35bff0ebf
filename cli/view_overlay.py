"""What a mounted overlay changed (overlay changes), as a table or a directory tree, and what a reset discarded."""

import os

from .table import Column, Table, wrap

KIND_STYLE = {"added": "green", "renamed": "cyan", "deleted": "red", "modified": "yellow", "metacopy": "yellow",
              "opaque": "magenta"}
ORDER = ["added", "renamed", "modified", "metacopy", "opaque", "deleted"]


def _name(path):
    """Return a file name (bytes in a str, surrogate-escaped) showable: undecodable bytes as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _detail(it):
    detail = it["detail"]
    if it.get("count"):
        detail = (detail + "; " if detail else "") + "and %d inside" % it["count"]
    return detail


def counts_line(items):
    """Return `2 added, 1 deleted`: the items' kinds counted, what folded directories hold included."""
    counts = {}
    for it in items:
        inside = "added" if it["kind"] == "renamed" else it["kind"]  # what a folded directory holds
        counts[it["kind"]] = counts.get(it["kind"], 0) + 1
        counts[inside] = counts.get(inside, 0) + it.get("count", 0)
    return [(", ".join("%d %s" % (counts[k], k) for k in ORDER if counts.get(k)), "")]


def changes_lines(target, items, width, title=None, tree=False):
    """Return the lines of an overlay's changes: a table in path order, or a directory tree, then the counts."""
    if not items:
        return [[("No changes in overlay %s." % target, "")]]
    head = [(title or "Changes in overlay %s" % target, "bold")]
    if tree:
        return [head] + _tree(items) + [counts_line(items)]
    t = Table([Column("kind", wrap=False), Column("path", keep=True), Column("type", wrap=False),
               Column("detail")], title=head, head=2)
    for it in items:
        t.add([(it["kind"], KIND_STYLE.get(it["kind"], ""))], _name(it["path"]), it["type"], _detail(it))
    return t.render(width) + [counts_line(items)]


def _tree(items):
    """Return tree lines of change items by directory; parents with no change of their own are dim."""
    nodes = {"": []}  # key -> child keys, in order
    label = {}
    for it in items:  # items come sorted with a directory right before its contents (overlay_changes)
        parts = [p for p in it["path"].split("/") if p]
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            if key in label:
                continue
            name = _name(parts[depth - 1])
            if depth < len(parts):
                label[key] = [(name + "/", "dim")]
            else:
                style = KIND_STYLE.get(it["kind"], "")
                detail = _detail(it)
                label[key] = [(name + ("/" if it["type"] == "dir" else ""), style), (" ", ""), (it["kind"], style)] \
                    + ([(" (%s)" % detail, "")] if detail else [])
            nodes.setdefault("/".join(parts[:depth - 1]), []).append(key)
            nodes.setdefault(key, [])
    out = []

    def walk(key, prefix):
        kids = nodes[key]
        for i, k in enumerate(kids):
            last = i == len(kids) - 1
            out.append([(prefix + ("└── " if last else "├── "), "dim")] + label[k])
            walk(k, prefix + ("    " if last else "│   "))

    walk("", "")
    return out


def reset_lines(report, items, width):
    """Return (data lines, message lines) of an overlay reset: what was (or would be) discarded, where things are."""
    target = report["target"]
    check = report["mode"] == "check"
    messages = [[(m, "")] for m in report.get("recovered") or ()]
    messages += [[("no change at %s in overlay %s: nothing to reset there" % (p, target), "")]
                 for p in report["unchanged_paths"]]
    if not report["discarded"]:
        return [[("Nothing to reset in overlay %s." % target, "")]], messages
    data = changes_lines(target, items, width, title="%s overlay %s" % ("Would discard from" if check else
                                                                       "Discarded from", target))
    for c in report["copied"]:
        how = "a whiteout hides" if c["how"] == "whiteout" else "a copy of the lower view replaces"
        messages.append([("%s: %s what the directories above would show" % (c["path"], how), "")])
    if check:
        messages.append([("Check mode: nothing was changed (overlay %s, upper %s)." % (target, report["upper"]), "")])
    elif report["removed_aside"]:
        messages.append([("Reset overlay %s: the old upper and work were deleted (--discard)." % target, "")])
    else:
        messages.append([("Reset overlay %s: the old upper is kept at %s, the old work at %s." % (
            target, report["upper_aside"], report["work_aside"]), "")])
    return data, messages


def prune_lines(report, short, width):
    """Return the lines of `overlay prune`: a table of the asides it removes (or would) and keeps, then the count."""
    from .describe import human_bytes

    rows = [(a, "remove" if report["mode"] == "apply" else "would remove", "") for a in report["removed"]]
    rows += [(a, "keep", a["why"]) for a in report["kept"]]
    if not rows:
        return [[("No old upper or work is kept aside in %s." % report["namespace"], "")]]
    kept = bool(report["kept"])
    t = Table([Column("action", wrap=False), Column("aside", keep=True), Column("size", wrap=False),
               Column("of overlay")] + ([Column("why kept", give=1)] if kept else []),
              title=[("Old uppers and works kept aside in %s" % report["namespace"], "bold")], head=2)
    for a, action, why in rows:
        size = human_bytes(a["bytes"]) if a["bytes"] is not None else "?"
        t.add(*[[(action, "red" if "remove" in action else "green")], short(a["path"]), size,
                "%s (%s)" % (short(a["target"]), a["role"])] + ([short(why)] if kept else []))
    total = human_bytes(report["bytes"])
    return t.render(width) + wrap([("%d to remove (%s), %d kept" % (len(report["removed"]), total,
                                                                    len(report["kept"])), "")], width)
