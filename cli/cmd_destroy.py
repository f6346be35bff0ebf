"""livemount destroy NAME: show what profile NAME owns here, confirm, remove it all (or --target parts)."""


def add_arguments(p):
    """Add this command's options."""
    from .flow import add_apply_options

    p.add_argument("name", metavar="NAME", help="profile name (as applied; see livemount status)")
    add_apply_options(p, "destroy")


def run(args, out):
    """Return 0 once nothing of NAME (or of its --target paths) is left; 1 when declined, refused or failed."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

    from . import flow
    from .common import check_root, make_system
    from .describe import count_words, counts

    if not args.check:
        check_root()
    system = make_system(args)
    targets = flow.targets(args)

    def question(report):
        return "Destroy %s in %s: %s?" % (report.profile, report.namespace, count_words(
            {k: v for k, v in counts(report.changes).items() if k != "keep"}))

    return flow.run(args, out, lambda: engine.destroy(args.name, system, root=args.state_dir, check=True,
                                                      targets=targets, known_only=True),
                    lambda expect, progress, on_plan: engine.destroy(
                        args.name, system, root=args.state_dir, expect=expect, targets=targets, known_only=True,
                        progress=progress, on_plan=on_plan),
                    question, title=lambda r: "Destroy %s in %s" % (r.profile, r.namespace), verb="Destroyed",
                    word="destroy")
