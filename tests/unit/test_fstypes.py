"""Filesystem type typos caught at validate time (profile/fstypes.py, kernel/fstypes.py), and a wrong type word
reported once, without its follow-on errors."""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ProfileError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.fstypes import read_known
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.fstypes import KnownTypes, problem
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

KNOWN = KnownTypes(frozenset({"tmpfs", "proc", "sysfs", "ext4", "xfs", "nfs4"}), complete=True)
PARTIAL = KnownTypes(KNOWN.names, complete=False)

PROBLEMS = [
    # (id, type, known types, words of the problem, '' when fine)
    ("typo", "tmfps", KNOWN, "'tmfps' is not a filesystem type this kernel knows (/proc/filesystems and its"
                             " loadable modules); did you mean tmpfs?"),
    ("known", "xfs", KNOWN, ""),
    ("entry-word", "bind", KNOWN, ""),
    ("unknown-far", "zzzfs", KNOWN, "'zzzfs' is not a filesystem type this kernel knows"),
    ("no-modules-list-far", "zzzfs", PARTIAL, ""),  # may still load: not ours to refuse
    ("no-modules-list-typo", "ext5", PARTIAL, "did you mean ext4?"),
    ("unchecked", "tmfps", None, ""),
]


@pytest.mark.parametrize("etype, known, words", [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS])
def test_problem(etype, known, words):
    """A type the kernel does not know is a problem naming the closest known one; a possible module is not."""
    got = problem(etype, known)
    assert (words in got) if words else got == ""


def test_load_profile_reports_a_typo_alone():
    """A typo in type: one problem on the type, no `source is required for type tmfps` after it."""
    with pytest.raises(ProfileError) as exc:
        load_profile({"name": "p", "mounts": [{"target": "/srv/x", "type": "tmfps", "options": ["size=1m"]}]},
                     KNOWN)
    assert [(p[2], p[3].split(": ", 2)[-1]) for p in exc.value.problems] == [
        ("type", "'tmfps' is not a filesystem type this kernel knows (/proc/filesystems and its loadable modules);"
                 " did you mean tmpfs?")]


def test_overlayfs_gets_its_hint_without_follow_on_errors():
    """type overlayfs: the hint that the kernel calls it overlay, and nothing about lower/upper/work/source."""
    with pytest.raises(ProfileError) as exc:
        load_profile({"name": "p", "mounts": [{"target": "/srv/x", "type": "overlayfs", "lower": ["/a"],
                                               "upper": "/u", "work": "/w"}]})
    assert [p[2] for p in exc.value.problems] == ["type"]
    assert "the kernel calls it overlay" in exc.value.problems[0][3]


def test_read_known(tmp_path):
    """read_known: /proc/filesystems names, fs- module aliases and the modules under kernel/fs."""
    proc = tmp_path / "filesystems"
    proc.write_text("nodev\ttmpfs\nnodev\tproc\n\text4\n")
    mods = tmp_path / "modules" / "6.1.0"
    (mods / "kernel" / "fs" / "xfs").mkdir(parents=True)
    (mods / "kernel" / "fs" / "xfs" / "xfs.ko.zst").write_text("")
    (mods / "modules.alias").write_text("alias fs-nfs4 nfs\nalias pci:v* foo\n")
    known = read_known(str(proc), str(tmp_path / "modules"), "6.1.0")
    assert known.complete and {"tmpfs", "proc", "ext4", "xfs", "nfs4"} <= known.names
    bare = read_known(str(proc), str(tmp_path / "nothing"), "6.1.0")
    assert not bare.complete and bare.names == {"tmpfs", "proc", "ext4"}
    assert read_known(str(tmp_path / "missing")) is None
    assert os.path.exists("/proc/filesystems") and "tmpfs" in read_known().names
