"""livemount apply PROFILE: show the plan, confirm, perform it with undo, summarize."""

import sys


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--diff", action="store_true", help="show the owned table before -> after (fstab-like lines)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--on-error", choices=["rollback", "continue"], help="override the profile's on_error")


def run(args, out):
    """Return 0 when the table matches the profile afterwards, 1 otherwise (declined, failed)."""
    import time

    from .common import check_root, engine_module, load_profile_arg, make_sys

    engine = engine_module("engine")
    system = make_sys()
    prof, data = load_profile_arg(args.profile, system, args.state_dir)
    preview = engine.reconcile(prof, system, root=args.state_dir, check=True)
    if args.check or not preview.changed:
        return _show(out, args, preview)
    if not args.json:
        out.plan(preview)
        if args.diff:
            out.diff(preview)
    steps = len([c for c in preview.changes if c.action.value != "keep"])
    if not args.yes and not _confirm(out, steps, preview.namespace):
        return 1
    check_root()
    started = time.monotonic()
    try:
        with out.live_progress() as progress:
            report = engine.reconcile(prof, system, root=args.state_dir, on_error=args.on_error, profile_data=data,
                                      progress=None if args.json else progress)
    except engine_module("errors").ApplyError as exc:
        if not args.json:
            exc.report = None  # the plan is on screen already: the failure says the rest
        raise
    if args.json:
        out.json(report.to_dict())
    else:
        out.applied(report, time.monotonic() - started)
    return 1 if report.failed else 0


def _show(out, args, report):
    if args.json:
        out.json(report.to_dict())
        return 0
    for m in report.recovered:
        out.info(m)
    out.plan(report)
    if args.diff:
        out.diff(report)
    return 0


def _confirm(out, n, namespace):
    """Return True when the user answers yes on the terminal; never ask anyone else."""
    if not sys.stdin.isatty():
        out.error("cannot ask for confirmation: stdin is not a terminal; pass --yes to apply")
        return False
    if out.ask("Apply %d changes to %s? [y/N]" % (n, namespace)) not in ("y", "yes"):
        out.info("nothing changed")
        return False
    return True
