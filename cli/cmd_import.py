"""livemount import FSTAB: convert fstab lines to a profile (YAML on stdout)."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("fstab", help="fstab-format file ('-' for stdin)")
    p.add_argument("--name", default="imported", help="profile name (default: imported)")
    p.add_argument("--json", action="store_true", help="JSON instead of YAML")


def run(args, out):
    """Return 0 after printing the profile; lines left out are reported on stderr."""
    import sys

    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import fstab

    try:
        text = sys.stdin.read() if args.fstab == "-" else _read(args.fstab)
        lines = fstab.parse_fstab(text)
        mounts, skipped = fstab.fstab_to_mounts(lines)
    except (OSError, ValueError) as exc:
        cause = exc.strerror[:1].lower() + exc.strerror[1:] if isinstance(exc, OSError) else str(exc)
        raise errors.ProfileError([(None, None, "fstab", "cannot import %s: %s" % (args.fstab, cause))])
    # fstab_to_mounts makes one mount per line it does not skip, in order.
    left_out = {n for n, _ in skipped}
    linenos = [line.lineno for line in lines if line.lineno not in left_out]
    doc, dropped = _valid_profile(args.name, mounts, linenos)
    for lineno, why in sorted(skipped + dropped):
        out.info("%s:%d: skipped: %s" % (args.fstab, lineno, why))
    if args.json:
        out.json(doc)
    else:
        import yaml

        out.text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    return 0


def _read(path):
    from .common import read_text

    return read_text(path, "fstab file")


def _valid_profile(name, mounts, linenos):
    """Return (profile dict, [(lineno, why)]): every mount a profile can hold; the others with the reason.

    A real fstab always has lines no live profile may hold (`/` itself, for
    one): they are left out like swap lines, not a reason to refuse the rest.
    """
    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile

    dropped = []
    while True:
        doc = {"name": name, "mounts": mounts}
        try:
            profile.load_profile(doc)  # what we print must be a valid profile
            return doc, dropped
        except errors.ProfileError as exc:
            bad = sorted({p[0] for p in exc.problems if p[0] is not None})
            if not bad:
                raise  # a problem of the whole profile (its name): nothing to leave out
            for i in bad:
                # "entry 0 (/): target: cannot be / itself" -> "target: cannot be / itself"
                why = "; ".join(p[3].split("): ", 1)[-1] for p in exc.problems if p[0] == i)
                dropped.append((linenos[i], why))
            mounts = [m for i, m in enumerate(mounts) if i not in bad]
            linenos = [n for i, n in enumerate(linenos) if i not in bad]
