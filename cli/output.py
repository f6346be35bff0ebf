"""Everything the CLI prints goes through an Output: data to stdout, messages and progress to stderr.

Colour and width per stream come from term.py; what a plan, a mount table
or an overlay's changes look like from the view_*.py modules, and the words
from describe.py. Messages are wrapped only on a terminal: a log gets each
message on one line.
"""

import contextlib
import json
import sys
import time

from . import describe, view_mounts, view_overlay, view_plan
from .term import Stream

PROGRESS_EVERY = 100  # a pipe gets one progress line per step up to this many steps, then one per this many


class Output:
    """Renders reports for one command invocation, on one stdout and one stderr Stream."""

    def __init__(self, args, relative_to=None):
        color = getattr(args, "color", None)
        self.out = Stream(sys.stdout, color)
        self.err = Stream(sys.stderr, color)
        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", 0)
        # The demo shows paths below its scratch root as if that root were `/`.
        self.relative_to = relative_to

    def short(self, text):
        """Return `text` with the relative_to root written as `/` (unchanged when there is none)."""
        text = str(text)
        if not self.relative_to:
            return text
        return text.replace(self.relative_to + "/", "/")

    # ---- data (stdout) --------------------------------------------------------
    def json(self, doc):
        """Print `doc` as JSON on stdout (sorted keys, no colour): indented on a terminal, one line to a pipe.

        Indenting costs json's pure-Python encoder (ten times slower than its
        C one): worth it for a person reading, not for a program.
        """
        self.out.write(json.dumps(doc, indent=self._json_indent(), sort_keys=True, default=str) + "\n")

    def json_items(self, doc, key, items, encoded=False):
        """Return how many `items` were printed as doc[key] of `doc`, encoded a batch at a time: what json() prints.

        A table of 10,000 mounts is never held twice (the dicts, then their
        text). `encoded`: each item is already its JSON text, as
        json.dumps(item, sort_keys=True) writes it; only when json_one_line.
        """
        indent = self._json_indent()
        if encoded and indent:
            raise ValueError("cannot indent items given as JSON text")
        encode = json.JSONEncoder(indent=indent, sort_keys=True, default=str).encode
        text = []
        count = 0
        parts = sorted([(k, encode(v)) for k, v in doc.items()] + [(key, None)])
        text.append("{\n  " if indent else "{")
        for i, (k, value) in enumerate(parts):
            text.append(((",\n  " if indent else ", ") if i else "") + encode(k) + ": ")
            if value is not None:
                text.append(value.replace("\n", "\n  ") if indent else value)
                continue
            for batch in _batches(items, 256):
                # A batch encoded as one list, its brackets cut: the items as the whole list would show them.
                if encoded:
                    chunk = ", ".join(batch)
                else:
                    chunk = encode(batch)[2:-2].replace("\n", "\n  ") if indent else encode(batch)[1:-1]
                text.append(("," if count else "[") + ("\n  " if indent else " " if count else "") + chunk)
                count += len(batch)
                self.out.write("".join(text))
                text = []
            text.append(("\n  ]" if indent else "]") if count else "[]")
        text.append("\n}\n" if indent else "}\n")
        self.out.write("".join(text))
        return count

    @property
    def json_one_line(self):
        """Return True when json() prints one line (stdout is no terminal): items may then come as JSON text."""
        return self._json_indent() is None

    def _json_indent(self):
        """Return the JSON indent: 2 when stdout is a terminal, None (one line, json's C encoder) otherwise."""
        return 2 if self.out.is_terminal else None

    def text(self, s):
        """Print plain text on stdout."""
        self.out.write(s)

    def plan(self, report, title=None, show_keep=None):
        """Print a plan: a table grouped by action (keeps only with -v), notes, the summary line."""
        verbose = bool(self.verbose) if show_keep is None else show_keep
        self.out.lines(view_plan.plan_lines(report, self.short, self.out.table_width(), title, verbose))

    def diff(self, report):
        """Print a unified diff of the owned table, fstab-like lines, before -> after."""
        import difflib  # only here: 3 ms of import (and its namedtuples) for every command otherwise

        d = report.diff or {}
        lines = list(difflib.unified_diff(d.get("before", "").splitlines(True), d.get("after", "").splitlines(True),
                                          d.get("before_header", "before"), d.get("after_header", "after")))
        if not lines:
            self.out.lines([[("The owned table does not change (fstab-like diff is empty).", "dim")]])
        style = {"+": "green", "-": "red", "@": "cyan"}
        self.out.lines([[(line.rstrip("\n"), style.get(line[:1], ""))] for line in lines])

    def status(self, rows):
        """Print one table per profile with each owned entry's health; warn about interrupted applies."""
        self.out.lines(view_mounts.status_lines(rows, self.short, self.out.table_width()))
        for r in rows:
            for clash in (r.get("enabled_copy") or {}).get("fstab_conflicts") or ():
                self.warning(clash["message"])
            if r["profile"].startswith("overlay-reset@") and not r["entries"]:
                if r["interrupted"]:
                    # Not a profile: the lock and journal of `overlay reset --force` (state.reset_store_name).
                    self.warning("%s in %s: an `overlay reset --force` was interrupted (the name ends with its"
                                 " overlay's mount point, `_` for `/`); the next `livemount overlay reset --force`"
                                 " of that overlay recovers it from the journal" % (r["profile"], r["namespace"]))
            elif r["interrupted"]:
                self.warning("profile %s: an apply was interrupted; the next apply or destroy recovers it from the "
                             "journal" % r["profile"])

    def mounts(self, rows, tree=False, columns=None, form=None, headings=True):
        """Print live mount dicts (inventory.mount_dicts) like findmnt: table, tree, list or raw."""
        if not rows:
            self.out.lines([[("No mount matches.", "")]])
            return
        self.out.lines(view_mounts.mount_lines(rows, self.short, self.out.table_width(), columns,
                                               form or ("tree" if tree else "table"), headings, bool(self.verbose)))

    def history(self, name, namespace, records):
        """Print a profile's history: number, when, by whom, steps, profile hash; the newest last, marked."""
        self.out.lines(view_mounts.history_lines(name, namespace, records, self.out.table_width()))

    def prune(self, report):
        """Print the overlay asides a prune removes (or would) and the ones it keeps, with why."""
        self.out.lines(view_overlay.prune_lines(report, self.short, self.out.table_width()))

    def problems(self, path, items):
        """Print validation problems as `file:line: json.path: message`, one per line, on stdout."""
        lines = []
        for it in items:
            where = "%s:%s" % (path, it["line"]) if it.get("line") else path
            lines.append([(where + ": ", "bold"), (it["path"] + ": ", "cyan"), (it["detail"], "")])
        self.out.lines(lines)

    def overlay_changes(self, target, items, title=None, tree=False):
        """Print an overlay's changes as a table in path order (or a directory tree), folded directories counted."""
        self.out.lines(view_overlay.changes_lines(self.short(target), items, self.out.table_width(),
                                                  title and self.short(title), tree))

    def overlay_reset(self, report, items):
        """Print what an overlay reset discarded (or would, in check mode): the changes, then where things are."""
        data, messages = view_overlay.reset_lines(report, items, self.out.table_width())
        self.out.lines(data)
        for m in messages:
            self.info(m[0][0])

    # ---- messages (stderr) ------------------------------------------------------
    def _message(self, spans):
        self.err.message([(self.short(t), s) for t, s in spans])

    def info(self, msg):
        """Print a message on stderr unless --quiet."""
        if not self.quiet:
            self._message([(msg, "")])

    def note(self, spans):
        """Print a note (a list of spans) on stderr unless --quiet."""
        if not self.quiet:
            self._message(spans)

    def warning(self, msg):
        """Print a warning on stderr (even with --quiet: it needs a decision)."""
        self._message([("warning:", "bold yellow"), (" " + msg, "")])

    def error(self, msg):
        """Print an error message on stderr."""
        self._message([("error:", "bold red"), (" " + msg, "")])

    def heading(self, msg):
        """Print a section heading on stdout (demo narration)."""
        rule = "─" * max(0, min(self.out.table_width(), 100) - len(msg) - 4)
        self.out.lines([[("── ", "dim"), (msg, "bold"), (" " + rule, "dim")]])

    def ask(self, question):
        """Return the line the user typed after `question` (stripped, lowercased; '' at end of input)."""
        self.err.write(question + " ")
        return sys.stdin.readline().strip().lower()

    def interrupted(self):
        """Print that the user interrupted (Ctrl-C), on a line of its own after the terminal's ^C, and what is left."""
        if self.err.is_terminal:
            self.err.write("\n")
        # Between two steps the journal holds what was done (it is synced before each step): nothing is lost.
        self.error("interrupted: what this run changed so far is in place and its journal kept; the next run of "
                   "this profile (apply or destroy) recovers it first, and `livemount status` shows it as interrupted")

    @contextlib.contextmanager
    def live_progress(self):
        """Yield a progress callback (k, n, change): one status line redrawn on a terminal, plain lines otherwise.

        Showing less, not slower: a terminal's line is redrawn at most ten
        times a second; a pipe gets a line per step up to PROGRESS_EVERY
        steps, then one line every PROGRESS_EVERY steps.
        """
        if self.quiet:
            yield lambda k, n, change: None
            return
        if not self.err.is_terminal:
            yield self.progress
            return
        started = time.monotonic()
        drawn = [0.0, False]

        def step(k, n, change):
            now = time.monotonic()
            if k < n and now - drawn[0] < 0.1:
                return
            drawn[0], drawn[1] = now, True
            text = "[%d/%d] %s %s" % (k, n, change.action.value, self.short(change.target))
            width = (self.err.width or 80) - 9
            if len(text) > width:
                text = text[:width - 1] + "…"
            self.err.write("\r\x1b[K%s %s" % (self.err.paint([(text, "")]),
                                               self.err.paint([("%.1f s" % (now - started), "dim")])))

        try:
            yield step
        finally:
            if drawn[1]:
                self.err.write("\r\x1b[K")

    def progress(self, k, n, change):
        """Print one progress line for step k of n (every PROGRESS_EVERY-th step of a big plan, and the last)."""
        if self.quiet or (n > PROGRESS_EVERY and k % PROGRESS_EVERY and k != n):
            return
        self.err.lines([[("[%d/%d]" % (k, n), "dim"), (" %s %s" % (change.action.value, self.short(change.target)),
                                                        "")]])

    def applied(self, report, elapsed, verb="Applied"):
        """Print what an apply did: done, kept, skipped, failed, with warnings; on stderr."""
        for m in report.recovered:
            self.info(m)
        for w in report.warnings:
            self.warning(w)
        for c, why in report.skipped:
            self._message([("skipped", "yellow"), (" %s: %s" % (c.target, why), "")])
        for c, msg in report.failed:
            self.error(msg)
        if self.quiet and not report.failed:
            return
        self.err.lines([view_plan.applied_line(report, elapsed, verb)])

    def failure(self, exc, verb="apply"):
        """Print a LivemountError with everything it carries, and a hint for what to do next (`verb`: the command)."""
        from . import hints

        name = type(exc).__name__
        if name == "ProfileError" and len(exc.problems) > 1:
            self.error("invalid profile: %d problems" % len(exc.problems))
            self._items(p[3] for p in exc.problems)
        else:
            self.error(str(exc))
        if name == "PlanError":
            self._items(c.reason for c in exc.conflicts[1:])
        elif name == "StalePlanError":
            self._items(exc.differences[1:])  # the first is in the message
        elif name in ("ApplyError", "UndoError"):
            self._apply_failure(exc)
        hint = hints.hint(exc, verb)
        if hint:
            self._message([("hint:", "dim"), (" " + hint, "")])

    def _apply_failure(self, exc):
        for label, value in (("failed step", exc.step), ("kernel said", describe.errno_text(exc.errno))):
            if value:
                self._message([("  %s:" % label, "bold"), (" %s" % value, "")])
        self._list("rolled back", exc.rolled_back, "green")
        self._list("busy", [describe.busy_text(b) for b in (getattr(exc, "busy", None) or [])], "yellow")
        if name_of(exc) == "UndoError":
            self._list("left over", exc.left, "bold red")

    def _items(self, items):
        for item in items:
            self.err.message([("  - " + self.short(item), "")], indent="    ")

    def _list(self, label, items, style):
        if items:
            self._message([("  %s:" % label, style)])
            for item in items:
                self.err.message([("    - " + self.short(item), "")], indent="      ")


def name_of(exc):
    """Return the class name of an exception (errors are matched by name: the engine is imported late)."""
    return type(exc).__name__


def _batches(items, size):
    """Yield lists of up to `size` consecutive items of the iterable `items`."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

