"""livemount show [PATH]: the live mount table, like findmnt, with livemount's ownership marked."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("path", nargs="?", metavar="PATH", help="only mounts at or below PATH (and the one holding it)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--tree", action="store_true", help="draw the mounts as a tree of parents and children")
    form.add_argument("-l", "--list", action="store_true",
                      help="one line per mount, never wrapped or folded (for grep), like findmnt --list")
    form.add_argument("-r", "--raw", action="store_true",
                      help="columns separated by one space, blanks in values escaped as \\x20, like findmnt --raw")
    form.add_argument("--json", action="store_true", help="the mounts as JSON (the mount_profile_info `mounts` list)")
    p.add_argument("-o", "--output", metavar="LIST",
                   help="the columns to print, comma-separated: TARGET, SOURCE, FSTYPE, OPTIONS, VFS-OPTIONS, "
                        "FS-OPTIONS, PROPAGATION, OWNER, ID, PARENT, MAJ:MIN, ROOT")
    p.add_argument("-n", "--noheadings", action="store_true", help="no header line")
    p.add_argument("-t", "--type", metavar="TYPE", help="only filesystems of these types (comma-separated)")
    p.add_argument("--profile", metavar="NAME", help="only mounts profile NAME owns")


def run(args, out):
    """Return 0 after printing the matching mounts (1 when a filter matched nothing or PATH does not exist)."""
    import os

    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors, inventory, paths, state

    from .common import make_system
    from .view_mounts import parse_columns

    try:
        columns = parse_columns(args.output) if args.output else None
    except ValueError as exc:
        raise errors.LivemountError("cannot show columns %s: %s" % (args.output, exc))
    # (In another namespace, PATH is that namespace's: not ours to check here.)
    if args.path and args.namespace is None and args.pid is None and not os.path.lexists(args.path):
        raise errors.LivemountError("cannot show the mounts at %s: no such file or directory" % args.path)
    system = make_system(args)
    root = state.state_root(args.state_dir)  # not engine's: show needs no planner
    if args.json and not (args.path or args.type or args.profile):
        # Printed as read, each mount parsed when its turn comes: a table of 10,000 is never held whole. To a
        # pipe, each line is written straight as its JSON text, no dict in between (inventory.stream_json).
        doc = {"namespace": system.namespace_id()}
        if out.json_one_line:
            out.json_items(doc, "mounts", inventory.stream_json(system, root), encoded=True)
        else:
            out.json_items(doc, "mounts", inventory.stream(system, root))
        return 0
    _, rows = inventory.read(system, root)
    rows = select(rows, args.path, args.type, args.profile, paths)
    if args.json:
        out.json({"namespace": system.namespace_id(), "mounts": rows})
    else:
        form = "tree" if args.tree else "list" if args.list else "raw" if args.raw else "table"
        out.mounts(rows, columns=columns, form=form, headings=not args.noheadings)
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
