"""livemount enable PROFILE: keep a validated copy of PROFILE under /etc/livemount, applied at every boot."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--check", action="store_true", help="predict only: write nothing at all")
    p.add_argument("--diff", action="store_true", help="show what boot would mount, before -> after (fstab-like lines)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 once the enabled copy equals PROFILE (1 on an error, such as an fstab line for one of its targets)."""
    import os

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable

    from .common import check_root, load_profile_arg, make_system
    from .durable import own_namespace_only, show_enable

    own_namespace_only(args, "enable profile %s" % args.profile)
    if not args.check:
        check_root()
    prof, data = load_profile_arg(args.profile, make_system(args), args.state_dir)
    source = os.path.abspath(args.profile) if os.path.exists(args.profile) else "profile %s as applied" % prof.name
    report = enable.enable(prof, data, config=args.config_dir, check=args.check, source=source)
    if args.json:
        out.json(report.to_dict())
    else:
        show_enable(out, args, report)
    return 0
