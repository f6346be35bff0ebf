"""inventory.stream (what `livemount show --json` prints) gives exactly the rows inventory.read lists, and
inventory.stream_json exactly their JSON."""

import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, inventory
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from mountinfo_gen import format_mountinfo_line, generate_table
from tests.unit.fakesys import FakeSys
from tests.unit.planner_world import bind, fake_host, fast_tmpdir, overlay, tmpfs

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mountinfo")
PROFILE = {"name": "web", "mounts": [bind("/srv/a", "/data/app", "ro", "nosuid"), tmpfs("/data/cache", "size=16m"),
                                     overlay("/data/root", ["/ovl/l1", "/ovl/l2"], "/ovl/u", "/ovl/w")]}


class CountingSys(FakeSys):
    """A FakeSys that counts the table reads and id listings, and can show a given mountinfo text instead."""

    def __init__(self, text=None):
        super().__init__()
        self.text = text
        self.reads = self.listings = 0

    def read_mountinfo(self):
        """Return the given text, else the fake namespace's table; counted."""
        self.reads += 1
        return super().read_mountinfo() if self.text is None else self.text

    def mount_ids(self):
        """Return the fake's unique ids (none for a given text); counted."""
        self.listings += 1
        return super().mount_ids() if self.text is None else {}


def _capture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


@pytest.mark.parametrize("text", [_capture(f) for f in sorted(os.listdir(FIXTURES)) if f.endswith(".txt")]
                         + [generate_table(2000)],
                         ids=[f[:-4] for f in sorted(os.listdir(FIXTURES)) if f.endswith(".txt")] + ["generated"])
def test_stream_lists_what_read_lists(text):
    """Every real capture and a generated table: the streamed rows equal read()'s, visible flags included."""
    root = fast_tmpdir()
    try:
        system = CountingSys(text)
        assert list(inventory.stream(system, root)) == inventory.read(system, root)[1]
    finally:
        shutil.rmtree(root)


@pytest.mark.parametrize("unique_ids", [True, False], ids=["unique-ids", "before-linux-6.8"])
def test_stream_marks_owners_as_read_does(unique_ids):
    """Owned mounts, one covered by a foreign mount and one replaced by another: owners as read() gives them."""
    fake, root = fake_host(), fast_tmpdir()
    try:
        fake.unique_ids = unique_ids
        engine.reconcile(load_profile(PROFILE), fake, root=root)
        fake.seed_mount("tmpfs", "/data/app", source="ontop")  # covers the owned bind
        fake.umount("/data/cache")
        fake.seed_mount("tmpfs", "/data/cache", source="impostor")  # same target, not the recorded mount
        rows = inventory.read(fake, root)[1]
        assert list(inventory.stream(fake, root)) == rows
        assert list(inventory.stream_json(fake, root)) == [json.dumps(r, sort_keys=True) for r in rows]
        assert {(r["target"], r["source"]): r["owner"] for r in rows if r["target"] != "/"} == {
            ("/data/app", "/dev/sda1"): "web" if unique_ids else None,  # covered: known as ours by its unique id only
            ("/data/app", "ontop"): None, ("/data/cache", "impostor"): None, ("/data/root", "overlay"): "web"}
    finally:
        shutil.rmtree(root)


def test_stream_lists_unique_ids_only_for_records_that_have_them():
    """No state (or records without unique ids): one read, no lookup; a record with one: its id looked up before
    and after one read of the table (this fake looks up by listing; LinuxSys asks statmount(2) per record)."""
    fake, root = CountingSys(), fast_tmpdir()
    try:
        for d in ("/srv/a", "/data"):
            fake.seed_dir(d)
        list(inventory.stream(fake, root))
        assert (fake.reads, fake.listings) == (1, 0)
        engine.reconcile(load_profile({"name": "web", "mounts": [tmpfs("/data/cache")]}), fake, root=root)
        fake.reads = fake.listings = 0
        list(inventory.stream(fake, root))
        assert (fake.reads, fake.listings) == (1, 2)
    finally:
        shutil.rmtree(root)


# Lines off the common shape, each still a mountinfo line: numbers with leading zeros, text JSON escapes (quotes,
# controls, non-ASCII, bytes that are not UTF-8), every propagation, empty fields, overlays, odd options.
ODD = "\n".join([
    format_mountinfo_line(1, 0, (8, 1), "/", "/", fstype="ext4", source="/dev/sda",
                          super_options=(("rw", None), ("errors", "remount-ro"))),
    "007 01 08:01 / /zeros rw - ext4 /dev/sda rw",
    "8 1 0:09 /r /zeros/minor ro,nosuid shared:3 master:004 - tmpfs tmpfs rw,size=4k",
    format_mountinfo_line(10, 1, (0, 50), "/", '/q"uote\x01\x7f', "rw,noatime", ["unbindable"], "tmpfs",
                          "src\"\\x", (("rw", None), ("mode", "1777"))),
    format_mountinfo_line(11, 1, (0, 51), "/\u00fc\u4e2d", "/\u00fcn\u00efc\u00f6d\u00e9 \t\n\\", "rw",
                          ["shared:1", "propagate_from:2", "future:9"], "fuse.\u00fc", "d\u00e9v\udcff",
                          (("rw", None), ("k\u00e9y", "v\u00e1l"), ("flag", None))),
    format_mountinfo_line(12, 1, (0, 52), "/", "/ov", "rw,relatime", (), "overlay", "overlay",
                          (("rw", None), ("lowerdir", "/l/a:/l/b::/d/c"), ("upperdir", "/u"), ("workdir", "/w"),
                           ("uuid", "on"))),
    format_mountinfo_line(13, 1, (0, 53), "/", "/ov2", "ro", ["master:5"], "overlay", "overlay",
                          (("ro", None), ("lowerdir+", "/l/x"), ("datadir+", "/d/y"), ("redirect_dir", "on"))),
    "14 1 0:54  /empty-root rw - tmpfs  ",
    "15 1 0:55 / /stacked rw - tmpfs a rw",
    "16 15 0:56 / /stacked rw - tmpfs b rw,size=64k,nr_inodes=1k,uid=0,gid=00",
    "17 1 0:57 / /covered/child rw - tmpfs c rw",
    "18 1 0:58 / /covered rw,nodev,noexec,nodiratime - tmpfs d rw,strictatime",
    "19 1 0:59 / /dashes rw - - - -",
    "20 1 0:60 / /tabs\tin\tfields rw - tmpfs t\tx rw",
]) + "\n"


@pytest.mark.parametrize("text", [_capture(f) for f in sorted(os.listdir(FIXTURES)) if f.endswith(".txt")]
                         + [generate_table(2000), ODD],
                         ids=[f[:-4] for f in sorted(os.listdir(FIXTURES)) if f.endswith(".txt")]
                         + ["generated", "odd"])
def test_stream_json_writes_what_json_dumps_writes(text):
    """Each streamed JSON text is json.dumps(row, sort_keys=True) of stream()'s row, in order."""
    root = fast_tmpdir()
    try:
        system = CountingSys(text)
        assert list(inventory.stream_json(system, root)) == [
            json.dumps(r, sort_keys=True) for r in inventory.stream(system, root)]
    finally:
        shutil.rmtree(root)


def _outcome(rows):
    """Return ("rows", list) of an iterator over rows or their JSON texts, or ("error", message) when it raises."""
    try:
        return "rows", [r if isinstance(r, str) else json.dumps(r, sort_keys=True) for r in rows()]
    except ValueError as exc:
        return "error", str(exc)


ODD_LINES = [line for line in ODD.split("\n") if line]
EDITS = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), st.sampled_from(
    [" ", "-", ":", "\\", "\\0", "\\134", ",", "=", "0", "00", "x", "\n", "lowerdir=", "::", "shared:", "master:1 ",
     "\udcff", "\u0661", '"'])), max_size=5)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(ODD_LINES), min_size=1, max_size=4), EDITS)
def test_fuzz_stream_json_says_what_stream_says(lines, edits):
    """Mangled lines: stream_json gives stream()'s rows as JSON, or raises stream()'s very ValueError."""
    text = "\n".join(lines)
    for pos, cut, piece in edits:
        pos %= len(text) + 1
        text = text[:pos] + piece + text[pos + cut:]
    system, root = CountingSys(text), "/nonexistent/livemount-state"
    assert _outcome(lambda: inventory.stream_json(system, root)) == _outcome(lambda: inventory.stream(system, root))


def test_stream_json_lines_refused_by_its_checks_go_through_the_dict(monkeypatch):
    """A line the fast writer refuses (here: any with optional fields) is written from its dict, the same text."""
    root = fast_tmpdir()
    try:
        system = CountingSys(ODD)
        expected = [json.dumps(r, sort_keys=True) for r in inventory.stream(system, root)]

        def refuse(optional):
            raise ValueError("refused")

        monkeypatch.setattr(inventory, "tags", refuse)
        assert list(inventory.stream_json(system, root)) == expected
    finally:
        shutil.rmtree(root)
