"""What enable, disable, watch and systemd share: their own namespace only, and how an enable report reads."""


def own_namespace_only(args, what):
    """Raise LivemountError when --namespace/--pid asks to `what` in another mount namespace."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError

    if getattr(args, "namespace", None) or getattr(args, "pid", None) is not None:
        raise LivemountError("cannot %s in another mount namespace: enabled profiles are applied at boot in the "
                             "namespace systemd runs in; drop --namespace/--pid" % what)


def show_enable(out, args, report):
    """Return None after printing an EnableReport: a message on stderr, the diff on stdout (--diff), warnings."""
    verb = {("enable", True): "Enabled", ("enable", False): "Already enabled, unchanged:",
            ("disable", True): "Disabled", ("disable", False): "Not enabled, nothing to disable:"}
    words = verb[(report.action, report.changed)]
    if report.mode == "check" and report.changed:
        words = "Would " + words[:-1].lower()  # Enabled -> Would enable
    where = "" if report.action == "disable" and not report.changed else " (%s)" % report.path
    out.info("%s %s%s" % (words, report.profile, where))
    if args.diff:
        out.diff(report)
    for w in report.warnings:
        out.warning(w)
