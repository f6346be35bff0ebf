"""livemount disable NAME: stop applying profile NAME at boot; with --now also remove what it mounted."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("name", metavar="NAME", help="profile name (see livemount status)")
    p.add_argument("--now", action="store_true", help="also remove everything the profile owns now (livemount destroy)")
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--diff", action="store_true", help="show what boot would no longer mount (fstab-like lines)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 once NAME is not enabled (and, with --now, owns nothing)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable

    from .common import check_root, make_system
    from .durable import own_namespace_only, show_enable

    own_namespace_only(args, "disable profile %s" % args.name)
    if not args.check:
        check_root()
    destroyed = None
    if args.now:  # mounts first: if removing them fails, the profile stays enabled, as it was
        destroyed = engine.destroy(args.name, make_system(args), root=args.state_dir, check=args.check)
    report = enable.disable(args.name, config=args.config_dir, check=args.check)
    if args.json:
        doc = report.to_dict()
        if destroyed is not None:
            doc["destroy"] = destroyed.to_dict()
        out.json(doc)
        return 0
    if destroyed is not None:
        out.plan(destroyed, title="Destroy %s in %s" % (destroyed.profile, destroyed.namespace))
        for w in destroyed.warnings:
            out.warning(w)
    show_enable(out, args, report)
    return 1 if destroyed is not None and destroyed.failed else 0
