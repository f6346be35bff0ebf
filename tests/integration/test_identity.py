"""Which mount is which, on the real kernel: unique ids, markers, and steps that act only on the mount checked.

The kernel recycles mountinfo ids and anonymous device numbers at once: a
tmpfs mounted where another was just unmounted usually gets both of the old
one's numbers (issue 13, defect 1). The unique id (Linux 6.8+) and the
marker tell them apart. Every step that acts on an attached mount checks it
is the one expected, so a mount stacked on it since the plan is never the
one unmounted, remounted, copied or slid under (defect 2, at the seam).
"""

import errno
import os
import subprocess

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.inventory import read_text_and_ids_of
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys
from ansible_collections.livemount.core.plugins.module_utils.livemount.observe import read_table

APIS = pytest.mark.parametrize("classic", [False, True], ids=["new-api", "classic-api"])


def table(s=None):
    """Return the live table with unique ids."""
    return read_table(s or LinuxSys())


def shell_tmpfs(target, source, size="1m"):
    """Return None after mounting a tmpfs the way an administrator would (mount(8), not livemount)."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, source, target], check=True)


@pytest.mark.parametrize("unique_ids", [True, False], ids=["unique-ids", "before-6.8"])
def test_table_and_handles_carry_unique_ids(scratch, unique_ids):
    """Every mount of the table has a unique id; a detached mount's ident is the mount it becomes once attached.

    Its marker, which stands in for the unique id, is read only where there is none (as before Linux 6.8).
    """
    s = LinuxSys(unique_ids=unique_ids)
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    if unique_ids:
        assert all(m.unique is not None and m.unique >= 1 << 31 for m in table(s).mounts)
    h = s.create_fs("tmpfs", None, ())
    ident, marker = h.ident, h.marker
    s.attach(h, t)
    live = table(s).top(t)
    assert (live.unique, live.mount_id, live.dev) == (ident.unique, ident.mount_id, ident.dev)
    if unique_ids:
        assert marker is None and ident.unique is not None
        assert table(s).by_unique(ident.unique) == live
    else:
        assert s.marker(t) == marker is not None and ident.unique is None


@pytest.mark.parametrize("race", ["none", "mount-while-read", "umount-while-read", "transient-while-read"])
def test_text_and_ids_are_read_together_when_mounts_come_and_go(scratch, race):
    """Each line gets the unique id of the mount it shows, when a mount comes, goes, or comes and goes mid-read.

    The text is read once between two listings of the mounts; a mount made or unmounted then makes it read
    again (the first read is never the one returned), so the ids always match the text returned.
    """
    s = LinuxSys()
    for name in ("a", "b"):
        os.mkdir(os.path.join(scratch, name))
    shell_tmpfs(os.path.join(scratch, "b"), "gone-soon")
    reads = []

    def read():
        reads.append(1)
        if len(reads) == 1:
            if race == "mount-while-read":
                shell_tmpfs(os.path.join(scratch, "a"), "newcomer")
            elif race == "umount-while-read":
                subprocess.run(["umount", os.path.join(scratch, "b")], check=True)
            elif race == "transient-while-read":
                shell_tmpfs(os.path.join(scratch, "a"), "transient")
                text = s.read_mountinfo()
                subprocess.run(["umount", os.path.join(scratch, "a")], check=True)
                return text
        return s.read_mountinfo()

    text, ids = s.mountinfo_with_ids(read)
    assert len(reads) == (1 if race == "none" else 2)
    assert text == s.read_mountinfo() and ids == s.mount_ids()  # mount_ids: listed mount by mount
    live = read_table(s)
    assert all(m.unique == ids[m.mount_id] for m in live.mounts)


@pytest.mark.parametrize("race", ["none", "replaced-while-read"])
def test_recorded_ids_are_looked_up_around_one_read(scratch, race):
    """read_text_and_ids_of: the recorded mount's mountinfo id is the one the text shows it with; a recorded mount
    replaced by another (same place, often the same mountinfo id) during the read makes it read again."""
    s = LinuxSys()
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    shell_tmpfs(t, "recorded")
    recorded = table(s).top(t)
    reads = []

    def read():
        reads.append(1)
        if len(reads) == 1 and race == "replaced-while-read":
            subprocess.run(["umount", t], check=True)
            shell_tmpfs(t, "impostor")
        return LinuxSys.read_mountinfo(s)

    s.read_mountinfo = read
    text, ids = read_text_and_ids_of(s, [recorded.unique, 1 << 62])
    assert len(reads) == (1 if race == "none" else 2)
    if race == "none":
        assert ids == {recorded.mount_id: recorded.unique}
    else:
        assert ids == {} and "impostor" in text  # the recorded mount is gone: no line carries its id
    assert LinuxSys(unique_ids=False).old_ids_of([recorded.unique]) is None


def test_recycled_device_number_is_another_mount(scratch):
    """A tmpfs unmounted by hand and another mounted there: same mountinfo id and device, new unique id and marker."""
    s = LinuxSys()
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    shell_tmpfs(t, "ours")
    first, first_marker = table(s).top(t), s.marker(t)
    subprocess.run(["umount", t], check=True)
    shell_tmpfs(t, "theirs")
    second = table(s).top(t)
    if second.dev != first.dev:
        pytest.skip("the kernel gave the second tmpfs another device number this time")
    assert second.unique != first.unique
    assert s.marker(t) != first_marker


@APIS
@pytest.mark.parametrize("call", ["umount", "umount-detach", "setattr", "reconfigure", "clone_mount", "beneath"])
def test_a_mount_stacked_on_the_checked_one_is_never_touched(scratch, classic, call):
    """A step expecting our tmpfs finds another stacked on it: ESTALE, and neither mount changed."""
    s = LinuxSys(classic=classic)
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    shell_tmpfs(t, "ours", "1m")
    ours = table(s).top(t).ident
    shell_tmpfs(t, "theirs", "2m")
    with open(os.path.join(t, "data"), "w") as f:
        f.write("theirs")
    before = [(m.unique, m.source, m.raw_mount_options, m.raw_super_options) for m in table(s).stack(t)]
    actions = {
        "umount": lambda: s.umount(t, False, ours),
        "umount-detach": lambda: s.umount(t, True, ours),
        "setattr": lambda: s.setattr(t, frozenset({"ro", "noexec"}), None, ours),
        "reconfigure": lambda: s.reconfigure(t, [("size", "8m")], ours),
        "clone_mount": lambda: s.clone_mount(t, ours),
        "beneath": lambda: s.attach(s.create_fs("tmpfs", None, ()), t, True, ours),
    }
    if classic and call in ("clone_mount", "beneath"):
        pytest.skip("the classic API has neither")
    with pytest.raises(SysError) as info:
        actions[call]()
    assert info.value.errno == errno.ESTALE
    assert "livemount leaves that mount alone" in str(info.value)
    after = [(m.unique, m.source, m.raw_mount_options, m.raw_super_options) for m in table(s).stack(t)]
    assert after == before
    with open(os.path.join(t, "data")) as f:
        assert f.read() == "theirs"


@APIS
def test_setattr_and_reconfigure_act_on_the_checked_mount(scratch, classic):
    """With the expected mount on top, the change lands on it (the check passes through the same handle)."""
    s = LinuxSys(classic=classic)
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    shell_tmpfs(t, "ours", "1m")
    ours = table(s).top(t).ident
    s.setattr(t, frozenset({"noexec"}), None, ours)
    s.reconfigure(t, [("size", "4m")], ours)
    live = table(s).top(t)
    assert live.unique == ours.unique
    assert "noexec" in live.flags and dict(live.fs_options)["size"] == str(4 << 20)
    s.umount(t, False, ours)
    assert table(s).top(t) is None


def test_fallback_without_unique_ids_checks_mountinfo_id_and_device(scratch):
    """As a kernel before 6.8: no unique ids anywhere, and the check compares mountinfo id and device."""
    s = LinuxSys(unique_ids=False)
    t = os.path.join(scratch, "t")
    os.mkdir(t)
    assert all(m.unique is None for m in table(s).mounts)
    shell_tmpfs(t, "ours")
    ours = table(s).top(t).ident
    assert ours.unique is None and ours.mount_id is not None
    shell_tmpfs(t, "theirs")
    with pytest.raises(SysError) as info:
        s.umount(t, False, ours)
    assert info.value.errno == errno.ESTALE
    assert [m.source for m in table(s).stack(t)] == ["ours", "theirs"]
