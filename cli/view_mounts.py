"""The live mount table as findmnt users read it (show), and each profile's health (status).

`show` has findmnt's columns and forms: a table (the default), `--tree`,
`--list` (one line per mount, never wrapped: for grep), `--raw` (single
spaces, blanks escaped as \\x20) and `-o/--output` to choose the columns.
Options include the filesystem's, sizes as people write them (`size=32m`).
"""

from . import describe
from .table import Column, Table, wrap

HEALTH_STYLE = {"ok": "green", "drifted": "yellow", "missing": "red", "foreign on top": "bold red",
                "not applied": "red"}


def _source(m):
    return m["source"] + ("[%s]" % m["root"] if m["root"] != "/" else "")


def _layers(m):
    return ["%s=%s" % (k, ":".join(v) if isinstance(v, list) else v)
            for k, v in (("lowerdir", m["lower"]), ("datadir", m["data"]), ("upperdir", m["upper"]),
                         ("workdir", m["work"])) if v]


# name -> (value of a mount dict, style); OPTIONS is the per-mount flags then the filesystem's, like findmnt's.
SHOW_COLUMNS = {
    "TARGET": (lambda m: m["target"], ""),
    "SOURCE": (_source, ""),
    "FSTYPE": (lambda m: m["fstype"], ""),
    "OPTIONS": (lambda m: ",".join(m["mount_options"] + describe.fs_option_words(m["fs_options"].items())), ""),
    "VFS-OPTIONS": (lambda m: ",".join(m["mount_options"]), ""),
    "FS-OPTIONS": (lambda m: ",".join(describe.fs_option_words(m["fs_options"].items())), ""),
    "PROPAGATION": (lambda m: m["propagation"], "dim"),
    "OWNER": (lambda m: m["owner"] or "", "bold cyan"),
    "ID": (lambda m: str(m["mount_id"]), ""),
    "PARENT": (lambda m: str(m["parent_id"]), ""),
    "MAJ:MIN": (lambda m: m["device"], ""),
    "ROOT": (lambda m: m["root"], ""),
}
DEFAULT_COLUMNS = ["TARGET", "SOURCE", "FSTYPE", "OPTIONS", "OWNER"]  # findmnt's, and who owns it
_GIVE = {"TARGET": 0, "OPTIONS": 3, "VFS-OPTIONS": 3, "FS-OPTIONS": 3, "SOURCE": 2}  # who narrows first


def parse_columns(text):
    """Return the column names `-o` asks for (`target,source` -> [TARGET, SOURCE]); ValueError for unknown ones."""
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SHOW_COLUMNS]
    if bad or not names:
        raise ValueError("unknown column%s %s (known: %s)" % ("s" if len(bad) > 1 else "", ", ".join(bad) or "''",
                                                             ", ".join(SHOW_COLUMNS)))
    return names


def mount_lines(rows, short, width, columns=None, form="table", headings=True, verbose=False):
    """Return the lines of `show`: form is table, tree, list (never wrapped) or raw; -v adds PROPAGATION."""
    if columns is None:
        columns = [c for c in DEFAULT_COLUMNS if c != "OWNER" or any(m["owner"] for m in rows)]
        if verbose:
            columns.insert(4, "PROPAGATION")
    if form == "raw":
        return _raw(rows, columns, headings)
    t = Table([Column(c, keep=c == "TARGET", wrap=form != "list", label=c.lower(), give=_GIVE.get(c, 1))
               for c in columns], boxed=False)
    parents = {m["parent_id"] for m in rows if m["parent_id"] != m["mount_id"]}
    for guide, m, layer in describe.mount_lines(rows, form == "tree"):
        # Below a wrapped target the tree goes on: the siblings' line, and one down to the first child.
        cont = guide.replace("├─", "│ ").replace("└─", "  ") + ("│ " if m["mount_id"] in parents else "  ")
        if layer is not None:
            if form != "list" and "TARGET" in columns:
                t.add_full([(short(layer[1]), "")], lead=[(guide, "dim"), (layer[0] + " ", "cyan")],
                           cont=[(guide + " " * (len(layer[0]) + 1), "dim")])
            continue
        cells = []
        for c in columns:
            value, style = SHOW_COLUMNS[c]
            text = short(value(m))
            if c == "TARGET":
                cell = [(guide, "dim"), (text, "")] + ([(" (covered)", "dim")] if not m["visible"] else [])
            elif c == "SOURCE":
                cell = [(short(m["source"]), "nobreak")] + ([(short("[%s]" % m["root"]), "")]
                                                           if m["root"] != "/" else [])
            elif c == "OPTIONS" and form == "list" and m["fstype"] == "overlay":
                cell = [(",".join([text] + [short(x) for x in _layers(m)]), style)]
            else:
                cell = [(text, style)]
            cells.append(cell)
        t.add(*cells, cont=[(cont, "dim")] if form == "tree" else None)
    lines = t.render(10 ** 6 if form == "list" else width)
    return lines if headings else lines[1:]


def _raw(rows, columns, headings):
    out = [[(" ".join(columns), "")]] if headings else []
    for _, m, layer in describe.mount_lines(rows, False):
        if layer is None:
            values = []
            for c in columns:
                text = SHOW_COLUMNS[c][0](m)
                if c == "OPTIONS" and m["fstype"] == "overlay":
                    text = ",".join([text] + _layers(m))
                values.append(_raw_escape(text))
            out.append([(" ".join(values), "")])
    return out


def _raw_escape(text):
    """Return `text` with backslashes, blanks and control characters as \\xNN (findmnt --raw's escaping)."""
    return "".join("\\x%02x" % ord(ch) if ch == "\\" or ch.isspace() or ord(ch) < 32 else ch for ch in text)


def status_lines(rows, short, width):
    """Return the lines of `status`: per profile a heading, its entries' health, counts, what it keeps."""
    out = []
    if not rows:
        return [[("No profile has state in this namespace.", "")]]
    for r in rows:
        if r["profile"].startswith("overlay-reset@") and not r["entries"]:
            continue  # not a profile: the journal of `overlay reset --force` (output.Output.status warns)
        head = [("%s in %s" % (r["profile"], r["namespace"]), "bold"),
                (", applied %s" % (r["applied_at"] or "never"), "")]
        if r["applied_at"]:
            head.append((" (%s)" % describe.age(r["applied_at"]), "dim"))
        out += wrap(head, width)
        if r.get("enabled") and not r["entries"] and not r["applied_at"]:
            out += durable_lines(r, width)  # enabled, never applied here: no table of nothing
            continue
        if r["entries"]:
            t = Table([Column("target", keep=True), Column("type", wrap=False), Column("health", wrap=False),
                       Column("detail")])
            for e in r["entries"]:
                h = e["health"]
                t.add(short(e["target"]), e["type"], [(h, HEALTH_STYLE.get(h, "red"))], short(e["detail"]))
            out += t.render(width)
        counts = {}
        for e in r["entries"]:
            counts[e["health"]] = counts.get(e["health"], 0) + 1
        words = ", ".join("%d %s" % (counts[h], h) for h in ("ok", "drifted", "missing", "foreign on top",
                                                               "not applied")
                          if counts.get(h)) or "owns nothing"
        out += wrap([("%s: %s" % (r["profile"], words), "")], width)
        out += durable_lines(r, width)
        for path in r.get("leftovers") or ():
            out += wrap([("%s: kept %s (made by it, still in use; removed once unused)" % (r["profile"], short(path)),
                          "")], width, cont=[("  ", "")])
        for a in r.get("asides") or ():
            out += wrap([("%s: " % r["profile"], ""), ("%s kept aside" % short(a["path"]), "yellow"),
                         (" (%s, old %s of %s; `livemount overlay prune` removes it)" % (
                             describe.human_bytes(a["bytes"]) if a["bytes"] is not None else "size unknown",
                             a["role"], short(a["target"])), "")], width, cont=[("  ", "")])
    return out


def durable_lines(r, width):
    """Return what status knows of an enabled profile: does the enabled copy match the live table, how did boot go."""
    name, copy, boot = r["profile"], r.get("enabled_copy"), r.get("boot")
    out = []
    if copy is not None and copy.get("error"):
        out += wrap([("%s: enabled, but %s" % (name, copy["error"]), "red")], width, cont=[("  ", "")])
    elif copy is not None and copy["matches_live"]:
        out += wrap([("%s: enabled; the enabled copy is what is live" % name, "")], width)
    elif copy is not None:
        pending = ["%s %s" % (c["action"], c["target"]) for c in copy["pending"]]
        n = len(copy["conflicts"])
        what = ("%d conflict%s stop%s it now" % (n, "" if n == 1 else "s", "s" if n == 1 else "") if n else
                "%d change%s pending (%s)" % (len(pending), "" if len(pending) == 1 else "s",
                                              ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")))
        out += wrap([("%s: enabled; the enabled copy differs from the live table: %s; `livemount systemd apply %s` "
                      "applies it now, the next boot does too" % (name, what, name), "yellow")], width,
                    cont=[("  ", "")])
    if boot is not None and boot["result"] == "applied":
        out += wrap([("%s: applied at boot %s (%s)" % (name, boot["at"], describe.age(boot["at"])), "")], width)
    elif boot is not None:
        out += wrap([("%s: failed at boot %s: %s" % (name, boot["at"], boot["error"] or ""), "red")], width,
                    cont=[("  ", "")])
    return out


def history_lines(name, namespace, records, width):
    """Return the lines of `history`: one row per record, newest last, the current one marked."""
    t = Table([Column("#", wrap=False), Column("applied"), Column("by"), Column("steps", wrap=False),
               Column("entries", wrap=False), Column("sha256", wrap=False)],
              title=[("History of %s in %s" % (name, namespace), "bold")])
    for r in records:
        current = r is records[-1]
        note = " (--target %s)" % ", ".join(r.targets) if r.targets else ""
        t.add([(str(r.number), "bold" if current else "")],
              [(r.applied_at, ""), (" (%s)" % describe.age(r.applied_at), "dim")], r.by + note, str(r.changes),
              str(len(r.profile.get("mounts") or ())), [(r.sha256[:12], "dim")])
    out = t.render(width)
    out += wrap([("%d record%s; the last is what is applied now. %s" % (
        len(records), "" if len(records) == 1 else "s", "`livemount rollback %s` goes back to record %d" % (
            name, records[-2].number) if len(records) > 1 else "There is no earlier one to roll back to."), "")],
        width)
    return out
