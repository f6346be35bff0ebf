"""livemount systemd install|uninstall|units|apply: the units that apply enabled profiles at boot."""


def add_arguments(p):
    """Add this command's subcommands and options."""
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    inst = sub.add_parser("install", help="install livemount@.service, livemount-watch.service and the generator")
    inst.add_argument("--root", default="/", metavar="DIR", help="install into the tree at DIR (an image being built)")
    inst.add_argument("--exec", dest="executable", metavar="PATH",
                      help="the livemount command the units run (default: the one on PATH)")
    inst.add_argument("--no-reload", action="store_true", help="do not run systemctl daemon-reload")
    rm = sub.add_parser("uninstall", help="remove what install installed")
    rm.add_argument("--root", default="/", metavar="DIR", help="remove from the tree at DIR")
    rm.add_argument("--no-reload", action="store_true", help="do not run systemctl daemon-reload")
    for sp in (inst, rm):
        sp.add_argument("--check", action="store_true", help="predict only: write nothing at all")
        sp.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    units = sub.add_parser("units", help="show the drop-ins and links the generator makes for the enabled profiles")
    units.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    apply = sub.add_parser("apply", help="apply the enabled copy of NAME (what livemount@NAME.service runs)")
    apply.add_argument("name", metavar="NAME", help="an enabled profile")


def run(args, out):
    """Return 0 on success, 1 on an error (for apply: a failed apply, rolled back)."""
    from .durable import own_namespace_only

    own_namespace_only(args, "run systemd %s" % args.action)
    return {"install": _install, "uninstall": _uninstall, "units": _units, "apply": _apply}[args.action](args, out)


def _install(args, out):
    import os
    import shutil
    import sys

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import installer, store
    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError

    exe = args.executable or shutil.which("livemount")
    if not exe:
        raise LivemountError("cannot install the systemd units: no livemount command on PATH; pass --exec PATH")
    command = [os.path.abspath(exe), "--config-dir", store.config_root(args.config_dir)]
    if args.state_dir:
        command += ["--state-dir", os.path.abspath(args.state_dir)]
    done = installer.install(installer.files(command, sys.executable, store.config_root(args.config_dir), args.root),
                             check=args.check)
    return _report(args, out, done)


def _uninstall(args, out):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import installer

    return _report(args, out, installer.uninstall(args.root, check=args.check))


def _report(args, out, done):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import installer

    changed = any(d["action"] != "keep" for d in done)
    warnings = []
    if changed and not args.check and not args.no_reload and args.root in ("", "/") and installer.systemd_running():
        problem = installer.daemon_reload()
        warnings += [problem] if problem else []
    if args.json:
        out.json({"changed": changed, "mode": "check" if args.check else "apply", "files": done,
                  "warnings": warnings})
        return 0
    words = {"create": "created", "update": "updated", "remove": "removed", "keep": "unchanged"}
    for d in done:
        verb = words[d["action"]]
        if args.check and d["action"] != "keep":
            verb = "would " + d["action"]
        out.info("%s %s" % (verb, d["path"]))
    for w in warnings:
        out.warning(w)
    return 0


def _units(args, out):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import generator, installer

    files, links, problems = generator.render(args.config_dir, installer.TEMPLATE_PATH)
    if args.json:
        out.json({"files": files, "links": links, "problems": problems})
    else:
        for rel, text in sorted(files.items()):
            out.text("# %s\n%s\n" % (rel, text))
        for rel, target in sorted(links.items()):
            out.text("# link %s -> %s\n" % (rel, target))
        for problem in problems:
            out.warning(problem)
    return 1 if problems else 0


def _apply(args, out):
    import time

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import atboot
    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError

    from .common import check_root, make_system

    check_root()
    started = time.monotonic()
    try:
        report = atboot.apply_enabled(args.name, make_system(args), config=args.config_dir, root=args.state_dir,
                                      progress=out.progress)
    except LivemountError as exc:
        exc.report = None  # the journal gets the error and its conflicts, one line each, not the plan's table
        raise
    out.applied(report, time.monotonic() - started)
    return 1 if report.failed else 0
