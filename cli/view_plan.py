"""Plans as the user reads them: a table grouped by action, long reasons as notes below it, then the counts.

Shows less rather than slowly (issue 17): steps that change nothing (keep)
are counted, not listed, unless -v asks; a big plan lists the first steps of
each action and counts the rest. What a row says comes from describe.py.
"""

from . import describe
from .table import Column, Table, wrap

ACTION_STYLE = {"conflict": "bold red", "mount": "green", "link": "green", "mkdir": "green", "remount": "yellow",
                "replace": "magenta", "unmount": "red", "unlink": "red", "rmdir": "red", "forget": "dim", "keep": "dim",
                "mimic": "magenta"}
KIND_STYLE = {"conflict": "bold red", "drift": "yellow", "new entry": "green", "removed entry": "red",
              "profile changed": "magenta", "adopted": "cyan"}
TONE_STYLE = {"+": "green", "-": "red", "=": "dim", "!": "bold red"}

BIG = 60  # a plan with more rows than this lists PER_ACTION of each action (-v lists all)
PER_ACTION = 10
NOTE_AFTER = 48  # a reason detail longer than this goes below the table as a note


def plan_lines(report, short, width, title=None, verbose=False):
    """Return the lines (lists of spans) of a plan: title, table, notes, summary line."""
    rows = [c for c in report.changes if verbose or c.action.value != "keep" or c.adopt]
    order = describe.ORDER + ["mimic"]
    rows.sort(key=lambda c: order.index(c.action.value) if c.action.value in order else len(order))
    if len(rows) > BIG and not verbose:
        rows, hidden = _first_of_each(rows)
    else:
        hidden = {}
    out = wrap([(title or "Plan for %s in %s" % (report.profile, report.namespace), "bold")], width)
    notes = []
    if rows:
        t = Table([Column("action", wrap=False, dedupe=True), Column("target", keep=True), Column("change", give=1),
                   Column("reason", give=1)], head=2)
        last = None
        for k, c in enumerate(rows):
            a = c.action.value
            kind, detail = describe.reason_kind(c)
            note = describe.reason_note(c)
            if len(detail) > NOTE_AFTER and a == "conflict":
                detail = ""  # the error after the plan says it in full
            elif len(detail) > NOTE_AFTER:
                detail, note = "", detail + ("; " + note if note else "")
            reason = [(kind, KIND_STYLE.get(kind, ""))] + ([(": " + short(detail), "")] if detail else [])
            if note:
                notes.append((short(c.target), short(note)))
                reason.append((" [%d]" % len(notes), "dim"))
            t.add([(a, ACTION_STYLE.get(a, ""))], [(short(c.target), "red" if a == "conflict" else "")],
                  [(short(text), TONE_STYLE.get(tone, "")) for text, tone in describe.change_parts(c)], reason,
                  section=a != last)
            if a in hidden and (k + 1 == len(rows) or rows[k + 1].action.value != a):
                t.add([(a, ACTION_STYLE.get(a, ""))], [("... and %d more" % hidden[a], "dim")], [], [])
            last = a
        out += t.render(width)
    for k, (target, note) in enumerate(notes, 1):
        out += wrap([(target, "bold"), (": " + note, "")], width, lead=[("[%d] " % k, "dim")], cont=[("    ", "")])
    out += wrap([(describe.summary_line(report), "")], width)
    if hidden:
        out += wrap([("(%d more steps not listed: -v lists every step, --json gives them all)"
                      % sum(hidden.values()), "dim")], width)
    return out


def _first_of_each(rows):
    """Return (the first PER_ACTION rows of each action, {action: how many were left out})."""
    shown, hidden, seen = [], {}, {}
    for c in rows:
        a = c.action.value
        seen[a] = seen.get(a, 0) + 1
        if seen[a] <= PER_ACTION or a == "conflict":
            shown.append(c)
        else:
            hidden[a] = hidden.get(a, 0) + 1
    return shown, hidden


def kept_aside_lines(report, short):
    """Return note lines for overlay replaces that keep the old upper and work aside (upper_policy fresh)."""
    out = []
    for c in report.changes:
        if c.action.value == "replace" and c.upper_policy == "fresh":
            out.append([("note: ", "bold"), ("replacing overlay %s keeps its old upper and work aside, next to"
                                             " them (%s.livemount-TIME); `livemount overlay prune` removes them"
                                             " once no mount uses them" % (short(c.target),
                                                                           short(c.entry.upper or c.entry.work)),
                                             "")])
    return out


def applied_line(report, elapsed, verb="Applied"):
    """Return the summary line of an apply: `Applied: 7 done, 1 kept (web in mnt:[...], 0.2 s)`."""
    counts = describe.apply_counts(report)
    words = ", ".join("%d %s" % (counts[k], k) for k in ("done", "kept", "skipped", "failed", "rolled back")
                      if counts[k] or k in ("done", "kept"))
    head = ("%s with failures:" % verb, "bold red") if report.failed else ("%s:" % verb, "bold green")
    return [head, (" %s (%s in %s, %.1f s)" % (words, report.profile, report.namespace, elapsed), "")]
