"""livemount status [NAME]: owned entries and their live health; for enabled profiles, whether boot would change anything."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("name", nargs="?", metavar="NAME", help="one profile name (default: every profile with state here)")
    p.add_argument("--json", action="store_true", help="machine-readable status on stdout")


def run(args, out):
    """Return 0 when every owned entry is healthy and every enabled copy is live, 1 otherwise."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable

    from .common import make_system

    system = make_system(args)
    rows = engine.status(system, root=args.state_dir, name=args.name)
    here = args.namespace is None and args.pid is None
    if here:  # enabled profiles are applied in the namespace systemd runs in
        rows = enable.annotate_status(rows, system, config=args.config_dir, root=args.state_dir, only=args.name)
    if args.name and not any(_known(r) for r in rows if r["profile"] == args.name):
        engine.status(system, root=args.state_dir, name=args.name, known_only=True)  # raises: a name nobody knows
    if here:  # the asides are paths of this namespace's view
        _add_asides(rows, engine.state_root(args.state_dir), system.namespace_id())
    if args.json:
        out.json({"profiles": rows})
    else:
        out.status(rows)
    healthy = all(e["health"] == "ok" for r in rows for e in r["entries"]) and not any(r["interrupted"] for r in rows)
    return 0 if healthy and all(_durable_ok(r) for r in rows) else 1


def _known(row):
    """Return True when a status row is about something: state, a journal, leftovers, or an enabled copy."""
    return bool(row["applied_at"] or row["entries"] or row["interrupted"] or row.get("leftovers") or row.get("enabled"))


def _durable_ok(row):
    """Return True unless the enabled copy differs from the live table, cannot be read, or failed at this boot."""
    copy = row.get("enabled_copy")
    boot = row.get("boot")
    return (copy is None or (copy.get("matches_live") and not copy.get("fstab_conflicts"))) and \
        (boot is None or boot["result"] == "applied")


def _add_asides(rows, root, namespace_id):
    """Add to each status row the old uppers and works its overlays kept aside (overlay/asides.py)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import asides

    found = asides.find(root, namespace_id)
    for r in rows:
        mine = [{k: a[k] for k in ("target", "role", "origin", "path", "bytes")} for a in found
                if a["profile"] == r["profile"]]
        if mine:
            r["asides"] = mine
