"""livemount import FSTAB: convert fstab lines to a profile (YAML on stdout)."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("fstab", help="fstab-format file ('-' for stdin)")
    p.add_argument("--name", default="imported", help="profile name (default: imported)")
    p.add_argument("--json", action="store_true", help="JSON instead of YAML")


def run(args, out):
    """Return 0 after printing the profile; skipped lines are reported on stderr."""
    import sys

    from .common import engine_module

    fstab = engine_module("fstab")
    text = sys.stdin.read() if args.fstab == "-" else open(args.fstab, encoding="utf-8").read()
    try:
        mounts, skipped = fstab.fstab_to_mounts(fstab.parse_fstab(text))
    except ValueError as exc:
        raise engine_module("errors").ProfileError([(None, None, "fstab", "%s: %s" % (args.fstab, exc))])
    doc = {"name": args.name, "mounts": mounts}
    engine_module("profile").load_profile(doc)  # what we print must be a valid profile
    for lineno, why in skipped:
        out.info("%s:%d: skipped: %s" % (args.fstab, lineno, why))
    if args.json:
        out.json(doc)
    else:
        import yaml

        out.text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    return 0
