"""Mount namespaces: where we are, and moving into a fresh private one.

unshare(2) with CLONE_NEWNS copies the caller's mount table. systemd makes `/`
recursively shared, so a raw copy stays in the host's peer groups and mounts
would leak both ways until it is marked MS_REC|MS_PRIVATE (mount_namespaces(7)).
"""

import ctypes
import os

from . import syscalls
from .errors import SysError

CLONE_NEWNS = 0x00020000


def enter_private_namespace():
    """Move this (single-threaded) process into a new mount namespace with private propagation."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(CLONE_NEWNS)) != 0:
        err = ctypes.get_errno()
        raise SysError("cannot create a mount namespace: %s" % os.strerror(err), err)
    try:
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None)
    except OSError as exc:
        raise SysError("cannot make the new mount namespace private: %s" % exc.strerror, exc.errno)


def current_namespace():
    """Return this process's mount namespace id, e.g. `mnt:[4026531841]`."""
    return os.readlink("/proc/self/ns/mnt")


def is_host_namespace():
    """Return True/False whether we share PID 1's mount namespace (None if /proc/1 is unreadable)."""
    try:
        return os.readlink("/proc/1/ns/mnt") == current_namespace()
    except OSError:
        return None
