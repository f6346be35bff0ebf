"""What identifies a file across mounts: its file handle (name_to_handle_at(2)) and its filesystem's uuid.

overlayfs with index=on records both for the top lower layer's root in the
upper (struct ovl_fb in trusted.overlay.origin); overlay_rules compares them
to predict the kernel's ESTALE. Both functions raise OSError like os does.
"""

import fcntl
import os

from ..kernel import syscalls as sc

# _IOR(0x15, 0, struct fsuuid2 {u8 len; u8 uuid[16]}), include/uapi/linux/fs.h (Linux 6.5+).
FS_IOC_GETFSUUID = 0x80111500


def name_to_handle(path):
    """Return (handle type, handle bytes) of `path`, following no final symlink (name_to_handle_at(2))."""
    return sc.name_to_handle_at(sc.AT_FDCWD, path, 0)


def handle_of_fd(fd):
    """Return (handle type, handle bytes) of what fd `fd` (O_PATH will do) names (name_to_handle_at(2), AT_EMPTY_PATH)."""
    return sc.name_to_handle_at(fd, "", sc.AT_EMPTY_PATH)


def fs_uuid_of_fd(fd):
    """Return the uuid of the filesystem of open (not O_PATH) fd `fd`, or None when it has none or will not tell."""
    try:
        buf = bytearray(17)
        fcntl.ioctl(fd, FS_IOC_GETFSUUID, buf)
        return bytes(buf[1:1 + buf[0]]) or None
    except OSError:
        return None  # ENOTTY before 6.5, or a filesystem without a uuid


def fs_uuid(path):
    """Return the uuid of the filesystem holding directory `path`, or None when it has none or will not tell."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return fs_uuid_of_fd(fd)
    finally:
        os.close(fd)
