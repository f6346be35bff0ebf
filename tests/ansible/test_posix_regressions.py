"""Cases where ansible.posix.mount is known to be wrong, run with livemount.core instead.

Each case applies a profile twice (the second run must say changed=false),
optionally changes it and applies the change twice, then checks the live
table itself, not livemount's own report. ansible.posix is not needed: these
prove livemount passes, see docs/ansible.md for what ansible.posix.mount does.
"""

import os
import subprocess

import pytest

from . import playbook


def _task(mounts):
    return {"name": "apply", "livemount.core.mount_profile": {"name": "regress", "mounts": mounts}}


def _apply_twice(s, mounts):
    run = playbook.run(playbook.play([_task(mounts), _task(mounts)]), s)
    assert run.rc == 0, run.stdout
    first, second = run.results("apply")
    assert second["changed"] is False, "second run changed: %s" % second["changes"]
    return first


def _only(target):
    stack = playbook.mountinfo_targets().get(target, [])
    assert len(stack) == 1, "expected one mount at %r, found %s" % (target, stack)
    return stack[0]


def _read(path):
    with open(path) as f:
        return f.read()


def _other_fs(s):
    # A separate filesystem holding the bind source: posix.mount rebuilds the
    # source from mountinfo's root plus the parent mount and never matches.
    os.makedirs(s + "/otherfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "other", s + "/otherfs"], check=True)
    os.makedirs(s + "/otherfs/sub")
    with open(s + "/otherfs/sub/marker", "w") as f:
        f.write("other")
    m = [{"target": s + "/mnt/data", "type": "bind", "source": s + "/otherfs/sub"}]

    def check():
        top = _only(s + "/mnt/data")
        assert top["fstype"] == "tmpfs" and top["root"] == "/sub"
        assert _read(s + "/mnt/data/marker") == "other"
    return m, None, check


def _spaces_tabs(s):
    src = s + "/source dir\twith tab"
    os.makedirs(src)
    target = s + "/mount point with spaces/and\ta tab"
    m = [{"target": target, "type": "bind", "source": src},
         {"target": s + "/cache with space", "type": "tmpfs", "options": ["size=1m"]}]

    def check():
        assert _only(target)["root"] == src[len(s):]  # root within the scratch tmpfs
        assert _only(s + "/cache with space")["fstype"] == "tmpfs"
    return m, None, check


def _option_reorder(s):
    one = [{"target": s + "/mnt/t", "type": "tmpfs", "options": ["nodev", "noatime", "nosuid", "size=1m"]}]
    two = [{"target": s + "/mnt/t", "type": "tmpfs", "options": ["size=1024k", "nosuid", "noatime", "nodev"]}]

    def check():
        assert {"nodev", "noatime", "nosuid"} <= _only(s + "/mnt/t")["options"]
    return one, (two, False), check


def _option_change_live(s):
    os.makedirs(s + "/src")
    one = [{"target": s + "/mnt/b", "type": "bind", "source": s + "/src", "options": ["ro", "nosuid"]}]
    two = [{"target": s + "/mnt/b", "type": "bind", "source": s + "/src", "options": ["noexec"]}]

    def check():
        opts = _only(s + "/mnt/b")["options"]
        assert "rw" in opts and "noexec" in opts and "nosuid" not in opts
    return one, (two, True), check


def _tmpfs_size(s):
    one = [{"target": s + "/mnt/t", "type": "tmpfs", "options": ["size=1m"]}]
    two = [{"target": s + "/mnt/t", "type": "tmpfs", "options": ["size=4m"]}]

    def check():
        assert "size=4096k" in _only(s + "/mnt/t")["super"]
        assert os.statvfs(s + "/mnt/t").f_blocks * os.statvfs(s + "/mnt/t").f_frsize == 4 << 20
    return one, (two, True), check


def _bind_source_change(s):
    for d in ("a", "b"):
        os.makedirs(s + "/src/" + d)
        with open(s + "/src/%s/marker" % d, "w") as f:
            f.write(d)
    one = [{"target": s + "/mnt/b", "type": "bind", "source": s + "/src/a"}]
    two = [{"target": s + "/mnt/b", "type": "bind", "source": s + "/src/b"}]

    def check():
        assert _only(s + "/mnt/b")["root"] == "/src/b"  # one mount (replaced, not stacked) of the scratch tmpfs
        assert _read(s + "/mnt/b/marker") == "b"
    return one, (two, True), check


CASES = [_other_fs, _spaces_tabs, _option_reorder, _option_change_live, _tmpfs_size, _bind_source_change]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_idempotent_where_posix_mount_is_not(scratch, case):
    """Apply (and change) a profile posix.mount gets wrong: every second run is changed=false, the table is right."""
    first, change, check = case(scratch)
    assert _apply_twice(scratch, first)["changed"] is True
    if change is not None:
        second, changes = change
        assert _apply_twice(scratch, second)["changed"] is changes
    check()
