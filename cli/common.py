"""What every subcommand shares: loading a profile, the Sys, the error-to-exit-status rule."""

import os
import sys
import traceback

ENGINE = "ansible_collections.livemount.core.plugins.module_utils.livemount"


def engine_module(name):
    """Return the engine module `name` (imported on first use)."""
    import importlib

    return importlib.import_module("%s.%s" % (ENGINE, name))


def read_text(path, what="profile"):
    """Return the text of regular file `path`; ProfileError saying why not (not a file, too large, not UTF-8).

    Opened without blocking and checked before reading: a FIFO would wait
    for a writer forever and /dev/zero would never end (issue 13, defect 8).
    """
    import stat

    errors = engine_module("errors")
    limit = engine_module("profile.forms").MAX_TEXT_BYTES

    def refuse(cause):
        return errors.ProfileError([(None, None, "file", "cannot read %s %s: %s" % (what, path, cause))])

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(exc.strerror[:1].lower() + exc.strerror[1:])
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse("not a regular file")
        if st.st_size > limit:
            raise refuse("%d bytes, more than the %d MiB a %s may have" % (st.st_size, limit >> 20, what))
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise refuse("more than the %d MiB a %s may have" % (limit >> 20, what))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text")


def load_profile(path):
    """Return (Profile, data) read from a YAML/JSON file; ProfileError when invalid."""
    profile = engine_module("profile.load")
    text = read_text(path)
    data = profile.load_profile_text(text, path)
    return profile.load_profile(data), data


def load_profile_arg(arg, system, state_dir=None):
    """Return (Profile, data): from the file `arg`, or, when no such file exists, the profile last applied as `arg`.

    The last applied profile is the one the state of this namespace keeps
    (State.profile_data): `livemount plan web` re-checks what `web` was
    applied from without its file at hand.
    """
    profile = engine_module("profile.load")
    if os.path.exists(arg) or not profile.NAME_RX.fullmatch(arg):
        return load_profile(arg)
    ns = system.namespace_id()
    store = engine_module("state").StateStore(engine_module("engine").state_root(state_dir), ns, arg)
    data = store.load().profile_data
    if data is None:
        raise engine_module("errors").ProfileError([(None, None, "file", "cannot read profile %s: no such file, and "
                                                     "no profile named %s was applied in %s" % (arg, arg, ns))])
    return profile.load_profile(data), data


# The global options that choose where and how the engine acts (--namespace, --pid, --on-busy),
# set once per command by run_command and carried by the Sys that make_sys returns.
_RUN_OPTIONS = {}


def make_sys():
    """Return the real Sys, wrapped by failpoints when LIVEMOUNT_FAILPOINT is set, carrying the run options.

    With --namespace/--pid/--on-busy the Sys is an nsexec.Configured: every
    engine entry point then acts in that namespace, with that policy.
    """
    sys_linux = engine_module("kernel.sys_linux")
    failpoint = engine_module("kernel.failpoint")
    system = failpoint.from_env(sys_linux.LinuxSys())
    if any(v is not None for v in _RUN_OPTIONS.values()):
        system = engine_module("kernel.nsexec").Configured(system, **_RUN_OPTIONS)
    return system


def check_root():
    """Raise a LivemountError unless running as root (mounting needs CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        errors = engine_module("errors")
        raise errors.LivemountError("cannot change mounts: livemount must run as root (uid 0), not uid %d"
                                    % os.geteuid())


def run_command(fn, args):
    """Return fn(args)'s exit status, turning engine errors into one clear message and status 1."""
    from . import output

    out = output.Output(args)
    _RUN_OPTIONS.update(namespace=getattr(args, "namespace", None), pid=getattr(args, "pid", None),
                        on_busy=getattr(args, "on_busy", None))
    try:
        return fn(args, out)
    except KeyboardInterrupt:
        # Between two steps the journal holds what was done (it is synced before each step): nothing is lost.
        out.error("interrupted: what this run changed so far is in place and its journal kept; the next run of "
                  "this profile (apply or destroy) recovers it first, and `livemount status` shows it as interrupted")
        return 130
    except Exception as exc:  # the one place errors become messages; everything else raises
        if args.verbose:
            traceback.print_exc()
        errors = engine_module("errors")
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
        elif report is not None and report.changes:
            out.plan(report)
        out.failure(exc)
        return 1
