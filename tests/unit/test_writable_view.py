"""Removing what livemount made inside a mount that is read-only now: through a private writable view.

A plain unlink/rmdir that says EROFS is made again with `writable_view`
(sysapi): a detached copy of the mount with its per-mount `ro` cleared. The
undo puts things back the same way. A filesystem read-only itself still
refuses: a link is then a clear error with nothing changed, a directory is
kept with a warning (as any directory that cannot be removed).
"""

import errno
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import FailpointSys
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

from tests.unit.planner_world import bind, fake_host, fast_tmpdir, snapshot, symlink, tmpfs


def _sb_ro(target):
    def make(fake):
        fake.ns.mount_root_at(target).fs.readonly = True  # as `mount -o remount,ro` of the filesystem would
    return make


def _run(history, hook=None, fail=None):
    """Return (calls of destroying after `history`, error or None, warnings, snapshot before history and after)."""
    fake, root = fake_host(), fast_tmpdir()
    try:
        before = snapshot(fake)
        for mounts in history:
            engine.reconcile(load_profile({"name": "p", "mounts": mounts}), fake, root=root)
        if hook:
            hook(fake)
        middle = snapshot(fake)
        base = len(fake.calls)
        if fail:
            fake.fail_on(*fail)
        error, warnings = None, None
        try:
            warnings = engine.reconcile(load_profile({"name": "p", "mounts": []}), fake, root=root).warnings
        except ApplyError as exc:
            error = exc
        assert fake.open_handles == []
        return fake.calls[base:], error, warnings, (before, middle, snapshot(fake))
    finally:
        shutil.rmtree(root, ignore_errors=True)


RW_LINK = [bind("/srv/a", "/data/a"), symlink("/data/a/l", "/x")]
RO_LINK = [bind("/srv/a", "/data/a", "ro"), symlink("/data/a/l", "/x")]
RW_DIR = [bind("/srv/a", "/data/a"), tmpfs("/data/a/b")]
RO_DIR = [bind("/srv/a", "/data/a", "ro"), tmpfs("/data/a/b")]
TMPFS_LINK = [tmpfs("/data/t"), symlink("/data/t/l", "/x")]
TMPFS_DIR = [tmpfs("/data/t"), bind("/srv/a", "/data/t/b")]

TRANSCRIPTS = [
    ("link-in-a-bind-made-ro", [RW_LINK, RO_LINK], None, None, [
        'unlink "/data/a/l" -> EROFS',
        'unlink "/data/a/l" True',
        'clone_mount "/data/a"',
        'umount "/data/a"',
        'rmdir "/data/a"',
    ]),
    ("dir-in-a-bind-made-ro", [RW_DIR, RO_DIR], None, None, [
        'clone_mount "/data/a/b"',
        'umount "/data/a/b"',
        'rmdir "/data/a/b" -> EROFS',
        'rmdir "/data/a/b" True',
        'clone_mount "/data/a"',
        'umount "/data/a"',
        'rmdir "/data/a"',
    ]),
    ("failed-unmount-puts-the-link-back-through-the-view", [RW_LINK, RO_LINK], None,
     ('umount "/data/a"', errno.EIO), [
        'unlink "/data/a/l" -> EROFS',
        'unlink "/data/a/l" True',
        'clone_mount "/data/a"',
        'umount "/data/a" -> EIO',
        'symlink "/x" "/data/a/l" True',
    ]),
    ("failed-unmount-puts-the-dir-back-through-the-view", [RW_DIR, RO_DIR], None,
     ('umount "/data/a"', errno.EIO), [
        'clone_mount "/data/a/b"',
        'umount "/data/a/b"',
        'rmdir "/data/a/b" -> EROFS',
        'rmdir "/data/a/b" True',
        'clone_mount "/data/a"',
        'umount "/data/a" -> EIO',
        'mkdir "/data/a/b" 0o755 0 0 True',
        'attach <mount copy /data/a/b> "/data/a/b"',
    ]),
    ("failed-view-is-a-failed-step", [RW_LINK, RO_LINK], None, ('unlink "/data/a/l" True', errno.EIO), [
        'unlink "/data/a/l" -> EROFS',
        'unlink "/data/a/l" True -> EIO',
    ]),
    ("writable-mount-needs-no-view", [RW_LINK], None, None, [
        'unlink "/data/a/l"',
        'clone_mount "/data/a"',
        'umount "/data/a"',
        'rmdir "/data/a"',
    ]),
    ("superblock-ro-link-refuses-and-changes-nothing", [TMPFS_LINK], _sb_ro("/data/t"), None, [
        'unlink "/data/t/l" -> EROFS',
        'unlink "/data/t/l" True -> EROFS',
    ]),
    ("superblock-ro-dir-is-kept", [TMPFS_DIR], _sb_ro("/data/t"), None, [
        'clone_mount "/data/t/b"',
        'umount "/data/t/b"',
        'rmdir "/data/t/b" -> EROFS',
        'rmdir "/data/t/b" True -> EROFS',
        'clone_mount "/data/t"',
        'umount "/data/t"',
        'rmdir "/data/t"',
    ]),
]
_FAILS = {"failed-unmount-puts-the-link-back-through-the-view", "failed-unmount-puts-the-dir-back-through-the-view",
          "failed-view-is-a-failed-step", "superblock-ro-link-refuses-and-changes-nothing"}


@pytest.mark.parametrize("history, hook, fail, expected", [pytest.param(*t[1:], id=t[0]) for t in TRANSCRIPTS])
def test_transcript(request, history, hook, fail, expected):
    """Destroy issues exactly these calls: the view only after EROFS, the undo through the view it used."""
    calls, error, _warnings, (_before, middle, after) = _run(history, hook, fail)
    assert calls == expected
    assert (error is not None) == (request.node.callspec.id in _FAILS)
    if error is not None:
        assert after == middle, "a failed destroy rolls everything back"


@pytest.mark.parametrize("history", [[RW_LINK, RO_LINK], [RW_DIR, RO_DIR]], ids=["link", "dir"])
def test_destroy_leaves_the_host_as_it_was(history):
    """Destroy after the bind was made read-only: table and files are as before the first apply, no warning."""
    _calls, error, warnings, (before, _middle, after) = _run(history)
    assert error is None and warnings == [] and after == before


def test_superblock_ro_link_is_a_clear_error():
    """A link on a filesystem read-only itself: the error says so, names the link, and nothing changed."""
    _calls, error, _warnings, (_before, middle, after) = _run([TMPFS_LINK], _sb_ro("/data/t"))
    assert error.errno == errno.EROFS
    assert "cannot remove /data/t/l: the filesystem itself is read-only, not only its mount" in str(error)
    assert after == middle


def test_superblock_ro_dir_is_kept_with_a_warning():
    """A directory on a filesystem read-only itself is kept, the rest is destroyed, and the warning names it."""
    _calls, error, warnings, _snaps = _run([TMPFS_DIR], _sb_ro("/data/t"))
    assert error is None and warnings == ["kept /data/t/b: read-only file system"]


def test_unbindable_ro_mount_cannot_be_viewed():
    """An unbindable mount cannot be copied (open_tree EINVAL): EROFS saying why, nothing changed."""
    ro = [tmpfs("/data/t", "ro", propagation="unbindable"), symlink("/data/t/l", "/x")]
    _calls, error, _warnings, (_before, middle, after) = _run([TMPFS_LINK, ro])
    assert error.errno == errno.EROFS and "cannot be copied to write through it" in str(error)
    assert after == middle


# ---- the seam: the fake's model and the failpoint wrapper ------------------------------------------------------------
VIEW_CALLS = [
    ("mkdir", lambda f, v: f.mkdir("/data/a/n", 0o755, 0, 0, v), "/srv/a/n", "dir"),
    ("mkfile", lambda f, v: f.mkfile("/data/a/n", 0o644, 0, 0, v), "/srv/a/n", "file"),
    ("symlink", lambda f, v: f.symlink("/x", "/data/a/n", v), "/srv/a/n", "symlink"),
    ("unlink", lambda f, v: f.unlink("/data/a/file", v), "/srv/a/file", "missing"),
    ("rmdir", lambda f, v: f.rmdir("/data/a/x", v), "/srv/a/x", "missing"),
]


@pytest.mark.parametrize("call, seen, kind", [c[1:] for c in VIEW_CALLS], ids=[c[0] for c in VIEW_CALLS])
def test_fake_view_writes_through_a_per_mount_ro(call, seen, kind):
    """Through a ro bind: plain is EROFS, the view works and changes no mount; the result shows in the source."""
    fake = fake_host()
    fake.seed_bind("/srv/a", "/data/a", flags={"ro"})
    table = fake.read_mountinfo()
    with pytest.raises(SysError) as exc:
        call(fake, False)
    assert exc.value.errno == errno.EROFS
    call(fake, True)
    assert fake.read_mountinfo() == table and fake.lstat(seen).kind == kind
    assert fake.calls[-1].endswith(" True")


def test_failpoint_counts_a_view_call_as_one_step():
    """FailpointSys forwards writable_view and names it in the call string of the step it fails."""
    fake = fake_host()
    fake.seed_bind("/srv/a", "/data/a", flags={"ro"})
    fp = FailpointSys(fake, {2: errno.EIO})
    fp.unlink("/data/a/file", True)
    with pytest.raises(SysError) as exc:
        fp.rmdir("/data/a/x", True)
    assert exc.value.call == 'rmdir "/data/a/x" True' and fp.count == 2
    assert fake.calls == ['unlink "/data/a/file" True']
