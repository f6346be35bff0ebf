"""livemount show [PATH]: the live mount table, with livemount's ownership marked."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("path", nargs="?", metavar="PATH", help="only mounts at or below PATH (and the one holding it)")
    p.add_argument("--tree", action="store_true", help="draw the mounts as a tree of parents and children")
    p.add_argument("-t", "--type", metavar="TYPE", help="only filesystems of these types (comma-separated)")
    p.add_argument("--profile", metavar="NAME", help="only mounts profile NAME owns")
    p.add_argument("--json", action="store_true", help="the mounts as JSON (the mount_profile_info `mounts` list)")


def run(args, out):
    """Return 0 after printing the matching mounts (1 when a filter matched nothing)."""
    from .common import engine_module, make_sys

    system = make_sys()
    _, rows = engine_module("inventory").read(system, engine_module("engine").state_root(args.state_dir))
    rows = select(rows, args.path, args.type, args.profile, engine_module("paths"))
    if args.json:
        out.json({"namespace": system.namespace_id(), "mounts": rows})
    else:
        out.mounts(rows, tree=args.tree, fs_options=bool(args.verbose))
    return 0 if rows or not (args.path or args.type or args.profile) else 1


def select(rows, path=None, types=None, profile=None, paths=None):
    """Return the mount dicts that pass the filters, in table order.

    PATH keeps the mounts at or below it and, like findmnt, the visible mount
    holding PATH when PATH is not itself a mount point.
    """
    if path:
        import os

        path = os.path.abspath(path)  # a relative PATH names what it names from here, as in findmnt
        holder = None
        for m in rows:
            if m["visible"] and paths.is_at_or_under(path, m["target"]):
                if holder is None or len(m["target"]) >= len(holder["target"]):
                    holder = m
        inside = [m for m in rows if paths.is_at_or_under(m["target"], path)]
        rows = inside if holder is None or holder in inside else [holder] + inside
    if types:
        wanted = {t.strip() for t in types.split(",") if t.strip()}
        rows = [m for m in rows if m["fstype"] in wanted]
    if profile:
        rows = [m for m in rows if m["owner"] == profile]
    return rows
