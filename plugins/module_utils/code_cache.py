# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's compiled code, kept on a host between module runs that may write.

A module reaches the host as source inside the AnsiballZ zip, and Python
keeps no bytecode for a zip: every run compiled every engine file it
imports, the larger part of what a `--check` of a host in sync costs over
`ping` (docs/benchmarks.md, section 11). Here each compiled file is kept,
by a run that may write (not check mode: keep() is called by the modules
that change the host, at the end of a run that did not fail), in a
directory of livemount's own, and found again by later runs, check mode
included, which only read it.

* Where: $LIVEMOUNT_CODE_CACHE, default /var/cache/livemount/code (FHS: data
  an application can make again); an empty value turns the cache off.
* Which: a file is named by the sha256 of Python's bytecode magic number,
  the module's name and its source, so a changed engine or another Python
  never finds an old file: no file is ever stale, only unused (removed by a
  later keep() once unused for a week).
* Trusted only as livemount's own, by the rule its state files follow
  (livemount/ourfiles.py): a file is bytecode that runs, so the directory
  and its parent must be real directories owned by the effective user that
  nobody else may write to, and each file a regular file of that user's,
  written by nobody else. Anything else is never read, never written into:
  the source is compiled as before. A file that does not load (torn, other
  data) is compiled again too.
* Python 3.10 and later: 3.9's zipimport loads a module without asking its
  importer for the code (load_module), so a 3.9 host compiles as before.
  A traceback through cached code names the file where it was compiled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib.util
import marshal
import os
import stat
import sys
import time
import types

DEFAULT = "/var/cache/livemount/code"
UNUSED_FOR = 7 * 24 * 3600  # seconds a file no run used may stay
_HEADER = b"livemount-code\0" + importlib.util.MAGIC_NUMBER
_compiled = {}  # key -> code compiled by this run and not found in the cache (what keep() writes)
_used = set()  # keys this run looked up, found or not


_reader = []  # the cache directory's fd for this run's lookups (None: absent or untrusted), opened once


def where():
    """Return the cache directory ('' when turned off: the variable empty, or not an absolute path)."""
    path = os.environ.get("LIVEMOUNT_CODE_CACHE", DEFAULT)
    return path if os.path.isabs(path) else ""


def code_of(name, source, filename):
    """Return the code object of module `name` whose source is the bytes `source`, from the cache or compiled."""
    key = hashlib.sha256(_HEADER + name.encode("utf-8") + b"\0" + source).hexdigest()
    _used.add(key)
    code = _read(key)
    if code is None:
        # As zipimport compiles a source: universal newlines, no inherited __future__ flags.
        code = compile(source.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), filename, "exec", dont_inherit=True)
        _compiled[key] = code
    return code


def keep():
    """Write the code this run compiled into the cache, and remove files unused for a week (best effort).

    Call only from a run that may change the host (never in check mode).
    A cache that cannot be written is no error: the next run compiles.
    """
    path = where()
    if not path or sys.dont_write_bytecode or not (_compiled or _used):
        return
    try:
        fd = _open_dir(path, create=True)
    except OSError:
        return  # read-only /var, no permission: compiled again next time
    if fd is None:
        return
    try:
        for key, code in sorted(_compiled.items()):
            _write(fd, key, _HEADER + marshal.dumps(code))
        _compiled.clear()
        _prune(fd)
    except OSError:
        pass  # a full or read-only disk: what was written stays, each file whole or absent
    finally:
        os.close(fd)


def _read(key):
    """Return the cached code of `key`, or None when absent, untrusted or unreadable."""
    if not _reader:
        try:
            _reader.append(_open_dir(where(), create=False) if where() else None)
        except OSError:
            _reader.append(None)
    fd = _reader[0]
    if fd is None:
        return None
    try:
        f = os.open(key, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return None
    try:
        st = os.fstat(f)
        if not _ours(st, stat.S_ISREG):
            return None
        with os.fdopen(f, "rb") as stream:
            f = None
            data = stream.read()
    finally:
        if f is not None:
            os.close(f)
    if not data.startswith(_HEADER):
        return None
    try:
        code = marshal.loads(data[len(_HEADER):])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _ours(st, is_kind):
    """Return True when what `st` describes is of the kind `is_kind` tests and livemount may trust it as its own.

    livemount/ourfiles.py's check_owned, as a test: the effective user's, and
    nobody else may write it. Not imported from there: this module runs while
    zip_import installs its importer, and importing the engine package now
    would load the engine through the stock importer (tests/ansible/test_payload.py).
    """
    return is_kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _open_dir(path, create):
    """Return an fd of cache directory `path` when it and its parent are trusted, else None (made when `create`)."""
    parent, leaf = os.path.split(path.rstrip("/"))
    if create and not os.path.isdir(path):
        os.makedirs(parent, mode=0o755, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not _ours(os.fstat(pfd), stat.S_ISDIR):
            return None
        fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    finally:
        os.close(pfd)
    if not _ours(os.fstat(fd), stat.S_ISDIR):
        os.close(fd)
        return None
    return fd


def _write(fd, key, data):
    """Write `data` as file `key` in directory `fd`: whole or not at all (a temp file renamed over it).

    state.atomic_write's way, without its fsyncs (a file a crash loses is compiled again), and not imported
    from there for the reason _ours gives.
    """
    tmp = ".%s.%d.tmp" % (key, os.getpid())
    f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
    try:
        with os.fdopen(f, "wb") as stream:
            f = None
            stream.write(data)
        os.replace(tmp, key, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=fd)
        except OSError:
            pass
        raise
    finally:
        if f is not None:
            os.close(f)


def _prune(fd):
    """Remove the files of directory `fd` that this run did not use and none has changed for UNUSED_FOR."""
    old = time.time() - UNUSED_FOR
    for name in os.listdir(fd):
        if name in _used:
            continue
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if st.st_mtime < old:
                os.unlink(name, dir_fd=fd)
        except OSError:
            continue
