"""Which mount an fd names, and which superblock: the kernel's facts behind ownership (docs/design.md).

* `ident_of(fd)`: the Ident of the mount an O_PATH or detached-mount fd is
  on. Its unique id (statx(2) STATX_MNT_ID_UNIQUE, Linux 6.8+) is never
  reused; before 6.8 the mountinfo id (STATX_MNT_ID, or /proc/self/fdinfo)
  and the device stand in.
* `table_ids()`: {mountinfo id: unique id} of every mount of this
  namespace (listmount(2) + statmount(2), Linux 6.8+), to give each line of
  /proc/self/mountinfo its unique id; {} on older kernels. `table_with_ids`
  reads the text and lists the ids together, with one read of the text.
* `marker_of(fd)`: a digest of what the mount's root is: its filesystem's
  uuid (FS_IOC_GETFSUUID: a tmpfs gets a random one per superblock) and the
  root directory's file handle (name_to_handle_at(2): a tmpfs inode carries
  a random generation number). A tmpfs someone else mounts later, even on
  the same recycled anonymous device number, has another one. None when the
  filesystem tells neither.

Every function raises nothing for what the kernel cannot tell: it answers
None or {} instead, and the callers fall back (model.Ident).
"""

import errno
import os
import stat

from ..kernel import fileid, syscalls as sc
from ..model import Ident
from ..sha import sha256

# Errors meaning "this kernel (or its seccomp filter) does not offer that call".
UNSUPPORTED = (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP)
_UNSUPPORTED = UNSUPPORTED


def ident_of(fd):
    """Return the Ident of the mount that fd `fd` is on (None fields where the kernel does not say)."""
    unique = mount_id = dev = None
    try:
        got, _attrs, value, dev = sc.statx_mount(fd, sc.STATX_MNT_ID_UNIQUE)
        if got & sc.STATX_MNT_ID_UNIQUE:
            unique = value
        got, _attrs, value, dev = sc.statx_mount(fd, sc.STATX_MNT_ID)
        if got & sc.STATX_MNT_ID:
            mount_id = value
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED + (errno.EINVAL,):
            raise
    if mount_id is None:
        mount_id = _fdinfo_mnt_id(fd)
    if dev is None:
        st = os.fstat(fd)
        dev = (os.major(st.st_dev), os.minor(st.st_dev))
    return Ident(unique, mount_id, tuple(dev))


def _fdinfo_mnt_id(fd):
    """Return the `mnt_id` line of /proc/self/fdinfo/FD (proc(5), Linux 3.15+), None if absent."""
    try:
        with open("/proc/self/fdinfo/%d" % fd, encoding="ascii") as f:
            for line in f:
                if line.startswith("mnt_id:"):
                    return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def table_ids():
    """Return {mountinfo id: unique id} of the mounts of this namespace; {} when the kernel cannot list them."""
    try:
        uniques = sc.listmount()
    except OSError as exc:
        if exc.errno in _UNSUPPORTED + (errno.EINVAL,):
            return {}
        raise
    # A mount unmounted since listmount(2) (None) is left out: its line is gone too, or will be.
    return {old: unique for unique, old in sc.statmount_old_ids(uniques) if old is not None}


def table_with_ids(read):
    """Return (read(), {mountinfo id: unique id}) with read() of the mountinfo text between two listings that agree.

    Equal listings (listmount(2)) mean no mount came or went between them: a
    unique id is never reused. Every listed mount was there when the text
    was read, with the mountinfo id statmount(2) gives it; a line more than
    the listing has (a mount made and gone between the listings) makes it
    try again. None when the listings differ (the caller reads again), and
    (read(), {}) when the kernel cannot list its mounts.
    """
    try:
        before = sc.listmount()
    except OSError as exc:
        if exc.errno in _UNSUPPORTED + (errno.EINVAL,):
            return read(), {}
        raise
    text = read()
    ids = {old: unique for unique, old in sc.statmount_old_ids(before) if old is not None}
    if len(ids) != len(before) or sc.listmount() != before or text.count("\n") != len(before):
        return None
    return text, ids


def exists(unique):
    """Return True while a mount of this namespace has unique id `unique` (statmount(2)), None if it cannot tell."""
    try:
        ((_unique, old),) = sc.statmount_old_ids([unique])  # None: ENOENT/EINVAL, no such mount (any more)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    return old is not None


def marker_of(fd):
    """Return the hex digest naming the superblock and root of the mount fd `fd` is on, or None (see module doc)."""
    parts = []
    try:
        kind, handle = fileid.handle_of_fd(fd)
        parts.append(b"h%d:" % kind + handle)
    except OSError:
        pass
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            # FS_IOC_GETFSUUID is an ioctl: it needs a real open file, not O_PATH.
            dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            try:
                uuid = fileid.fs_uuid_of_fd(dfd)
            finally:
                os.close(dfd)
            if uuid and uuid.strip(b"\0"):
                parts.append(b"u:" + uuid)
    except OSError:
        pass
    if not parts:
        return None
    return sha256(b"\0".join(parts)).hexdigest()[:32]
