"""livemount destroy NAME: remove everything profile NAME owns in this namespace."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("name", metavar="NAME", help="profile name (as applied; see livemount status)")
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 once nothing of NAME is left."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

    from .common import check_root, make_system

    if not args.check:
        check_root()
    report = engine.destroy(args.name, make_system(args), root=args.state_dir, check=args.check)
    if args.json:
        out.json(report.to_dict())
    else:
        out.plan(report, title="Destroy %s in %s" % (report.profile, report.namespace))
        for w in report.warnings:  # e.g. a gone namespace whose state was forgotten
            out.warning(w)
    return 1 if report.failed else 0
