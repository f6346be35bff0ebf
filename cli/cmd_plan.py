"""livemount plan PROFILE: what apply would do, computed by the same code path, touching nothing."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", help="profile file (YAML or JSON)")
    p.add_argument("--json", action="store_true", help="machine-readable plan on stdout")
    p.add_argument("--diff", action="store_true", help="also show the owned table before -> after")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")


def run(args, out):
    """Return 0, or 2 with --detailed-exitcode when the plan has changes."""
    from .common import engine_module, load_profile, make_sys

    prof, data = load_profile(args.profile)
    report = engine_module("engine").reconcile(prof, make_sys(), root=args.state_dir, check=True)
    report.mode = "plan"
    if args.json:
        out.json(report.to_dict())
    else:
        out.plan(report)
        if args.diff:
            out.diff(report)
    return 2 if (args.detailed_exitcode and report.changed) else 0
