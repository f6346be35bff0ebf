"""namespace.every_table: one table per distinct mount namespace of a /proc tree, vanished processes skipped."""

import os

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import namespace

LINE = "%d 1 0:%d / %s rw,relatime shared:1 - tmpfs tmpfs rw\n"


def _proc(tmp_path, pids):
    """Make a fake /proc: {pid: (namespace id, mountinfo text or None for a process gone meanwhile)}."""
    for pid, (ns, text) in pids.items():
        d = tmp_path / str(pid)
        (d / "ns").mkdir(parents=True)
        os.symlink(ns, str(d / "ns" / "mnt"))
        if text is not None:
            (d / "mountinfo").write_text(text)
    (tmp_path / "self").mkdir()  # not a pid: ignored
    return str(tmp_path)


def test_one_table_per_namespace(tmp_path):
    proc = _proc(tmp_path, {
        1: ("mnt:[1]", LINE % (20, 20, "/")),
        7: ("mnt:[1]", LINE % (99, 99, "/never-read")),  # the same namespace as pid 1: read once
        30: ("mnt:[2]", None),  # gone before its mountinfo was read: skipped
        31: ("mnt:[2]", LINE % (40, 40, "/") + LINE % (41, 41, "/srv")),
    })
    got = {ns: [m.mount_point for m in table.mounts] for ns, table in namespace.every_table(proc)}
    assert got == {"mnt:[1]": ["/"], "mnt:[2]": ["/", "/srv"]}


def test_a_proc_that_cannot_be_listed_yields_nothing(tmp_path):
    assert list(namespace.every_table(str(tmp_path / "missing"))) == []
