"""livemount watch [NAME...]: follow the live mount table, one line per change of an enabled profile's condition."""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("names", nargs="*", metavar="NAME", help="profiles to watch (default: every enabled profile)")
    p.add_argument("--repair", action="store_true",
                   help="apply a drifted profile again (plan, lock, journal, rollback as any apply); a conflict is "
                        "reported, never fought")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    p.add_argument("--once", action="store_true",
                   help="check once, print, and exit (1 unless every profile is in sync)")
    p.add_argument("--interval", type=float, default=60.0, metavar="SECONDS",
                   help="also check this often without a mount table change, for symlinks (default 60)")
    p.add_argument("--burst", type=int, default=3, metavar="N", help="at most N repairs of a profile ... (default 3)")
    p.add_argument("--window", type=float, default=60.0, metavar="SECONDS", help="... within SECONDS (default 60)")


def run(args, out):
    """Return 0 when stopped by SIGTERM/SIGINT (with --once: 0 when every profile is in sync, else 1)."""
    import json

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import watch

    from .common import check_root, make_system
    from .durable import own_namespace_only

    own_namespace_only(args, "watch profiles")
    if args.repair:
        check_root()
    watcher = watch.Watcher(make_system(args), args.names, config=args.config_dir, root=args.state_dir,
                            repair=args.repair, limit=watch.RepairLimit(max(1, args.burst), max(0.0, args.window)))

    def emit(event):
        """Return None after printing one event as one line."""
        out.text((json.dumps(event.to_dict(), sort_keys=True) if args.json else event.line()) + "\n")

    if args.once:
        events = watcher.check()
        for event in events:
            emit(event)
        return 0 if all(v == ("in_sync",) for v in watcher.last.values()) and watcher.last else 1
    return _loop(watcher, emit, max(0.05, args.interval))


def _loop(watcher, emit, interval):
    """Return 0 after watch.run ends on SIGTERM, SIGINT or SIGHUP (systemctl stop, Ctrl-C)."""
    import os
    import signal

    from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import watch
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.mountwatch import MountTableWaiter

    stopped = []
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w)  # the signal wakes poll(2); the handler only says so: never mid-repair
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopped.append(True))
    waiter = MountTableWaiter()
    waiter.add_wakeup(r)
    watch.run(watcher, waiter, emit, lambda: bool(stopped), interval=interval)
    return 0
