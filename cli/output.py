"""All terminal rendering: the only file that imports rich.

Data (plans, tables, JSON) goes to stdout; messages, progress and errors to
stderr. Colour follows --color/--no-color, then NO_COLOR, then the terminal.
Width follows the terminal, or COLUMNS when set (tests pin it).

What a row *says* (the before -> after cell, the kind of reason, the tree
guides) comes from describe.py, which has no rich in it.
"""

import contextlib
import difflib
import json
import os
import sys

from . import describe

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
    "forget": "dim",
    "keep": "dim",
}
_KIND_STYLE = {"conflict": "bold red", "drift": "yellow", "new entry": "green", "removed entry": "red",
               "profile changed": "magenta", "adopted": "cyan"}
_HEALTH_STYLE = {"ok": "green", "drifted": "yellow", "missing": "red", "foreign on top": "bold red",
                 "not applied": "red"}


class Output:
    """Renders reports for one command invocation (one Console for stdout, one for stderr)."""

    def __init__(self, args, relative_to=None):
        color = getattr(args, "color", None)
        no_color = color is False or (color is None and bool(os.environ.get("NO_COLOR")))
        # No colour means plain text: no bold or dim either (rich's no_color alone keeps them).
        self._kw = {"no_color": no_color, "highlight": False}
        if no_color:
            self._kw["color_system"] = None
        if color:
            self._kw["force_terminal"] = True
        self._consoles = {}
        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", 0)
        # The demo shows paths below its scratch root as if that root were `/`.
        self.relative_to = relative_to

    # rich costs a fifth of a second to import: a --json run that prints no message never pays it.
    @property
    def out(self):
        """Return the rich Console on stdout (made on first use)."""
        return self._console("out", sys.stdout)

    @property
    def err(self):
        """Return the rich Console on stderr (made on first use)."""
        return self._console("err", sys.stderr)

    def _console(self, name, stream):
        if name not in self._consoles:
            from rich.console import Console

            self._consoles[name] = Console(file=stream, stderr=name == "err", **self._kw)
        return self._consoles[name]

    def short(self, text):
        """Return `text` with the relative_to root written as `/` (unchanged when there is none)."""
        text = str(text)
        if not self.relative_to:
            return text
        return text.replace(self.relative_to + "/", "/")

    # ---- data (stdout) --------------------------------------------------------
    def json(self, doc):
        """Print `doc` as JSON on stdout (sorted keys, no colour)."""
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def text(self, s):
        """Print plain text on stdout."""
        sys.stdout.write(s)
        sys.stdout.flush()

    def plan(self, report, title=None, show_keep=True):
        """Print the plan as a table grouped by action, conflicts first, then the summary line."""
        from rich.table import Table
        from rich.text import Text

        rows = [c for c in report.changes if show_keep or c.action.value != "keep"]
        rows.sort(key=lambda c: describe.ORDER.index(c.action.value))
        t = Table(title=title or "Plan for %s in %s" % (report.profile, report.namespace), title_justify="left",
                  title_style="bold", expand=False)
        longest = max([len(self.short(c.target)) for c in rows] or [0])
        t.add_column("action", no_wrap=True)
        # Targets are what a reader scans for: they fold last.
        # A fixed width: rich's min_width is not honoured when it squeezes a table into the screen.
        t.add_column("target", overflow="fold", width=max(6, min(longest, self.out.width // 3)))
        t.add_column("change", overflow="fold")
        t.add_column("reason", overflow="fold")
        last = None
        for c in rows:
            a = c.action.value
            if last is not None and a != last:
                t.add_section()
            kind, detail = describe.reason_kind(c)
            reason = Text(kind, style=_KIND_STYLE.get(kind, ""))
            if detail:
                reason.append(": " + self.short(detail))
            target = Text(self.short(c.target), style="red" if a == "conflict" else "")
            t.add_row(Text(a if a != last else "", style=_STYLE[a]), target, self._change_cell(c), reason)
            last = a
        if rows:
            self.out.print(t)
        self.out.print(describe.summary_line(report))

    def _change_cell(self, c):
        from rich.text import Text

        cell = Text()
        for text, tone in describe.change_parts(c):
            cell.append(self.short(text), style={"+": "green", "-": "red", "=": "dim", "!": "bold red"}.get(tone, ""))
        return cell

    def diff(self, report):
        """Print a unified diff of the owned table, fstab-like lines, before -> after."""
        d = report.diff or {}
        lines = difflib.unified_diff(d.get("before", "").splitlines(True), d.get("after", "").splitlines(True),
                                     d.get("before_header", "before"), d.get("after_header", "after"))
        lines = list(lines)
        if not lines:
            self.out.print("The owned table does not change (fstab-like diff is empty).", style="dim")
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" \
                if line.startswith("@") else ""
            self.out.print(_esc(line.rstrip("\n")), style=style or None, soft_wrap=True)

    def status(self, rows):
        """Print one table per profile with each owned entry's health, and an interrupted-apply warning."""
        from rich.table import Table
        from rich.text import Text

        if not rows:
            self.out.print("No profile has state in this namespace.")
        for r in rows:
            if r["profile"].startswith("overlay-reset@") and not r["entries"]:
                # Not a profile: the lock and journal of `overlay reset --force` (state.reset_store_name).
                if r["interrupted"]:
                    self.warning("%s in %s: an `overlay reset --force` was interrupted (the name ends with its"
                                 " overlay's mount point, `_` for `/`); the next `livemount overlay reset --force`"
                                 " of that overlay recovers it from the journal" % (r["profile"], r["namespace"]))
                continue
            # A heading, not a table title: a title wraps to the table's width.
            head = Text("%s in %s" % (r["profile"], r["namespace"]), style="bold")
            head.append(", applied %s" % (r["applied_at"] or "never"))
            if r["applied_at"]:
                head.append(" (%s)" % describe.age(r["applied_at"]), style="dim")
            self.out.print(head)
            t = Table()
            for col, ratio in (("target", 3), ("type", None), ("health", None), ("detail", 3)):
                t.add_column(col, overflow="fold", ratio=ratio, no_wrap=ratio is None)
            for e in r["entries"]:
                h = e["health"]
                t.add_row(e["target"], e["type"], Text(h, style=_HEALTH_STYLE.get(h, "red")), e["detail"])
            self.out.print(t)
            counts = {}
            for e in r["entries"]:
                counts[e["health"]] = counts.get(e["health"], 0) + 1
            words = ", ".join("%d %s" % (counts[h], h) for h in ("ok", "drifted", "missing", "foreign on top",
                                                                   "not applied")
                              if counts.get(h)) or "owns nothing"
            self.out.print("%s: %s" % (r["profile"], words))
            for path in r.get("leftovers") or ():
                self.out.print("%s: kept %s (made by it, still in use; removed once unused)" % (r["profile"], path))
            if r["interrupted"]:
                self.warning("profile %s: an apply was interrupted; the next apply or destroy recovers it from the "
                             "journal" % r["profile"])

    def mounts(self, rows, tree=False, fs_options=False):
        """Print live mount dicts (inventory.mount_dicts) as a findmnt-like table, or a tree with --tree."""
        from rich.table import Table
        from rich.text import Text

        if not rows:
            self.out.print("No mount matches.")
            return
        lines = describe.mount_lines(rows, tree)
        t = Table(box=None, pad_edge=False, header_style="bold")
        # The target keeps most of its width (a tree reads by it); the other columns fold first.
        width = max(len(g) + (len(layer[0]) + 1 + len(self.short(layer[1])) if layer else
                              len(self.short(m["target"])) + (0 if m["visible"] else len(" (covered)")))
                    for g, m, layer in lines)
        t.add_column("TARGET", overflow="fold", width=max(6, min(width, max(12, self.out.width // 3))))
        # Below 100 columns propagation joins the options: one column less to squeeze.
        split = self.out.width >= 100
        for name, share in (("SOURCE", 5), ("FSTYPE", 8), ("OPTIONS", 5), ("PROPAGATION", 8))[:4 if split else 3]:
            # A cap, or one long word (a device path, an option list) would push the table past the screen.
            t.add_column(name, overflow="fold", max_width=max(6, self.out.width // share))
        owners = any(m["owner"] for m in rows)
        if owners:
            t.add_column("OWNER", overflow="fold")
        blank = [""] * (len(t.columns) - 1)
        for guide, m, layer in lines:
            if layer is not None:
                t.add_row(Text.assemble((guide, "dim"), (layer[0] + " ", "cyan"), self.short(layer[1])), *blank)
                continue
            # assemble, not `+`: a Text's own style would colour everything appended to it.
            target = Text.assemble((guide, "dim"), self.short(m["target"]))
            if not m["visible"]:
                target.append(" (covered)", style="dim")
            source = m["source"] + ("[%s]" % m["root"] if m["root"] != "/" else "")
            opts = Text(",".join(m["mount_options"]))
            if fs_options and m["fs_options"]:
                opts.append("," + ",".join(describe.kv(k, v) for k, v in m["fs_options"].items()))
            cells = [target, Text(self.short(source)), m["fstype"], opts]
            if split:
                cells.append(m["propagation"])
            else:
                opts.append(" " + m["propagation"], style="dim")
            t.add_row(*cells + ([Text(m["owner"] or "", style="bold cyan")] if owners else []))
        self.out.print(t)

    def problems(self, path, items):
        """Print validation problems as `file:line: json.path: message`, one per line, on stdout."""
        from rich.text import Text

        for it in items:
            where = "%s:%s" % (path, it["line"]) if it.get("line") else path
            line = Text.assemble((where + ": ", "bold"), (it["path"] + ": ", "cyan"), it["detail"])
            self.out.print(line, soft_wrap=True)

    def overlay_changes(self, target, items, title=None, tree=False):
        """Print an overlay's changes as a table in path order (or a directory tree), folded directories counted."""
        from rich.table import Table

        styles = _OVERLAY_STYLES
        counts = {}
        for it in items:
            inside = "added" if it["kind"] == "renamed" else it["kind"]  # what a folded directory holds
            counts[it["kind"]] = counts.get(it["kind"], 0) + 1
            counts[inside] = counts.get(inside, 0) + it.get("count", 0)
        if not items:
            self.out.print("No changes in overlay %s." % _esc(self.short(target)))
            return
        if tree:
            self.out.print(_overlay_tree(self.short(target), items, title and self.short(title)))
            order = ["added", "renamed", "modified", "metacopy", "opaque", "deleted"]
            self.out.print(", ".join("%d %s" % (counts[k], k) for k in order if counts.get(k)))
            return
        t = Table(title=_esc(self.short(title or "Changes in overlay %s" % target)), title_justify="left")
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

    def overlay_reset(self, report, items):
        """Print what an overlay reset discarded (or would, in check mode): the changes table, then where things are."""
        target = report["target"]
        check = report["mode"] == "check"
        for m in report.get("recovered") or ():
            self.info(m)
        for path in report["unchanged_paths"]:
            self.info("no change at %s in overlay %s: nothing to reset there" % (path, target))
        if not report["discarded"]:
            self.out.print("Nothing to reset in overlay %s." % _esc(target))
            return
        self.overlay_changes(target, items, title="%s overlay %s" % ("Would discard from" if check else
                                                                     "Discarded from", target))
        for c in report["copied"]:
            how = "a whiteout hides" if c["how"] == "whiteout" else "a copy of the lower view replaces"
            self.info("%s: %s what the directories above would show" % (c["path"], how))
        if check:
            self.info("Check mode: nothing was changed (overlay %s, upper %s)." % (target, report["upper"]))
        elif report["removed_aside"]:
            self.info("Reset overlay %s: the old upper and work were deleted (--discard)." % target)
        else:
            self.info("Reset overlay %s: the old upper is kept at %s, the old work at %s." % (
                target, report["upper_aside"], report["work_aside"]))

    # ---- messages (stderr) ------------------------------------------------------
    def info(self, msg):
        """Print a message on stderr unless --quiet."""
        if not self.quiet:
            self.err.print(_esc(self.short(msg)))

    def warning(self, msg):
        """Print a warning on stderr (even with --quiet: it needs a decision)."""
        self.err.print("[bold yellow]warning:[/] " + _esc(self.short(msg)))

    def heading(self, msg):
        """Print a section heading on stdout (demo narration)."""
        self.out.rule("[bold]%s" % _esc(msg), align="left")

    def ask(self, question):
        """Return the line the user typed after `question` (stripped, lowercased; '' at end of input)."""
        # markup=False: rich would take "[y/N]" for a style tag and print nothing of it.
        self.err.print(question + " ", end="", markup=False, highlight=False)
        return sys.stdin.readline().strip().lower()

    def progress(self, k, n, change):
        """Print one progress line for step k of n."""
        if not self.quiet:
            self.err.print("[dim][%d/%d][/] %s %s" % (k, n, change.action.value, _esc(self.short(change.target))))

    @contextlib.contextmanager
    def live_progress(self):
        """Yield a progress callback (k, n, change): a live bar on a terminal, plain lines otherwise."""
        # A live display rewrites its lines: only on a real terminal, not into a pipe that --color forced.
        if self.quiet or not self.err.is_terminal or not _isatty(sys.stderr):
            yield self.progress
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, \
            TimeElapsedColumn

        bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                       MofNCompleteColumn(), TimeElapsedColumn(), console=self.err, transient=True)
        task = []

        def step(k, n, change):
            text = "%s %s" % (change.action.value, _esc(self.short(change.target)))
            if not task:
                task.append(bar.add_task(text, total=n))
            bar.update(task[0], description=text, completed=k - 1)

        with bar:
            yield step

    def applied(self, report, elapsed):
        """Print what an apply did: done, kept, skipped, failed, with warnings; on stderr."""
        for m in report.recovered:
            self.info(m)
        for w in report.warnings:
            self.warning(w)
        for c, why in report.skipped:
            self.err.print("[yellow]skipped[/] %s: %s" % (_esc(self.short(c.target)), _esc(self.short(why))))
        for c, msg in report.failed:
            self.error(msg)
        if self.quiet and not report.failed:
            return
        counts = describe.apply_counts(report)
        words = ", ".join("%d %s" % (counts[k], k) for k in ("done", "kept", "skipped", "failed", "rolled back")
                          if counts[k] or k in ("done", "kept"))
        head = "[bold red]Applied with failures:[/]" if report.failed else "[bold green]Applied:[/]"
        self.err.print("%s %s (%s in %s, %.1f s)" % (head, words, _esc(report.profile), _esc(report.namespace),
                                                    elapsed))

    def error(self, msg):
        """Print an error message on stderr."""
        self.err.print("[bold red]error:[/] " + _esc(self.short(msg)))

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
                self.err.print("  - " + _esc(self.short(c.reason)))
            if any(c.live is not None for c in exc.conflicts):
                self._hint("livemount never touches a mount it does not own; unmount it by hand or change the "
                           "profile")
            else:
                self._hint("nothing was changed; fix the path or the profile, then plan again")
        elif name in ("ApplyError", "UndoError"):
            self._apply_failure(exc)
        elif name == "ProfileError" and any(p[2] == "fstab" for p in exc.problems):
            self._hint("the fstab file could not be converted; nothing was changed")
        elif name == "ProfileError":
            self._hint("`livemount validate FILE` lists every problem with its line")
        elif name == "StateError":
            self._hint("`livemount status` shows the state this namespace has")

    def _apply_failure(self, exc):
        for label, value in (("failed step", exc.step), ("kernel said", describe.errno_text(exc.errno))):
            if value:
                self.err.print("  [bold]%s:[/] %s" % (label, _esc(self.short(value))))
        self._list("rolled back", exc.rolled_back, "green")
        self._list("busy", [describe.busy_text(b) for b in (getattr(exc, "busy", None) or [])], "yellow")
        if type(exc).__name__ == "UndoError":
            self._list("left over", exc.left, "bold red")
            self._hint("run the same command again: it recovers from the journal")
        elif getattr(exc, "busy", None):
            self._hint("stop those processes (or move them out of the mount), then apply again")
        else:
            self._hint("nothing was changed; fix the cause and apply again (-v shows the traceback)")

    def _list(self, label, items, style):
        if items:
            self.err.print("  [%s]%s:[/]" % (style, label))
            for item in items:
                self.err.print("    - " + _esc(self.short(item)))

    def _hint(self, text):
        self.err.print("[dim]hint:[/] " + _esc(text))


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _esc(s):
    from rich.markup import escape

    return escape(str(s))


_OVERLAY_STYLES = {"added": "green", "renamed": "cyan", "deleted": "red", "modified": "yellow",
                   "metacopy": "yellow", "opaque": "magenta"}


def _overlay_tree(target, items, title=None):
    """Return a rich Tree of overlay change items by directory; parents with no change of their own are dim."""
    from rich.tree import Tree

    root = Tree(_esc(title or "Changes in overlay %s" % target))
    nodes = {"": root}
    for it in items:  # items come sorted with a directory right before its contents (overlay_changes)
        parts = [p for p in it["path"].split("/") if p]
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            if key in nodes:
                continue
            name = os.fsencode(parts[depth - 1]).decode("utf-8", "backslashreplace")
            if depth < len(parts):
                label = "[dim]%s/[/]" % _esc(name)
            else:
                detail = it["detail"]
                if it.get("count"):
                    detail = (detail + "; " if detail else "") + "and %d inside" % it["count"]
                style = _OVERLAY_STYLES.get(it["kind"], "")
                label = "[%s]%s[/] %s%s" % (style, _esc(name + ("/" if it["type"] == "dir" else "")),
                                            "[%s]%s[/]" % (style, it["kind"]),
                                            " (%s)" % _esc(detail) if detail else "")
            nodes[key] = nodes["/".join(parts[:depth - 1])].add(label)
    return root
