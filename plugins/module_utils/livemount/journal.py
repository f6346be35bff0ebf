"""The write-ahead journal of one apply: append-only JSON lines, fdatasync'd before each step.

Line 1 is the header (plan id, profile, start time); then one `begin` record
before each change is performed and one `done` record after it. A torn last
line (the process died mid-write) is ignored on read. The journal exists only
while an apply runs: finding one at start means the last run was killed.

Every record recovery acts on (header, `begin`, `aside`) is on disk before
the system call it announces. A `done` record is written but not synced on
its own (`durable=False`): the next record's fdatasync carries it, and until
then only a power cut can lose it (a killed process cannot: write(2) has put
it in the page cache). Recovery loses nothing by that: it examines every
begun step against the live table whether or not it is marked done
(recover.py); `done` only counts steps in its message.

A mount step's `begin` record is written unsynced as well: what the step
does before its mount appears (a clone, a new filesystem, flags set on the
detached mount) leaves nothing behind when the process dies, and the
`attach` record, synced before the mount appears, carries the `begin` to
the disk with it (one fdatasync per mount instead of two).

A `made` record (which directory a step made: dirs.made) rides on the next
sync like a `done` record: the next step's `begin` is synced before that
step can cover the directory with a mount.
"""

import errno
import json
import os

from .errors import StateError

# One encoder for every record: json.dumps with arguments builds a new one per call. Keys stay in the order the
# record was built in (nothing reads them in order; sorting cost a third of the encoding, up to three records a step).
# A record is dicts and lists of JSON values that never contain themselves: no check for a cycle (a tenth of a
# record's encoding, up to three records a step).
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class Journal:
    """An append-only journal file at `path`."""

    def __init__(self, path):
        self.path = path
        self._fd = None

    def exists(self):
        """Return True if a journal is present (an apply is running or was interrupted)."""
        return os.path.lexists(self.path)

    def begin(self, header):
        """Create the journal with its header line; fails if one already exists. StateError when it cannot."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                         0o600)
        except OSError as exc:
            raise StateError("cannot create journal %s: %s; nothing was changed" % (self.path, _words(exc)))
        self._fd = fd
        try:
            self.record(dict(header, kind="header"))
            fsync_dir(os.path.dirname(self.path))
        except (OSError, StateError) as exc:
            self.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass
            raise StateError("cannot start journal %s: %s; nothing was changed" % (self.path, _words(exc)))

    def record(self, obj, durable=True):
        """Return None after appending one record, made durable (fdatasync) unless `durable` is False.

        A record written with durable=False reaches the disk with the next
        durable one (fdatasync(2) flushes all of the file's written data).
        """
        line = (_ENCODE(obj) + "\n").encode()
        try:
            if os.write(self._fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if durable:
                os.fdatasync(self._fd)
        except OSError as exc:
            # The step it announces is not started; a line cut short is dropped on read as a torn write.
            raise self._stopped(exc)

    def sync(self):
        """Return None once every record written so far is on disk (what a durable record does after its write)."""
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise self._stopped(exc)

    def _stopped(self, exc):
        """Return the StateError of a journal write or sync that failed: the run stops before its next step."""
        return StateError("cannot write journal %s: %s; the run stopped before its next step: what it did so far "
                          "is in place and the next run recovers it from the journal" % (self.path, _words(exc)))

    def read(self):
        """Return (header, records) of an existing journal; a torn final line is dropped."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except OSError as exc:
            raise StateError("cannot read journal %s: %s" % (self.path, exc.strerror))
        lines = raw.split(b"\n")
        out = []
        for i, line in enumerate(lines):
            if not line:
                continue
            try:
                out.append(json.loads(line.decode("utf-8")))
            except (ValueError, UnicodeDecodeError):
                if i == len(lines) - 1:
                    break  # torn last write: the step it announced never started
                raise StateError("cannot read journal %s: line %d is corrupt" % (self.path, i + 1))
        if not out or not isinstance(out[0], dict) or out[0].get("kind") != "header":
            raise StateError("cannot read journal %s: no header" % self.path)
        return out[0], out[1:]

    def finish(self):
        """Close and remove the journal (the apply is complete or fully rolled back)."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        fsync_dir(os.path.dirname(self.path))

    def close(self):
        """Close the file without removing it (an undo failed: the next run recovers)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _words(exc):
    """Return the lowercase words of an OSError (or the message of a StateError)."""
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
        return text[:1].lower() + text[1:]
    return str(exc)


def fsync_dir(path):
    """Flush a directory's entries (after create, rename or unlink in it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
