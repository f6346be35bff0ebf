"""livemount plan PROFILE: what apply would do, computed by the same code path, touching nothing."""


def add_arguments(p):
    """Add this command's options."""
    from .flow import add_target_option

    p.add_argument("profile", metavar="PROFILE", help="profile file (YAML or JSON), or the name of an applied profile")
    p.add_argument("--json", action="store_true", help="machine-readable plan on stdout")
    p.add_argument("--diff", action="store_true", help="also show the owned table before -> after (fstab-like lines)")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")
    p.add_argument("--out", metavar="FILE",
                   help="also save the plan to FILE: `livemount apply FILE` applies exactly it, or refuses with"
                        " what changed since")
    add_target_option(p, "plan")


def run(args, out):
    """Return 0, or 2 with --detailed-exitcode when the plan has changes."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors

    from . import flow
    from .common import load_profile_arg, make_system

    system = make_system(args)
    prof, data = load_profile_arg(args.profile, system, args.state_dir)
    targets = flow.targets(args)
    try:
        # Only a saved plan (--out) asks for the fingerprint: without it no directory is opened to see whether it
        # is empty (reconcile's `fingerprinted`), what no plan decision depends on.
        report = engine.reconcile(prof, system, root=args.state_dir, check=True, targets=targets,
                                  fingerprinted=bool(args.out))
    except errors.PlanError as exc:
        if getattr(exc, "report", None) is not None:
            exc.report.mode = "plan"  # the conflicts are shown with the plan they stopped
        raise
    report.mode = "plan"
    if args.out:
        _save(args, out, report, data, targets)
    flow.show(out, args, report)
    return 2 if (args.detailed_exitcode and report.changed) else 0


def _save(args, out, report, data, targets):
    import os

    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors, history, planfile, state

    from .common import file_sha256

    profile_file = os.path.abspath(args.profile) if os.path.isfile(args.profile) else None
    doc = planfile.document(report, data, state.now(), history.who(), targets or (),
                            profile_file, file_sha256(profile_file) if profile_file else None)
    try:
        state.atomic_write(os.path.abspath(args.out), doc)
    except OSError as exc:
        raise errors.LivemountError("cannot save the plan to %s: %s" % (args.out, exc.strerror))
    out.info("Saved the plan to %s: `livemount apply %s` applies exactly it" % (args.out, args.out))
