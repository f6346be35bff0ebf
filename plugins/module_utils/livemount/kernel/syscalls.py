"""Thin ctypes wrappers for the mount system calls the os module lacks: the one place livemount loads libc.

Each wrapper returns what the kernel returns (an fd, or None) and raises
OSError(errno, strerror) on failure; messages and call strings are the
caller's business (sys_linux.py). Every argument is wrapped in an explicit
ctypes type: libc.syscall is variadic, and an unwrapped Python int would be
passed as a C int, truncating pointers and 64-bit values.

Numbers: the new mount API and openat2 come from the unified syscall table
shared by x86_64 and aarch64 (include/uapi/asm-generic/unistd.h, 424+).
mount(2) and umount2(2) go through libc's own wrappers, which every libc has
on every architecture, so no per-arch number is needed for them.
statx(2) is older than that table and numbered per architecture (_STATX_NR).
Constants: include/uapi/linux/mount.h, fcntl.h, openat2.h, stat.h.
"""

import ctypes
import errno as _errno
import os
import struct

# ---- constants -------------------------------------------------------------
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC

MOVE_MOUNT_F_SYMLINKS = 0x01
MOVE_MOUNT_F_AUTOMOUNTS = 0x02
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_SYMLINKS = 0x10
MOVE_MOUNT_T_AUTOMOUNTS = 0x20
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOVE_MOUNT_SET_GROUP = 0x100
MOVE_MOUNT_BENEATH = 0x200

FSOPEN_CLOEXEC = 0x1

FSPICK_CLOEXEC = 0x1
FSPICK_SYMLINK_NOFOLLOW = 0x2
FSPICK_NO_AUTOMOUNT = 0x4
FSPICK_EMPTY_PATH = 0x8

FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_BINARY = 2
FSCONFIG_SET_PATH = 3
FSCONFIG_SET_PATH_EMPTY = 4
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6
FSCONFIG_CMD_RECONFIGURE = 7
FSCONFIG_CMD_CREATE_EXCL = 8

FSMOUNT_CLOEXEC = 0x1

CLONE_NEWNS = 0x00020000  # unshare(2), setns(2): a mount namespace

# struct file_handle with room for MAX_HANDLE_SZ bytes (include/linux/exportfs.h).
MAX_HANDLE_SZ = 128

# The per-mount attribute and propagation bits live with the option names in
# options.py (pure, importable on a controller without libc); re-exported here.
from ..options import (  # noqa: E402,F401  # pylint: disable=unused-import
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME,
    MS_PRIVATE,
    MS_SHARED,
    MS_SLAVE,
    MS_UNBINDABLE,
)

MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
MOUNT_ATTR_SIZE_VER0 = 32

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

# statx(2) (include/uapi/linux/stat.h). STATX_MNT_ID_UNIQUE (6.8) and
# STATX_MNT_ID share the stx_mnt_id field: which one the kernel filled is
# told by the returned mask.
STATX_MNT_ID = 0x1000
STATX_MNT_ID_UNIQUE = 0x4000
STATX_ATTR_MOUNT_ROOT = 0x2000

# statmount(2)/listmount(2) (6.8): struct mnt_id_req, the STATMOUNT_MNT_BASIC
# part of struct statmount, and the id standing for the namespace's root.
MNT_ID_REQ_SIZE_VER0 = 24
STATMOUNT_SB_BASIC = 0x1
STATMOUNT_MNT_BASIC = 0x2
LSMT_ROOT = 0xFFFFFFFFFFFFFFFF

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

_NR = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "openat2": 437,
    "mount_setattr": 442,
    "statmount": 457,
    "listmount": 458,
}
_STATX_NR = {"x86_64": 332, "aarch64": 291}
SUPPORTED_MACHINES = ("x86_64", "aarch64")
MACHINE = os.uname().machine  # platform.machine()'s answer, without importing platform (a few ms of start-up)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
libc.mount.restype = ctypes.c_int
libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
libc.umount2.restype = ctypes.c_int


class MountAttr(ctypes.Structure):
    """struct mount_attr (MOUNT_ATTR_SIZE_VER0) for mount_setattr(2)."""

    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class FileHandle(ctypes.Structure):
    """struct file_handle of name_to_handle_at(2), with MAX_HANDLE_SZ bytes of room."""

    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ)]


class OpenHow(ctypes.Structure):
    """struct open_how for openat2(2)."""

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _path(p):
    """Return `p` as a NUL-terminated C string (None stays NULL)."""
    if p is None:
        return ctypes.c_char_p(None)
    return ctypes.c_char_p(os.fsencode(p))


def _check(ret):
    """Return `ret` or raise OSError from errno when the call returned -1."""
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _syscall(name, *args):
    """Return the result of syscall `name` with already-typed ctypes arguments."""
    if MACHINE not in SUPPORTED_MACHINES:
        # Other architectures number these differently (or not at all); saying
        # ENOSYS lets callers fall back to the classic API instead of calling
        # some unrelated syscall.
        raise OSError(_errno.ENOSYS, os.strerror(_errno.ENOSYS))
    number = _STATX_NR[MACHINE] if name == "statx" else _NR[name]
    return _check(libc.syscall(ctypes.c_long(number), *args))


# ---- the new mount API -----------------------------------------------------
def open_tree(dfd, path, flags):
    """Return an fd for `path` (a detached copy of the mount with OPEN_TREE_CLONE)."""
    return _syscall("open_tree", ctypes.c_int(dfd), _path(path), ctypes.c_uint(flags))


def move_mount(from_dfd, from_path, to_dfd, to_path, flags):
    """Return None after moving (attaching) the mount at from_dfd/from_path to to_dfd/to_path."""
    _syscall(
        "move_mount",
        ctypes.c_int(from_dfd),
        _path(from_path),
        ctypes.c_int(to_dfd),
        _path(to_path),
        ctypes.c_uint(flags),
    )


def fsopen(fstype, flags):
    """Return a filesystem context fd for `fstype`."""
    return _syscall("fsopen", _path(fstype), ctypes.c_uint(flags))


def fsconfig(fd, cmd, key=None, value=None, aux=0):
    """Return None after one fsconfig(2) command (value is a str for SET_STRING, else None)."""
    _syscall("fsconfig", ctypes.c_int(fd), ctypes.c_uint(cmd), _path(key), _path(value), ctypes.c_int(aux))


def fsmount(fd, flags, attr_flags):
    """Return a detached mount fd for the created superblock of context `fd`."""
    return _syscall("fsmount", ctypes.c_int(fd), ctypes.c_uint(flags), ctypes.c_uint(attr_flags))


def fspick(dfd, path, flags):
    """Return a reconfiguration context fd for the superblock of the mount at dfd/path."""
    return _syscall("fspick", ctypes.c_int(dfd), _path(path), ctypes.c_uint(flags))


def mount_setattr(dfd, path, flags, attr_set=0, attr_clr=0, propagation=0):
    """Return None after changing per-mount attributes and/or propagation of dfd/path."""
    attr = MountAttr(attr_set, attr_clr, propagation, 0)
    _syscall(
        "mount_setattr",
        ctypes.c_int(dfd),
        _path(path),
        ctypes.c_uint(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )


def openat2(dfd, path, flags, mode=0, resolve=0):
    """Return an fd for `path` opened with open_how {flags, mode, resolve}."""
    how = OpenHow(flags, mode, resolve)
    return _syscall(
        "openat2", ctypes.c_int(dfd), _path(path), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))
    )


# ---- which mount: unique ids (statx, statmount, listmount) -------------------
_STATX_SIZE = 256  # struct statx is 256 bytes; stx_mask at 0, stx_attributes at 8
_STX_DEV = 136  # stx_dev_major, stx_dev_minor (u32 each)
_STX_MNT_ID = 144  # stx_mnt_id (u64)


def statx_mount(fd, mask):
    """Return (returned mask, stx_attributes, stx_mnt_id, (dev major, minor)) of what O_PATH/mount fd `fd` names.

    `mask` is STATX_MNT_ID_UNIQUE or STATX_MNT_ID: the returned mask says
    whether the kernel knew it (a kernel before 6.8 ignores the unique bit).
    """
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    _syscall("statx", ctypes.c_int(fd), ctypes.c_char_p(b""), ctypes.c_int(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW),
             ctypes.c_uint(mask), buf)
    raw = buf.raw
    got, = struct.unpack_from("<I", raw, 0)
    attributes, = struct.unpack_from("<Q", raw, 8)
    major, minor = struct.unpack_from("<II", raw, _STX_DEV)
    mnt_id, = struct.unpack_from("<Q", raw, _STX_MNT_ID)
    return got, attributes, mnt_id, (major, minor)


def listmount(mnt_id=LSMT_ROOT, batch=1024):
    """Return the unique ids of every mount below `mnt_id` (LSMT_ROOT: the whole namespace), in the kernel's order."""
    out = []
    last = 0
    ids = (ctypes.c_uint64 * batch)()
    while True:
        req = struct.pack("<IIQQ", MNT_ID_REQ_SIZE_VER0, 0, mnt_id, last)
        n = _syscall("listmount", ctypes.c_char_p(req), ids, ctypes.c_size_t(batch), ctypes.c_uint(0))
        out.extend(ids[:n])
        if n < batch:
            return out
        last = ids[n - 1]


_STATMOUNT_SIZE = 512  # struct statmount without its strings


def statmount_old_ids(uniques):
    """Yield (unique id, mountinfo id or None) of each mount in `uniques` (statmount(2)); None: gone since listed.

    The one call per mount that lists a table's ids: one request and one
    buffer for all, and only the mount's basic fields asked for (10,000 mounts:
    a few milliseconds of Python around the kernel's own cost).
    """
    if MACHINE not in SUPPORTED_MACHINES:
        raise OSError(_errno.ENOSYS, os.strerror(_errno.ENOSYS))
    call, number = libc.syscall, ctypes.c_long(_NR["statmount"])
    req = ctypes.create_string_buffer(MNT_ID_REQ_SIZE_VER0)
    buf = ctypes.create_string_buffer(_STATMOUNT_SIZE)
    size, flags = ctypes.c_size_t(_STATMOUNT_SIZE), ctypes.c_uint(0)
    pack, unpack = struct.pack_into, struct.unpack_from
    for unique in uniques:
        pack("<IIQQ", req, 0, MNT_ID_REQ_SIZE_VER0, 0, unique, STATMOUNT_MNT_BASIC)
        if call(number, req, buf, size, flags) == -1:
            err = ctypes.get_errno()
            if err in (_errno.ENOENT, _errno.EINVAL):
                yield unique, None
                continue
            raise OSError(err, os.strerror(err))
        yield unique, unpack("<I", buf, 56)[0]


def read_fs_messages(fd):
    """Return the kernel's messages queued on an fs context fd (`e tmpfs: ...` lines), oldest first.

    fsopen(2): each read(2) returns one message and ENODATA once the queue is
    empty; a message longer than the buffer is truncated rather than split.
    """
    out = []
    while True:
        try:
            raw = os.read(fd, 4096)
        except OSError:
            # ENODATA ends the queue; any other error just ends what we can say.
            break
        if not raw:
            break
        out.append(raw.decode("utf-8", "replace").rstrip("\n"))
    return out


# ---- the classic API -------------------------------------------------------
def mount(source, target, fstype, flags, data):
    """Return None after mount(2); every string may be None (NULL)."""
    _check(libc.mount(_path(source).value, _path(target).value, _path(fstype).value, flags, _path(data).value))


def umount2(target, flags):
    """Return None after umount2(2) of `target`."""
    _check(libc.umount2(os.fsencode(target), flags))


# ---- namespaces and file handles -------------------------------------------
def unshare(flags):
    """Return None after unshare(2) with `flags` (CLONE_NEWNS: a copy of the mount table of our own)."""
    _check(libc.unshare(ctypes.c_int(flags)))


def setns(fd, nstype):
    """Return None after setns(2) into the namespace of nsfs `fd` (`nstype` CLONE_NEWNS: a mount namespace)."""
    _check(libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))


def name_to_handle_at(dfd, path, flags):
    """Return (handle type, handle bytes) of dfd/path from name_to_handle_at(2) (the mount id is left out)."""
    fh = FileHandle(MAX_HANDLE_SZ, 0)
    mount_id = ctypes.c_int()
    _check(libc.name_to_handle_at(ctypes.c_int(dfd), _path(path), ctypes.byref(fh), ctypes.byref(mount_id),
                                  ctypes.c_int(flags)))
    return fh.handle_type, bytes(fh.f_handle[:fh.handle_bytes])
