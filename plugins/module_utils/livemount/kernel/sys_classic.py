"""The classic mount(2) fallback for kernels without the new mount API.

Without fsopen/open_tree there is no detached mount: a PendingMount records
what mount(2) will be asked when it is attached, and setattr on it records
the per-mount flags to apply right after. Targets are named through
/proc/self/fd/N of an O_PATH fd from securepath, so no symlink can redirect
the call. Limits: no MOVE_MOUNT_BENEATH, no clone_mount (callers get ENOSYS),
no private writable view of a read-only mount (callers get EROFS saying so:
a temporary bind would show in the table and propagate to its peers), and
option errors surface at attach time instead of at create_fs.
"""

import errno
import os

from ..kernel import identity, syscalls as sc
from ..options import ovl_escape
from ..kernel.sysapi import Handle

# mount_setattr attribute bits -> mount(2) flags (the atime field is handled apart).
_ATTR_TO_MS = {
    sc.MOUNT_ATTR_RDONLY: sc.MS_RDONLY,
    sc.MOUNT_ATTR_NOSUID: sc.MS_NOSUID,
    sc.MOUNT_ATTR_NODEV: sc.MS_NODEV,
    sc.MOUNT_ATTR_NOEXEC: sc.MS_NOEXEC,
    sc.MOUNT_ATTR_NODIRATIME: sc.MS_NODIRATIME,
}
_ATIME_TO_MS = {
    sc.MOUNT_ATTR_RELATIME: sc.MS_RELATIME,
    sc.MOUNT_ATTR_NOATIME: sc.MS_NOATIME,
    sc.MOUNT_ATTR_STRICTATIME: sc.MS_STRICTATIME,
}
# mountinfo per-mount option words -> mount(2) flags.
_WORD_TO_MS = {
    "ro": sc.MS_RDONLY,
    "nosuid": sc.MS_NOSUID,
    "nodev": sc.MS_NODEV,
    "noexec": sc.MS_NOEXEC,
    "nodiratime": sc.MS_NODIRATIME,
    "noatime": sc.MS_NOATIME,
    "relatime": sc.MS_RELATIME,
}


class PendingMount(Handle):
    """A classic-API stand-in for a detached mount: the mount(2) call to make at attach time."""

    def __init__(self, desc, source, fstype, flags, data):
        super().__init__(None, desc)
        self.source = source
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.attrs = None  # mount(2) flags for an exact bind remount after attaching
        self.propagation = 0
        self.attached = False

    @property
    def detached(self):
        """Return False: nothing exists yet, mount(2) looks the source up by path when this is attached."""
        return False


def _fd_path(fd):
    return "/proc/self/fd/%d" % fd


def ms_flags(attr_set):
    """Return the mount(2) flags that set exactly the per-mount attributes `attr_set`.

    An atime flag is always included: a remount without one keeps the old
    atime mode (fs/namespace.c, "the default atime for remount is preservation").
    """
    out = _ATIME_TO_MS.get(attr_set & sc.MOUNT_ATTR__ATIME, sc.MS_RELATIME)
    for bit, ms in _ATTR_TO_MS.items():
        if attr_set & bit:
            out |= ms
    return out


def lowerdir_value(lower, data):
    """Return a legacy `lowerdir=` value: escaped layers, `:` between, `::` before data-only layers."""
    value = ":".join(ovl_escape(p) for p in lower)
    if data:
        value += "::" + "::".join(ovl_escape(p) for p in data)
    return value


def _option_words(fs_options):
    words = []
    for key, value in fs_options:
        if value is None:
            words.append(key)
        elif "," in str(value):
            # mount(2) data is split on commas before the filesystem sees it.
            raise OSError(errno.EINVAL, "option %s: a comma cannot be passed through mount(2)" % key)
        else:
            words.append("%s=%s" % (key, value))
    return words


def pending_bind(source, recursive):
    """Return a PendingMount for a bind of `source` (checked to exist now, as open_tree would)."""
    os.stat(source)
    return PendingMount("bind %s" % source, source, None, sc.MS_BIND | (sc.MS_REC if recursive else 0), None)


def pending_fs(desc, fstype, source, fs_options, lower, data, upper, work):
    """Return a PendingMount for a new filesystem; overlay layers go in the data string, escaped."""
    words = []
    if lower or data:
        words.append("lowerdir=" + lowerdir_value(lower, data))
    if upper is not None:
        words.append("upperdir=" + ovl_escape(upper))
    if work is not None:
        words.append("workdir=" + ovl_escape(work))
    words.extend(_option_words(fs_options))
    return PendingMount(desc, source, fstype, 0, ",".join(words) or None)


def remember_attrs(pending, has_flags, attr_set, propagation):
    """Record per-mount flags/propagation to apply once `pending` is attached."""
    if has_flags:
        pending.attrs = ms_flags(attr_set)
    if propagation:
        pending.propagation = propagation


def attach(pending, tfd, reopen, ident=None):
    """Mount `pending` onto the O_PATH fd `tfd`, then apply its recorded flags on the new mount.

    `reopen()` returns an O_PATH fd of the target again: after mount(2) the
    old fd still names the covered directory, not the new mount. If setting
    the flags fails, the new mount is detached again (one step, all or nothing).
    `ident(fd)` (LinuxSys.ident) tells which mount the new one is: mount(2)
    has no detached mount to ask before, so the top mount right after the
    call is taken for it (pending.ident, pending.marker).
    """
    if pending.attached:
        raise OSError(errno.EINVAL, "the detached mount is already attached")
    sc.mount(pending.source, _fd_path(tfd), pending.fstype, pending.flags, pending.data)
    pending.attached = True
    nfd = reopen()
    try:
        if ident is not None:
            pending.ident = ident(nfd)
            if pending.ident.unique is None:  # the marker stands in for a unique id (LinuxSys._identify)
                pending.marker = identity.marker_of(nfd)
        if pending.attrs is None and not pending.propagation:
            return
        try:
            if pending.attrs is not None:
                sc.mount(None, _fd_path(nfd), None, sc.MS_REMOUNT | sc.MS_BIND | pending.attrs, None)
            if pending.propagation:
                sc.mount(None, _fd_path(nfd), None, pending.propagation, None)
        except OSError:
            sc.umount2(_fd_path(nfd), sc.MNT_DETACH)  # MNT_DETACH ignores our own fd on it
            pending.attached = False
            raise
    finally:
        os.close(nfd)


def setattr(tfd, has_flags, attr_set, propagation):
    """Set per-mount flags exactly (bind remount) and/or propagation of the mount at O_PATH fd `tfd`."""
    if has_flags:
        sc.mount(None, _fd_path(tfd), None, sc.MS_REMOUNT | sc.MS_BIND | ms_flags(attr_set), None)
    if propagation:
        sc.mount(None, _fd_path(tfd), None, propagation, None)


def mount_words(fd):
    """Return (per-mount option words, super option words) of the mount of O_PATH fd `fd` (mountinfo)."""
    with open("/proc/self/fdinfo/%d" % fd, encoding="utf-8") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    mnt_id = fields["mnt_id"].strip()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.split(" ", 1)[0] == mnt_id:
                left, _sep, right = line.rstrip("\n").partition(" - ")
                return left.split(" ")[5].split(","), right.split(" ")[2].split(",")
    raise OSError(errno.EINVAL, "mount %s is not in /proc/self/mountinfo" % mnt_id)


def reconfigure(tfd, fs_options):
    """Change filesystem options of the mount at O_PATH fd `tfd` with MS_REMOUNT, keeping its flags.

    A plain MS_REMOUNT also sets the per-mount flags (and MS_RDONLY makes the
    whole superblock read-only), so the current ones are read first, passed
    along without `ro` unless the superblock is already read-only, and a
    per-mount `ro` is restored afterwards with a bind remount.
    """
    mount_opts, super_opts = mount_words(tfd)
    flags = 0
    for word in mount_opts:
        flags |= _WORD_TO_MS.get(word, 0)
    if "noatime" not in mount_opts and "relatime" not in mount_opts:
        flags |= sc.MS_STRICTATIME
    sb_ro = sc.MS_RDONLY if "ro" in super_opts else 0
    data = ",".join(_option_words(fs_options)) or None
    sc.mount(None, _fd_path(tfd), None, sc.MS_REMOUNT | (flags & ~sc.MS_RDONLY) | sb_ro, data)
    if flags & sc.MS_RDONLY and not sb_ro:
        sc.mount(None, _fd_path(tfd), None, sc.MS_REMOUNT | sc.MS_BIND | flags, None)
