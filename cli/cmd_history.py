"""livemount history NAME: the profiles NAME was applied with here, newest last (what rollback can go back to)."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("name", metavar="NAME", help="profile name (as applied; see livemount status)")
    p.add_argument("--json", action="store_true", help="the records on stdout as JSON, each with its profile")
    p.add_argument("--show", type=int, metavar="N", help="print the profile of record N (YAML; JSON with --json)")


def run(args, out):
    """Return 0 after listing the history (or printing one record's profile)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors, history

    from .common import make_system

    ns, records = engine.history_of(args.name, make_system(args), root=args.state_dir)
    if args.show is not None:
        try:
            record = history.pick(records, args.show)
        except LookupError as exc:
            raise errors.LivemountError("cannot show record %d of %s: %s" % (args.show, args.name, exc))
        if args.json:
            out.json(record.profile)
        else:
            import yaml

            out.text(yaml.safe_dump(record.profile, sort_keys=False, default_flow_style=None))
        return 0
    if args.json:
        out.json({"profile": args.name, "namespace": ns, "records": [r.to_dict() for r in records]})
    else:
        out.history(args.name, ns, records)
    return 0
