"""livemount overlay changes TARGET: what a mounted overlay changed, from its upper directory alone."""


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


def run(args, out):
    """Return 0 after printing the changes (table, or JSON with --json)."""
    from .common import engine_module, make_sys

    oc = engine_module("overlay_changes")
    report = oc.report(args.target, freeze=args.freeze, sys=make_sys())
    for warning in report["warnings"]:
        out.info("warning: " + warning)
    if args.json:
        out.json(report)
    else:
        items = report["changes"] if args.all else oc.collapse(report["changes"])
        out.overlay_changes(report["target"], items)
    return 0
