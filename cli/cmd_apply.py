"""livemount apply PROFILE|PLANFILE: show the plan, confirm, apply exactly it with undo, summarize."""


def add_arguments(p):
    """Add this command's options."""
    from .flow import add_apply_options

    p.add_argument("profile", metavar="PROFILE",
                   help="profile file (YAML or JSON), the name of an applied profile, or a plan file saved by"
                        " `livemount plan --out` (applied as it is, without asking)")
    add_apply_options(p)
    p.add_argument("--on-error", choices=["rollback", "continue"], help="override the profile's on_error")
    p.add_argument("--enable", action="store_true",
                   help="also keep the profile enabled: applied again at every boot (livemount enable)")


def run(args, out):
    """Return 0 when the table matches the profile afterwards, 1 otherwise (declined, failed, refused)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

    from . import flow
    from .common import load_profile_arg, make_system, saved_plan

    system = make_system(args)
    saved = saved_plan(args.profile)
    if saved is not None:
        return _apply_saved(args, out, saved, system)
    prof, data = load_profile_arg(args.profile, system, args.state_dir)
    finish = None
    if args.enable:
        _enable(args, prof, data, check=True)  # refused (an fstab line for a target...) before anything is mounted
        finish = lambda report: _enable_after(out, args, prof, data, report)  # noqa: E731
    targets = flow.targets(args)
    return flow.run(args, out, lambda: engine.reconcile(prof, system, root=args.state_dir, check=True, targets=targets),
                    lambda expect, progress, on_plan: engine.reconcile(
                        prof, system, root=args.state_dir, on_error=args.on_error, profile_data=data,
                        progress=progress, expect=expect, targets=targets, on_plan=on_plan),
                    flow.changes_question("Apply", lambda report: "to " + report.namespace), finish=finish)


def _enable(args, prof, data, check):
    """Return the EnableReport of enabling the profile just applied (apply --enable)."""
    import os

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable

    from .durable import own_namespace_only

    own_namespace_only(args, "enable profile %s" % prof.name)
    source = os.path.abspath(args.profile) if os.path.exists(args.profile) else "profile %s as applied" % prof.name
    return enable.enable(prof, data, config=args.config_dir, check=check, source=source)


def _enable_after(out, args, prof, data, report):
    """Return the --json keys of apply --enable after the apply (or its check): the profile enabled unless it failed."""
    if report.failed:
        return {}
    enabled = _enable(args, prof, data, check=args.check)
    if args.json:
        return {"enable": enabled.to_dict()}
    from .durable import show_enable

    show_enable(out, args, enabled)
    return {}


def _apply_saved(args, out, saved, system):
    """Apply a saved plan as it is (it was reviewed when it was made): no question, refused if anything changed."""
    import time

    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

    from .common import check_root, file_sha256
    from .describe import plural

    args.verb = "apply a saved plan"
    prof = load_profile(saved.profile_data)
    if saved.profile_file and saved.profile_sha256 and file_sha256(saved.profile_file) not in (
            None, saved.profile_sha256):
        out.warning("%s changed since the plan was made; the plan applies the profile as it was then"
                    % saved.profile_file)
    steps = len([c for c in saved.changes if c["action"] not in ("keep", "conflict")])
    if not args.json:
        out.info("Applying the plan for %s in %s made %s by %s: %s" % (saved.profile, saved.namespace, saved.made_at,
                                                                        saved.by, plural(steps, "change")))
    if not args.check:
        check_root()
    started = time.monotonic()
    with out.live_progress() as progress:
        report = engine.reconcile(prof, system, root=args.state_dir, check=args.check, on_error=args.on_error,
                                  profile_data=saved.profile_data, progress=None if args.json else progress,
                                  expect=saved.expected(), targets=list(saved.targets) or None)
    if args.json:
        out.json(report.to_dict())
    elif args.check:
        out.plan(report)
    else:
        out.applied(report, time.monotonic() - started)
    return 1 if report.failed else 0
