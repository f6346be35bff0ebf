"""livemount overlay changes|reset|prune: what a mounted overlay changed, discarding it (docs/overlay-reset.md), and
removing the old uppers and works that replaces kept aside."""


def add_arguments(p):
    """Add this command's actions and options."""
    sub = p.add_subparsers(dest="overlay_action", metavar="ACTION")
    sub.required = True
    c = sub.add_parser("changes", help="list what the overlay changed relative to its lower layers",
                       description="List what the overlay mounted at TARGET added, modified, deleted, renamed"
                                   " or made opaque, by walking only its upper directory.")
    c.add_argument("target", metavar="TARGET", help="mount point of the overlay")
    c.add_argument("--json", action="store_true", help="the full report, every path, on stdout")
    c.add_argument("--freeze", action="store_true",
                   help="make the mount read-only while listing, for an exact snapshot (fails if a file is open"
                        " for writing)")
    c.add_argument("--all", action="store_true", help="list every path inside added and deleted directories too")
    c.add_argument("--tree", action="store_true", help="show the changes as a directory tree instead of a table")
    r = sub.add_parser("reset", help="discard what the overlay changed (all, or at PATHS), swapping in a fresh upper",
                       description="Discard the changes of the overlay mounted at TARGET, all of them or those at"
                                   " and below PATHS (paths inside the overlay), without ever writing into a mounted"
                                   " layer: the overlay is frozen, a new one on a fresh upper (holding the kept"
                                   " changes) is swapped in, and the old upper and work are kept aside.")
    r.add_argument("target", metavar="TARGET", help="mount point of the overlay")
    r.add_argument("paths", metavar="PATHS", nargs="*", help="paths inside the overlay to reset (default: all)")
    r.add_argument("--check", action="store_true", help="only show what would be discarded; change nothing")
    r.add_argument("--json", action="store_true", help="the report on stdout as JSON")
    r.add_argument("--discard", action="store_true",
                   help="delete the old upper and work afterwards, once no mount of the old overlay is left")
    r.add_argument("--force", action="store_true",
                   help="reset an overlay no livemount profile owns (no profile state; its own lock and journal,"
                        " recovering a killed forced reset of it first)")
    from .overlay_prune import add_arguments as prune_arguments

    prune_arguments(sub.add_parser(
        "prune", help="remove the old uppers and works that overlay replaces kept aside, once no mount uses them",
        description="Remove the old upper and work directories (NAME.livemount-TIME) that replacing an overlay"
                    " kept aside (upper_policy fresh), of every profile or of NAME, once no overlay mount in any"
                    " mount namespace still uses them."))


def run(args, out):
    """Return 0 after printing the changes (changes) or what was (or would be) discarded (reset)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc

    from .common import check_root, make_system

    if args.overlay_action == "prune":
        from .overlay_prune import run as prune

        return prune(args, out)
    if args.overlay_action == "reset":
        from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.reset import reset

        if not args.check:
            check_root()
        report = reset(args.target, args.paths, system=make_system(args), root=args.state_dir, check=args.check,
                       discard=args.discard, force=args.force, progress=out.progress)
        for warning in report["warnings"]:
            out.warning(warning)
        if args.json:
            out.json(report)
        else:
            out.overlay_reset(report, oc.collapse(report["discarded"]))
        return 0
    report = oc.report(args.target, freeze=args.freeze, system=make_system(args))
    for warning in report["warnings"]:
        out.info("warning: " + warning)
    if args.json:
        out.json(report)
    else:
        items = report["changes"] if args.all else oc.collapse(report["changes"])
        out.overlay_changes(report["target"], items, tree=args.tree)
    return 0
