"""All terminal rendering: the only file that imports rich.

Data (plans, tables, JSON) goes to stdout; messages, progress and errors to
stderr. Colour follows --color/--no-color, then NO_COLOR, then the terminal.
"""

import difflib
import json
import os
import sys

_STYLE = {
    "conflict": "bold red",
    "mount": "green",
    "link": "green",
    "mkdir": "green",
    "remount": "yellow",
    "replace": "magenta",
    "unmount": "red",
    "unlink": "red",
    "rmdir": "red",
    "keep": "dim",
}
_ORDER = ["conflict", "mount", "link", "mkdir", "remount", "replace", "unmount", "unlink", "rmdir", "keep"]


class Output:
    """Renders reports for one command invocation."""

    def __init__(self, args):
        from rich.console import Console

        color = getattr(args, "color", None)
        no_color = color is False or (color is None and bool(os.environ.get("NO_COLOR")))
        kw = {"no_color": no_color, "highlight": False}
        if color:
            kw["force_terminal"] = True
        self.quiet = getattr(args, "quiet", False)
        self.out = Console(file=sys.stdout, **kw)
        self.err = Console(file=sys.stderr, stderr=True, **kw)

    # ---- data (stdout) --------------------------------------------------------
    def json(self, doc):
        """Print `doc` as JSON on stdout (stable keys, no colour)."""
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def plan(self, report, title=None, show_keep=True):
        """Print the plan as a table grouped by action, conflicts first."""
        from rich.table import Table

        rows = [c for c in report.changes if show_keep or c.action.value != "keep"]
        rows.sort(key=lambda c: _ORDER.index(c.action.value))
        t = Table(title=title or "Plan for %s in %s" % (report.profile, report.namespace), title_justify="left",
                  show_lines=False, expand=False)
        t.add_column("action", no_wrap=True)
        t.add_column("target", overflow="fold")
        t.add_column("type", no_wrap=True)
        t.add_column("reason", overflow="fold")
        for c in rows:
            a = c.action.value
            kind = "dir" if a in ("mkdir", "rmdir") or c.entry is None else c.entry.type
            if a == "mkdir" and c.file_point:
                kind = "file"
            t.add_row("[%s]%s[/]" % (_STYLE[a], a), _esc(c.target), kind,
                      _esc(c.reason))
        if rows:
            self.out.print(t)
        self.out.print(summary_line(report))

    def diff(self, report):
        """Print a unified diff of the owned table, fstab-like lines, before -> after."""
        d = report.diff or {}
        lines = difflib.unified_diff(d.get("before", "").splitlines(True), d.get("after", "").splitlines(True),
                                     d.get("before_header", "before"), d.get("after_header", "after"))
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" \
                if line.startswith("@") else ""
            self.out.print(_esc(line.rstrip("\n")), style=style or None)

    def status(self, rows):
        """Print one table per profile with each owned entry's health."""
        from rich.table import Table

        if not rows:
            self.out.print("no profile has state in this namespace")
        for r in rows:
            title = "%s in %s, applied %s" % (r["profile"], r["namespace"], r["applied_at"] or "never")
            if r["interrupted"]:
                title += " [bold red](interrupted apply: the next run recovers it)[/]"
            t = Table(title=title, title_justify="left")
            for col in ("target", "type", "health", "detail"):
                t.add_column(col, overflow="fold")
            for e in r["entries"]:
                h = e["health"]
                style = "green" if h == "ok" else "red"
                t.add_row(_esc(e["target"]), e["type"], "[%s]%s[/]" % (style, h), _esc(e["detail"]))
            self.out.print(t)

    def text(self, s):
        """Print plain text on stdout."""
        sys.stdout.write(s)
        sys.stdout.flush()

    # ---- messages (stderr) ------------------------------------------------------
    def info(self, msg):
        """Print a message on stderr unless --quiet."""
        if not self.quiet:
            self.err.print(_esc(msg))

    def heading(self, msg):
        """Print a section heading on stdout (demo narration)."""
        self.out.rule("[bold]%s" % _esc(msg), align="left")

    def progress(self, k, n, change):
        """Print one progress line for step k of n."""
        if not self.quiet:
            self.err.print("[dim][%d/%d][/] %s %s" % (k, n, change.action.value, _esc(change.target)))

    def error(self, msg):
        """Print an error message on stderr."""
        self.err.print("[bold red]error:[/] " + _esc(msg))

    def failure(self, exc):
        """Print a LivemountError with everything it carries, and a hint."""
        name = type(exc).__name__
        if name == "ProfileError" and len(exc.problems) > 1:
            self.error("invalid profile: %d problems" % len(exc.problems))
            for p in exc.problems:
                self.err.print("  - " + _esc(p[3]))
        else:
            self.error(str(exc))
        if name == "PlanError":
            for c in exc.conflicts[1:]:
                self.err.print("  - " + _esc(c.reason))
            self.err.print("hint: livemount never touches a mount it does not own; unmount it by hand or "
                           "change the profile")
        elif name == "UndoError":
            self.err.print("[bold red]left over:[/]")
            for item in exc.left:
                self.err.print("  - " + _esc(item))
            self.err.print("hint: run the same command again: it recovers from the journal")
        elif name == "ProfileError":
            self.err.print("hint: `livemount validate FILE` checks a profile without touching anything")

    def overlay_changes(self, target, items):
        """Print an overlay's changes as a table in path order, folded directories with their count."""
        from rich.table import Table

        styles = {"added": "green", "renamed": "cyan", "deleted": "red", "modified": "yellow",
                  "metacopy": "yellow", "opaque": "magenta"}
        counts = {}
        for it in items:
            inside = "added" if it["kind"] == "renamed" else it["kind"]  # what a folded directory holds
            counts[it["kind"]] = counts.get(it["kind"], 0) + 1
            counts[inside] = counts.get(inside, 0) + it.get("count", 0)
        if not items:
            self.out.print("No changes in overlay %s." % _esc(target))
            return
        t = Table(title="Changes in overlay %s" % _esc(target), title_justify="left")
        t.add_column("kind", no_wrap=True)
        t.add_column("path", overflow="fold")
        t.add_column("type", no_wrap=True)
        t.add_column("detail", overflow="fold")
        for it in items:
            detail = it["detail"]
            if it.get("count"):
                detail = (detail + "; " if detail else "") + "and %d inside" % it["count"]
            style = styles.get(it["kind"], "")
            # File names are bytes: show undecodable ones as \xNN rather than fail to print.
            path = os.fsencode(it["path"]).decode("utf-8", "backslashreplace")
            t.add_row("[%s]%s[/]" % (style, it["kind"]), _esc(path), it["type"], _esc(detail))
        self.out.print(t)
        order = ["added", "renamed", "modified", "metacopy", "opaque", "deleted"]
        self.out.print(", ".join("%d %s" % (counts[k], k) for k in order if counts.get(k)))


def summary_line(report):
    """Return `N to mount, N to remount, ...` for a report."""
    counts = {}
    for c in report.changes:
        counts[c.action.value] = counts.get(c.action.value, 0) + 1
    words = {"mount": "to mount", "link": "to link", "mkdir": "to create", "remount": "to remount",
             "replace": "to replace", "unmount": "to unmount", "unlink": "to unlink", "rmdir": "to remove",
             "keep": "unchanged", "conflict": "conflicts"}
    parts = ["%d %s" % (counts[a], words[a]) for a in _ORDER if counts.get(a)]
    head = "Changes pending: " if report.changed else "No changes. "
    return head + (", ".join(parts) if parts else "nothing to do")


def _esc(s):
    from rich.markup import escape

    return escape(str(s))
