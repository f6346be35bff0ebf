"""livemount overlay prune [NAME]: show the old uppers and works kept aside, confirm, remove the unused ones."""


def add_arguments(p):
    """Add the options of `overlay prune`."""
    p.add_argument("name", nargs="?", metavar="NAME", help="only the overlays of profile NAME")
    p.add_argument("--check", action="store_true", help="only show what would be removed; change nothing")
    p.add_argument("--json", action="store_true", help="the report on stdout as JSON")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")


def run(args, out):
    """Return 0 after removing (or, with --check, listing) the asides no mount uses; 1 when declined."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import asides

    from .common import check_root, make_system
    from .describe import human_bytes, plural
    from .flow import confirm

    if args.namespace is not None or args.pid is not None:
        raise errors.LivemountError("cannot prune overlay asides of another mount namespace: their paths are that"
                                    " namespace's; run livemount overlay prune there")
    root, ns = engine.state_root(args.state_dir), make_system(args).namespace_id()
    if args.name:
        engine.status(make_system(args), root=args.state_dir, name=args.name, known_only=True)  # a typo is an error
    preview = asides.prune(root, ns, args.name, check=True)
    if args.check or not preview["removed"] or args.json and not args.yes:
        return _show(out, args, preview)
    if not args.json:
        out.prune(preview)
    question = "Remove %s (%s)?" % (plural(len(preview["removed"]), "directory", "directories"),
                                    human_bytes(preview["bytes"]))
    if not args.yes and not confirm(out, question, "prune"):
        return 1
    check_root()
    report = asides.prune(root, ns, args.name)
    if args.json:
        out.json(report)
    else:
        out.info("Pruned: %s removed (%s), %d kept" % (plural(len(report["removed"]), "directory", "directories"),
                                                         human_bytes(report["bytes"]), len(report["kept"])))
    return 0


def _show(out, args, report):
    if args.json:
        out.json(report)
    else:
        out.prune(report)
    return 0
