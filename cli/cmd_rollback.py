"""livemount rollback NAME [--to N]: plan, confirm and apply an earlier profile of NAME from its history."""


def add_arguments(p):
    """Add this command's options."""
    from .flow import add_apply_options

    p.add_argument("name", metavar="NAME", help="profile name (as applied; see livemount history NAME)")
    p.add_argument("--to", type=int, metavar="N", help="the history record to go back to (default: the one before"
                                                       " the newest)")
    add_apply_options(p, "roll back")


def run(args, out):
    """Return 0 when the table matches the earlier profile afterwards, 1 otherwise (declined, failed, refused)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors, history
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

    from . import flow
    from .common import make_system

    system = make_system(args)
    _, records = engine.history_of(args.name, system, root=args.state_dir)
    try:
        record = history.pick(records, args.to)
    except LookupError as exc:
        raise errors.LivemountError("cannot roll back %s: %s" % (args.name, exc))
    prof = load_profile(record.profile)
    targets = flow.targets(args)
    if not args.json:
        out.info("Rolling %s back to record %d (applied %s by %s)" % (args.name, record.number, record.applied_at,
                                                                     record.by))
    return flow.run(args, out, lambda: engine.reconcile(prof, system, root=args.state_dir, check=True, targets=targets),
                    lambda expect, progress, on_plan: engine.reconcile(
                        prof, system, root=args.state_dir, profile_data=record.profile, progress=progress,
                        expect=expect, targets=targets, on_plan=on_plan),
                    flow.changes_question("Roll %s back to record %d:" % (args.name, record.number),
                                          lambda report: "in " + report.namespace),
                    title=lambda r: "Rollback of %s to record %d in %s" % (args.name, record.number, r.namespace),
                    verb="Rolled back",
                    word="roll back")
