"""Where livemount keeps its records: directories and files trusted only when they are its own.

A state, a journal or an enabled profile is acted on, so what holds it must
be livemount's alone: of the right kind, owned by the effective uid and not
writable by group or others (anyone who could write there could make a run
unmount what they like). state.py keeps its directories mode 0700 and
durable/store.py (/etc/livemount) mode 0755; both make and check them here.
"""

import os
import stat

from .errors import StateError, strerror


def check_owned(name, st, kind, is_kind):
    """Raise StateError('cannot use <name>: ...') unless `st` is a `kind` (is_kind) of ours that only we can write."""
    if not is_kind(st.st_mode):
        raise StateError("cannot use %s: not a %s" % (name, kind))
    if st.st_uid != os.geteuid():
        raise StateError("cannot use %s: owned by uid %d, not %d" % (name, st.st_uid, os.geteuid()))
    if st.st_mode & 0o022:
        raise StateError("cannot use %s: writable by group or others (mode %04o)" % (name, stat.S_IMODE(st.st_mode)))


def check_dirs(dirs, label):
    """Raise StateError unless each of `dirs` that exists is a directory of ours (messages say `label path`)."""
    for d in dirs:
        name = "%s %s" % (label, d)
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            continue
        except OSError as exc:  # below a regular file (ENOTDIR), a name too long (ENAMETOOLONG)...
            raise StateError("cannot use %s: %s" % (name, strerror(exc.errno)))
        check_owned(name, st, "directory", stat.S_ISDIR)


def ensure_dirs(dirs, mode, label):
    """Create each of `dirs` (in order, with `mode`) when missing, then check them all (check_dirs)."""
    for d in dirs:
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StateError("cannot create %s %s: %s" % (label, d, strerror(exc.errno)))
    check_dirs(dirs, label)
