"""inventory.stream (what `livemount show --json` prints) gives exactly the rows inventory.read lists."""

import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, inventory
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from mountinfo_gen import generate_table
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
