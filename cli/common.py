"""What every subcommand shares: loading a profile, the Sys, the error-to-exit-status rule.

The engine is imported inside the functions that use it, never at the top of
a CLI module: `livemount --help` then loads no engine or YAML.
"""

import contextlib
import gc
import os


def read_bytes(path, what="profile"):
    """Return the bytes of regular file `path`; ProfileError saying why not (forms.read_regular)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.forms import read_regular

    return read_regular(path, what)


def read_text(path, what="profile"):
    """Return the UTF-8 text of regular file `path` (read_bytes); ProfileError saying why not."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors

    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ProfileError([(None, None, "file", "cannot read %s %s: not UTF-8 text" % (what, path))])


def load_profile(path):
    """Return (Profile, data) read from a YAML/JSON file; ProfileError when invalid."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile

    text = read_text(path)
    data = profile.load_profile_text(text, path)
    return profile.load_profile(data, read_known()), data


def load_profile_arg(arg, system, state_dir=None):
    """Return (Profile, data): from the file `arg`, or, when no such file exists, the profile last applied as `arg`.

    The last applied profile is the one the state of this namespace keeps
    (State.profile_data): `livemount plan web` re-checks what `web` was
    applied from without its file at hand.
    """
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors, state
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile

    if os.path.exists(arg) or not profile.NAME_RX.fullmatch(arg):
        return load_profile(arg)
    ns = system.namespace_id()
    data = state.StateStore(engine.state_root(state_dir), ns, arg).load().profile_data
    if data is None:
        raise errors.ProfileError([(None, None, "file", "cannot read profile %s: no such file, and no profile named"
                                    " %s was applied in %s" % (arg, arg, ns))])
    return profile.load_profile(data), data


def saved_plan(arg):
    """Return the planfile.SavedPlan in file `arg` when it is a plan saved by `plan --out`, else None."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import errors, planfile

    try:
        raw = read_bytes(arg)
    except errors.ProfileError:
        return None  # not a readable regular file: load_profile says why
    return planfile.parse(raw, arg) if planfile.is_plan(raw) else None


def file_sha256(path):
    """Return the sha256 (hex) of file `path`'s bytes, None when it cannot be read."""
    import hashlib

    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def make_system(args):
    """Return the Sys a command acts through: the real kernel with the global options of `args`.

    --namespace/--pid name the mount namespace every engine entry point acts
    in, --on-busy the busy policy; LIVEMOUNT_FAILPOINT wraps it in failpoints
    (kernel/real.py).
    """
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system

    return real_system(namespace=args.namespace, pid=args.pid, on_busy=args.on_busy)


def read_known():
    """Return the filesystem types this kernel knows (kernel/fstypes.py), for load_profile to check types against."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.fstypes import read_known as known

    return known()


def check_root():
    """Raise a LivemountError unless running as root (mounting needs CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        from ansible_collections.livemount.core.plugins.module_utils.livemount import errors

        raise errors.LivemountError("cannot change mounts: livemount must run as root (uid 0), not uid %d"
                                    % os.geteuid())


# Commands that run until stopped: the cyclic garbage collector keeps running for them.
RUN_UNTIL_STOPPED = frozenset({"watch"})


@contextlib.contextmanager
def collector_paused(pause=True, restore=True):
    """Run the body with Python's cyclic garbage collector off (`pause` False: as it is), then as it was.

    A command builds a few hundred thousand objects (the profile, the state,
    the table, the plan) that all live until it exits, and makes next to no
    reference cycles: the collector's passes over them find nothing to free,
    and cost a sixth of a no-op `plan --json` of 5,000 entries against
    10,000 mounts (two full passes over the heap, 50-70 ms, and 300 young
    ones). Reference counting still frees everything else as usual.

    `restore` False: the collector stays off after the body, for a caller
    that ends the process right after (the console script: main.run). Turned
    on again, the first allocations start a full pass over the heap, 20 ms
    after an apply of 1,000 mounts, to free nothing the exit would not.
    """
    was = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause and was and restore:
            gc.enable()


def run_command(fn, args, exiting=False):
    """Return fn(args)'s exit status, turning engine errors into one clear message and status 1.

    `exiting`: the caller ends the process as soon as this returns (the collector is left off: see collector_paused).
    """
    from . import output

    out = output.Output(args)
    try:
        with collector_paused(getattr(args, "command", None) not in RUN_UNTIL_STOPPED, restore=not exiting):
            return fn(args, out)
    except KeyboardInterrupt:
        out.interrupted()
        return 130
    except Exception as exc:  # the one place errors become messages; everything else raises
        if args.verbose:
            import traceback  # only here: 3 ms of imports (linecache, tokenize) every run otherwise

            traceback.print_exc()
        from ansible_collections.livemount.core.plugins.module_utils.livemount import errors

        if not isinstance(exc, errors.LivemountError):
            out.error("unexpected error: %s: %s (run with -v for the traceback)" % (type(exc).__name__, exc))
            return 1
        report = getattr(exc, "report", None)
        if getattr(args, "json", False):
            doc = report.to_dict() if report is not None else {}
            doc["error"] = exc.to_dict()
            if getattr(exc, "busy", None) is not None:
                doc["error"]["busy"] = exc.busy  # who holds a busy mount: [{pid, comm, how, path}]
            out.json(doc)
        elif report is not None and report.changes and type(exc).__name__ == "PlanError":
            # The conflicts, with the plan they stop.
            out.plan(report, title="Destroy %s in %s" % (report.profile, report.namespace)
                     if args.command == "destroy" else None)
        out.failure(exc, getattr(args, "verb", args.command))
        return 1
