"""livemount plan PROFILE: what apply would do, computed by the same code path, touching nothing."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--json", action="store_true", help="machine-readable plan on stdout")
    p.add_argument("--diff", action="store_true", help="also show the owned table before -> after (fstab-like lines)")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")


def run(args, out):
    """Return 0, or 2 with --detailed-exitcode when the plan has changes."""
    from .common import engine_module, load_profile_arg, make_sys

    system = make_sys()
    prof, _ = load_profile_arg(args.profile, system, args.state_dir)
    try:
        report = engine_module("engine").reconcile(prof, system, root=args.state_dir, check=True)
    except engine_module("errors").PlanError as exc:
        exc.report.mode = "plan"  # the conflicts are shown with the plan they stopped
        raise
    report.mode = "plan"
    if args.json:
        out.json(report.to_dict())
    else:
        out.plan(report)
        if args.diff:
            out.diff(report)
        for w in report.warnings:  # e.g. mounts made in this namespace stay invisible to the host
            out.warning(w)
    return 2 if (args.detailed_exitcode and report.changed) else 0
