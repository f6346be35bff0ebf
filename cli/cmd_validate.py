"""livemount validate PROFILE: schema and rules, nothing touched; problems as file:line: path: message."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 when the profile is valid, 1 after listing every problem with its line."""
    import os

    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.locate import locate

    from .common import load_profile_arg, make_system

    try:
        prof, _ = load_profile_arg(args.profile, make_system(args), args.state_dir)
    except errors.ProfileError as exc:
        text = _read(args.profile) if os.path.isfile(args.profile) else None
        items = locate(exc.problems, text)
        if args.json:
            doc = exc.to_dict()
            doc["problems"] = items
            out.json({"valid": False, "file": args.profile, "error": doc})
        else:
            out.problems(args.profile, items)
            out.error("cannot validate %s: %d problem%s" % (args.profile, len(items), "" if len(items) == 1 else "s"))
        return 1
    if args.json:
        out.json({"valid": True, "file": args.profile, "profile": prof.name, "entries": len(prof.entries)})
    else:
        out.info("%s: profile %s is valid (%d entries)" % (args.profile, prof.name, len(prof.entries)))
    return 0


def _read(path):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError

    from .common import read_text

    try:
        return read_text(path)
    except ProfileError:
        return None
