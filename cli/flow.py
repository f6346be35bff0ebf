"""What apply, rollback and destroy share: plan once, show it, ask, apply exactly what was shown.

The plan is made in check mode and shown; after the confirmation the engine
applies those very Change objects, once it has checked under the lock that
nothing they were planned from changed (reconcile expect=, fingerprint.py).
So the user never confirms one plan and gets another, and nothing is
planned twice (issue 17).
"""

import os
import sys
import time


def add_apply_options(p, what="apply"):
    """Add the options of a command that changes the table: --check, --diff, --json, --yes, --target."""
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--diff", action="store_true", help="show the owned table before -> after (fstab-like lines)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    add_target_option(p, what)


def add_target_option(p, what):
    """Add --target PATH (repeatable)."""
    p.add_argument("--target", dest="targets", action="append", metavar="PATH",
                   help="%s only the entry at PATH, what is below it and what it needs above (repeatable)" % what)


def targets(args):
    """Return the --target paths made absolute and clean (None when there are none)."""
    if not getattr(args, "targets", None):
        return None
    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors, paths

    out = []
    for t in args.targets:
        try:
            out.append(paths.clean(os.path.abspath(t)))
        except ValueError as exc:
            raise errors.LivemountError("cannot use --target %s: %s" % (t, exc))
    return out


def run(args, out, plan, perform, question, title=None, verb="Applied", word="apply", finish=None):
    """Return the exit status of planning, showing, confirming and applying.

    `plan()` returns the check-mode Report; `perform(expect, progress,
    on_plan)` applies. With --yes the engine plans under its lock and shows
    the plan through `on_plan` before applying it (one plan, nothing between
    the two); on a terminal the plan is shown, confirmed, then applied with
    `expect` (exactly that plan, or a refusal saying what changed since).
    `question(report)` returns the confirmation question; `title` is a
    string or a function of the Report. `finish(report)`, when given, runs
    once the plan was applied or shown (apply --enable): it prints its own
    text and returns the keys it adds to the --json document.
    """
    from .common import check_root

    if args.check:
        return show(out, args, plan(), title, finish)
    if args.yes:
        if os.geteuid() != 0:
            plan()  # not root: what the state says (an unsafe directory...) comes first, as without --yes
        check_root()
        shown = []

        def on_plan(report):
            shown.append(report)
            if not args.json:
                _show_plan(out, args, report, title)

        return _perform(args, out, lambda progress: perform(None, progress, on_plan), verb, shown, finish)
    preview = plan()
    if not preview.changed:
        return show(out, args, preview, title, finish)
    if not args.json:
        _show_plan(out, args, preview, title)
    if not confirm(out, question(preview), word):
        return 1
    check_root()
    return _perform(args, out, lambda progress: perform(preview.expected(), progress, None), verb, [preview], finish)


def _title(title, report):
    return title(report) if callable(title) else title


def _show_plan(out, args, report, title):
    out.plan(report, title=_title(title, report))
    if args.diff:
        out.diff(report)
    for line in _kept_aside(out, report):
        out.note(line)


def _perform(args, out, call, verb, shown, finish=None):
    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors

    started = time.monotonic()
    try:
        with out.live_progress() as progress:
            report = call(None if args.json else progress)
    except errors.LivemountError as exc:
        if not args.json and shown:
            exc.report = None  # the plan is on screen already: the failure says the rest
        raise
    if args.json:
        out.json(dict(report.to_dict(), **(finish(report) if finish else {})))
        return 1 if report.failed else 0
    if report.changed:
        out.applied(report, time.monotonic() - started, verb)
    if finish:
        finish(report)
    return 1 if report.failed else 0


def show(out, args, report, title=None, finish=None):
    """Return 0 after showing a plan that is not applied (check mode, nothing to do)."""
    if args.json:
        out.json(dict(report.to_dict(), **(finish(report) if finish else {})))
        return 0
    for m in report.recovered:
        out.info(m)
    out.plan(report, title=_title(title, report))
    if args.diff:
        out.diff(report)
    for w in report.warnings:  # e.g. mounts made in this namespace stay invisible to the host
        out.warning(w)
    if finish:
        finish(report)
    return 0


def confirm(out, question, word="apply"):
    """Return True when the user answers yes on the terminal; never ask anyone else."""
    if not sys.stdin.isatty():
        out.error("cannot ask for confirmation: stdin is not a terminal; pass --yes to %s" % word)
        return False
    if out.ask(question + " [y/N]") not in ("y", "yes"):
        out.info("nothing changed")
        return False
    return True


def changes_question(verb, where):
    """Return a function of a Report giving `Apply 7 changes to mnt:[...]?` (the steps that change something)."""
    from .describe import plural

    def question(report):
        steps = len([c for c in report.changes if c.action.value not in ("keep", "conflict")])
        return "%s %s %s?" % (verb, plural(steps, "change"), where(report))

    return question


def _kept_aside(out, report):
    from .view_plan import kept_aside_lines

    return kept_aside_lines(report, out.short)
