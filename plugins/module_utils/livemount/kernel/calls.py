"""How a step is named: the canonical call string and the words of each mutating Sys call.

Every Sys implementation names its steps with these two functions, so a
recorder transcript (tests/unit/fakesys.py), a SysError's `call` and a
failpoint's message agree:

* step_call("mkdir", "/t", 0o755, 0, 0) -> `mkdir "/t" 0o755 0 0`
* step_what("mkdir", "/t", 0o755, 0, 0) -> `create directory /t`, for `cannot <what>: <cause>`

One format per method, written out as snap-update-ns' syscall recorder does
it: each takes the method's own parameters (Python binds the arguments and
applies the defaults) and returns the arguments the call string shows and
the words. Trailing arguments still at their default are not shown, so
`attach(h, t)` and `attach(h, t, False)` are one spelling. Which mount a
step checks (`expect`, sysapi) is not part of what it does: never shown;
a Pin shows as its target path, as the path it stands for.
"""

from ..kernel.sysapi import Handle


class _Mode(int):
    """A permission mode that prints as octal in call strings (`0o755`)."""

    def __str__(self):
        return "0o%o" % int(self)


def _mode(mode):
    return _Mode(mode) if isinstance(mode, int) else mode


def _optional(*pairs):
    """Return the values of (value, default) `pairs` up to the last one that is not at its default."""
    values = [v for v, _name in pairs]
    while pairs and pairs[-1][0] == pairs[-1][1]:
        pairs = pairs[:-1]
        values.pop()
    return values


def _desc(where):
    """Return how words name a path or a Handle."""
    return where.desc if isinstance(where, Handle) else where


def _mkdir(path, mode, uid, gid, writable_view=False):
    return [path, _mode(mode), uid, gid] + _optional((writable_view, False)), "create directory %s" % path


def _rmdir(path, writable_view=False):
    return [path] + _optional((writable_view, False)), "remove directory %s" % path


def _mkfile(path, mode, uid, gid, writable_view=False):
    return [path, _mode(mode), uid, gid] + _optional((writable_view, False)), "create file %s" % path


def _unlink(path, writable_view=False):
    return [path] + _optional((writable_view, False)), "remove %s" % path


def _symlink(content, path, writable_view=False):
    return [content, path] + _optional((writable_view, False)), "create symlink %s" % path


def _rename(old, new):
    return [old, new], "rename %s to %s" % (old, new)


def _clone(source, recursive):
    return [source, recursive], "bind %s%s" % (source, " recursively" if recursive else "")


def _clone_mount(target, expect=None):
    return [target], "copy the mount at %s" % target


def _create_fs(fstype, source, fs_options, lower=(), data=(), upper=None, work=None):
    shown = [fstype, source, fs_options] + _optional((lower, ()), (data, ()), (upper, None), (work, None))
    return shown, "create %s filesystem" % fstype


def _attach(handle, target, beneath=False, expect=None):
    return [handle, target] + _optional((beneath, False)), "mount %s %s %s" % (
        handle.desc, "beneath" if beneath else "on", target)


def _setattr(where, flags, propagation=None, expect=None):
    return [where, flags] + _optional((propagation, None)), "set mount attributes of %s" % _desc(where)


def _reconfigure(target, fs_options, expect=None):
    return [target, fs_options], "reconfigure %s" % _desc(target)


def _umount(target, detach=False, expect=None):
    return [target] + _optional((detach, False)), "unmount %s" % target


FORMATS = {
    "mkdir": _mkdir,
    "rmdir": _rmdir,
    "mkfile": _mkfile,
    "unlink": _unlink,
    "symlink": _symlink,
    "rename": _rename,
    "clone": _clone,
    "clone_mount": _clone_mount,
    "create_fs": _create_fs,
    "attach": _attach,
    "setattr": _setattr,
    "reconfigure": _reconfigure,
    "umount": _umount,
}


def step_call(name, *args, **kwargs):
    """Return the canonical call string of one step, e.g. `mkdir "/t" 0o755 0 0`."""
    return call_string(name, *FORMATS[name](*args, **kwargs)[0])


def step_what(name, *args, **kwargs):
    """Return what a step does in words (`create directory /t`), for `cannot <what>: <cause>`."""
    return FORMATS[name](*args, **kwargs)[1]


def call_string(name, *args):
    """Return the canonical text of a call, as recorders and error messages show it.

    Strings are double-quoted, sets are joined sorted with commas, handles by desc:
    `attach <mount tmpfs> "/srv/t"`.
    """
    parts = [name]
    for a in args:
        if isinstance(a, str):
            parts.append('"%s"' % a)
        elif isinstance(a, (set, frozenset)):
            parts.append(",".join(sorted(a)) or "-")
        elif isinstance(a, Handle):
            parts.append(repr(a))
        elif isinstance(a, (list, tuple)):
            parts.append(
                "[" + ",".join(k if v is None else "%s=%s" % (k, v) for k, v in a) + "]"
                if a and isinstance(a[0], tuple)
                else "[" + ",".join(str(x) for x in a) + "]"
            )
        elif a is None:
            parts.append("-")
        else:
            parts.append(str(a))
    return " ".join(parts)
