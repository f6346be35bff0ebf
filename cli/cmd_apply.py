"""livemount apply PROFILE: show the plan, confirm, perform it with undo, summarize."""

import sys


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", help="profile file (YAML or JSON)")
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--diff", action="store_true", help="show the owned table before -> after")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--on-error", choices=["rollback", "continue"], help="override the profile's on_error")


def run(args, out):
    """Return 0 when the table matches the profile afterwards, 1 otherwise."""
    from .common import check_root, engine_module, load_profile, make_sys

    engine = engine_module("engine")
    prof, data = load_profile(args.profile)
    sys_ = make_sys()
    preview = engine.reconcile(prof, sys_, root=args.state_dir, check=True)
    if args.check or not preview.changed:
        return _show(out, args, preview)
    if not args.json:
        out.plan(preview)
        if args.diff:
            out.diff(preview)
    if not args.yes and not _confirm(out, len([c for c in preview.changes if c.action.value != "keep"]),
                                     preview.namespace):
        return 1
    check_root()
    report = engine.reconcile(prof, sys_, root=args.state_dir, on_error=args.on_error, profile_data=data,
                              progress=None if args.json else out.progress)
    if args.json:
        out.json(report.to_dict())
    else:
        for m in report.recovered:
            out.info(m)
        for w in report.warnings:
            out.info("warning: " + w)
        for c, msg in report.failed:
            out.error(msg)
        out.info("Applied: %d changed, %d failed, %d skipped" % (
            len([c for c in report.changes if c.action.value not in ("keep", "conflict")]) - len(report.failed)
            - len(report.skipped), len(report.failed), len(report.skipped)))
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
    if not sys.stdin.isatty():
        out.error("cannot ask for confirmation: stdin is not a terminal; pass --yes to apply")
        return False
    # markup=False: rich would take "[y/N]" for a style tag and print nothing of it.
    out.err.print("Apply %d changes to %s? [y/N] " % (n, namespace), end="", markup=False)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        out.info("nothing changed")
        return False
    return True
