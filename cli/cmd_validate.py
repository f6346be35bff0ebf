"""livemount validate PROFILE: schema and rules, nothing touched."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("profile", help="profile file (YAML or JSON)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def run(args, out):
    """Return 0 when the profile is valid (errors raise ProfileError -> 1)."""
    from .common import load_profile

    prof, _ = load_profile(args.profile)
    if args.json:
        out.json({"valid": True, "profile": prof.name, "entries": len(prof.entries)})
    else:
        out.info("%s: profile %s is valid (%d entries)" % (args.profile, prof.name, len(prof.entries)))
    return 0
