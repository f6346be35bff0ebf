"""The write-ahead journal: header and records round trip, torn last line tolerated, corruption refused."""

import os
import shutil
import stat

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError
from ansible_collections.livemount.core.plugins.module_utils.livemount.journal import Journal

from tests.unit.planner_world import fast_tmpdir

HEADER = {"plan_id": "abc", "profile": "p", "steps": 3}
RECORDS = [{"kind": "begin", "n": 1, "action": "mkdir", "path": "/t"}, {"kind": "done", "n": 1},
           {"kind": "begin", "n": 2, "action": "mount", "path": "/t w\nx"}]


@pytest.fixture
def path():
    """Return the path of a journal that does not exist yet, in a fresh directory."""
    d = fast_tmpdir()
    yield os.path.join(d, "p.journal")
    shutil.rmtree(d, ignore_errors=True)


def written(path, header=HEADER, records=RECORDS):
    """Return a Journal after writing `header` and `records` through it (left open)."""
    j = Journal(path)
    j.begin(header)
    for r in records:
        j.record(r)
    return j


def test_round_trip(path):
    """read() gives back the header (kind header) and every record in order."""
    written(path).close()
    header, records = Journal(path).read()
    assert header == dict(HEADER, kind="header")
    assert records == RECORDS


def test_one_line_per_record_private_file(path):
    """Each record is one JSON line (newlines in paths escaped); the file is mode 0600."""
    written(path).close()
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert len(lines) == 1 + len(RECORDS) + 1 and lines[-1] == b""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_begin_refuses_an_existing_journal(path):
    """A second begin never overwrites an interrupted run's journal."""
    written(path).close()
    with pytest.raises(StateError) as info:
        Journal(path).begin(HEADER)
    assert "file exists; nothing was changed" in str(info.value)
    assert Journal(path).read()[1] == RECORDS


def test_begin_refuses_a_planted_symlink(path):
    """A symlink planted at the journal path is not followed (O_EXCL|O_NOFOLLOW)."""
    os.symlink("/etc/passwd-livemount-test", path)
    with pytest.raises(StateError):
        Journal(path).begin(HEADER)
    assert not os.path.exists("/etc/passwd-livemount-test")


TORN = [
    ("torn-mid-json", b'{"kind":"begin","n":3,"act'),
    ("torn-single-char", b"{"),
    ("torn-invalid-utf8", b'{"kind":"begin","path":"\xff'),
]


@pytest.mark.parametrize("tail", [t[1] for t in TORN], ids=[t[0] for t in TORN])
def test_torn_last_line_is_dropped(path, tail):
    """A last line cut by a crash mid-write (no newline) is ignored: the step it announced never started."""
    written(path).close()
    with open(path, "ab") as f:
        f.write(tail)
    header, records = Journal(path).read()
    assert records == RECORDS


CORRUPT = [
    ("corrupt-middle-line", lambda lines: lines[:2] + [b"garbage"] + lines[2:], "line 3 is corrupt"),
    ("corrupt-complete-last-line", lambda lines: lines[:-1] + [b"garbage", b""], "is corrupt"),
    ("invalid-utf8-in-the-middle", lambda lines: lines[:1] + [b'{"kind":"\xff"}'] + lines[1:], "line 2 is corrupt"),
    ("no-header", lambda lines: lines[1:], "no header"),
    ("empty", lambda lines: [b""], "no header"),
    ("only-a-torn-header", lambda lines: [lines[0][:5]], "no header"),
]


@pytest.mark.parametrize("spoil, message", [pytest.param(*c[1:], id=c[0]) for c in CORRUPT])
def test_corruption_is_refused(path, spoil, message):
    """Anything but a torn last line is corruption: StateError naming the journal, never a guess."""
    written(path).close()
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    with open(path, "wb") as f:
        f.write(b"\n".join(spoil(lines)))
    with pytest.raises(StateError) as exc:
        Journal(path).read()
    assert message in str(exc.value) and str(exc.value).startswith("cannot read journal %s: " % path)


def test_unreadable_journal_is_a_state_error(path):
    """A journal path that cannot be read (a directory there) is a StateError."""
    os.mkdir(path)
    with pytest.raises(StateError):
        Journal(path).read()


def test_finish_removes_and_close_keeps(path):
    """finish() removes the journal (apply complete); close() keeps it (the next run recovers)."""
    j = written(path)
    j.close()
    j.close()
    assert Journal(path).exists()
    j.finish()
    assert not Journal(path).exists()
    Journal(path).finish()  # finishing twice is fine


def test_exists_sees_a_dangling_symlink(path):
    """Something planted at the journal path, even a dangling symlink, counts as a journal (never ignored)."""
    os.symlink("/nonexistent", path)
    assert Journal(path).exists()
