"""What the real kernel shows: the reading half of LinuxSys (the mount table, lstat, xattrs, file handles).

Nothing here changes anything; sys_linux.LinuxSys adds the mutations.
"""

import dataclasses
import errno
import os
import stat

from ..kernel import fileid, identity, syscalls as sc
from ..errors import SysError, strerror
from ..kernel.sysapi import TABLE_TRIES, Features, table_changed
from ..model import MISSING, PathFact, builder

OVERLAY_PARAMS = "/sys/module/overlay/parameters"
_KINDS = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
# xattr reads that mean "nothing there" rather than a failure.
_NO_XATTR = (errno.ENODATA, errno.EOPNOTSUPP, errno.ENOENT, errno.ENOTDIR)


def _inspect(path, look_inside):
    """Return the PathFact of `path` (not following a final symlink; MISSING if absent), for lstat() and facts():
    `empty` says whether a directory is empty with `look_inside`, else None (no directory opened)."""
    try:
        st = os.lstat(path)
        mode = st.st_mode
        link = os.readlink(path) if stat.S_ISLNK(mode) else None
        empty = None
        if look_inside and stat.S_ISDIR(mode):
            with os.scandir(path) as it:
                empty = next(it, None) is None
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError as exc:
        raise SysError("cannot inspect %s: %s" % (path, strerror(exc.errno)), errno=exc.errno)
    dev = st.st_dev
    return _FACT(kind=_KINDS.get(stat.S_IFMT(mode), "other"), link=link, mode=stat.S_IMODE(mode), uid=st.st_uid,
                 gid=st.st_gid, dev=(os.major(dev), os.minor(dev)), empty=empty, ino=st.st_ino)


_FACT = builder(PathFact)


class LinuxObservation:
    """The observation methods of the Sys seam, read from the running kernel.

    `unique_ids` False makes it answer as a kernel before 6.8 would: no
    unique mount ids (the fallback identity, docs/design.md; tests use it).
    """

    unique_ids = True

    def ident(self, fd):
        """Return the model.Ident of the mount fd `fd` is on (without its unique id when unique_ids is off)."""
        found = identity.ident_of(fd)
        return found if self.unique_ids else dataclasses.replace(found, unique=None)

    def read_mountinfo(self):
        """Return the text of /proc/self/mountinfo."""
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except OSError as exc:
            raise SysError("cannot read /proc/self/mountinfo: %s" % strerror(exc.errno), errno=exc.errno)

    def lstat(self, path):
        """Return a PathFact for `path` without following a final symlink (MISSING if absent)."""
        return _inspect(path, True)

    def facts(self, paths):
        """Return {path: PathFact} of each of `paths` as lstat() sees it, `empty` left None: no directory opened."""
        return {path: _inspect(path, False) for path in paths}

    def realpath(self, path):
        """Return `path` with every symlink resolved."""
        return os.path.realpath(path)

    def listdir(self, path):
        """Return the sorted names in directory `path`."""
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            raise SysError("cannot list %s: %s" % (path, strerror(exc.errno)), errno=exc.errno)

    def getxattr(self, path, name):
        """Return the bytes of xattr `name` of `path` (final symlink not followed), None when there is none."""
        try:
            return os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _NO_XATTR:
                return None
            raise SysError("cannot read xattr %s of %s: %s" % (name, path, strerror(exc.errno)), errno=exc.errno)

    def file_handle(self, path):
        """Return (type, handle bytes, fs uuid or None) of `path` (name_to_handle_at(2)), None if unsupported."""
        try:
            kind, handle = fileid.name_to_handle(path)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EOVERFLOW, errno.ENOSYS):
                return None
            raise SysError("cannot get a file handle of %s: %s" % (path, strerror(exc.errno)), errno=exc.errno)
        return kind, handle, fileid.fs_uuid(path)

    def tmpfs_defaults(self):
        """Return {"ram_pages": N, "page_size": N} of this machine ({} when sysconf cannot tell)."""
        try:
            # sysinfo(2) totalram in pages: the totalram_pages() shmem_default_max_blocks() halves.
            return {"ram_pages": os.sysconf("SC_PHYS_PAGES"), "page_size": os.sysconf("SC_PAGE_SIZE")}
        except (ValueError, OSError):
            return {}

    def overlay_defaults(self):
        """Return {param: value} from /sys/module/overlay/parameters ({} if overlay is not loaded)."""
        out = {}
        try:
            names = sorted(os.listdir(OVERLAY_PARAMS))
        except OSError:
            return out
        for name in names:
            try:
                with open(os.path.join(OVERLAY_PARAMS, name), encoding="utf-8") as f:
                    out[name] = f.read().strip()
            except OSError:
                continue  # some parameters are write-only or root-only
        return out

    def namespace_id(self):
        """Return the identity of the current mount namespace, e.g. `mnt:[4026531841]`."""
        return os.readlink("/proc/self/ns/mnt")

    def mount_ids(self):
        """Return {mountinfo id: unique id} of this namespace's mounts ({} before Linux 6.8)."""
        if not self.unique_ids:
            return {}
        try:
            return identity.table_ids()
        except OSError as exc:
            raise SysError("cannot list the mounts: %s" % strerror(exc.errno), errno=exc.errno)

    def mountinfo_with_ids(self, read=None):
        """Return (mountinfo text, {mountinfo id: unique id} or None), the text (read(), default read_mountinfo)
        read once between two listings of the namespace's mounts that agree (identity.table_with_ids), not
        between two reads of the text as Sys.mountinfo_with_ids does."""
        read = read or self.read_mountinfo
        if not self.unique_ids:
            return read(), None
        for _try in range(TABLE_TRIES):
            try:
                got = identity.table_with_ids(read)
            except OSError as exc:
                raise SysError("cannot list the mounts: %s" % strerror(exc.errno), errno=exc.errno)
            if got is not None:
                return got[0], got[1] or None
        raise table_changed()

    def old_ids_of(self, uniques):
        """Return {unique id: mountinfo id or None} of `uniques`, one statmount(2) each; None before Linux 6.8."""
        if not self.unique_ids:
            return None
        try:
            return dict(sc.statmount_old_ids(uniques))
        except OSError as exc:
            if exc.errno in identity.UNSUPPORTED:
                return None
            raise SysError("cannot look up the mounts: %s" % strerror(exc.errno), errno=exc.errno)

    def marker(self, path):
        """Return the marker of the mount on top at `path` (identity.marker_of), None if it is not a mount point."""
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            _got, attrs, _mnt, _dev = sc.statx_mount(fd, sc.STATX_MNT_ID)
            if not attrs & sc.STATX_ATTR_MOUNT_ROOT:
                return None
            return identity.marker_of(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def features(self):
        """Return the Features of the running kernel, by its release (uname(2))."""
        return features_of(os.uname().release)


def features_of(release):
    """Return the Features a kernel `release` (`6.5.0-1-amd64`) has; none for a release that does not parse."""
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        return Features()
    return Features(beneath=(major, minor) >= (6, 5))
