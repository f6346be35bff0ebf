"""livemount status [NAME]: owned entries and their live health."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("name", nargs="?", metavar="NAME", help="one profile name (default: every profile with state here)")
    p.add_argument("--json", action="store_true", help="machine-readable status on stdout")


def run(args, out):
    """Return 0 when every owned entry is healthy, 1 otherwise."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

    from .common import make_system

    rows = engine.status(make_system(args), root=args.state_dir, name=args.name, known_only=True)
    if args.json:
        out.json({"profiles": rows})
    else:
        out.status(rows)
    healthy = all(e["health"] == "ok" for r in rows for e in r["entries"]) and not any(r["interrupted"] for r in rows)
    return 0 if healthy else 1
