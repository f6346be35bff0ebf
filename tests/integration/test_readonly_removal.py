"""What livemount made inside a mount that is read-only now is removed through a private writable view.

Real kernel, private namespace. A bind made `ro` by the profile after a
link and a mount point were created inside it: destroy removes both through
a detached open_tree(2) copy of the bind whose per-mount ro flag is cleared,
and the table and the source tree end exactly as before. A filesystem that
is read-only itself (superblock) refuses even through the copy: a clear
error and nothing changed; so does the classic mount(2) API, which has no
detached copy, and so does an unbindable mount, which cannot be copied.
"""

import errno
import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys

from . import helpers
from .helpers import apply, destroy, expand, hand_mount, make_tree, profile_dict, state_meaning, read_table, snapshot, top

TREE = ["base/", "src/keep=kept", "src/sub/"]


def _files(root):
    """Return {relative path: kind or link target} of everything under `root` (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = "-> " + os.readlink(path) if os.path.islink(path) else (
                "dir" if os.path.isdir(path) else "file")
    return out


def _profile(scratch, src, ro):
    """Return a profile: a bind of `src` at @/dst (ro or not), a link and a tmpfs (its mount point made) inside it."""
    flags = {"options": ["ro"]} if ro else {}
    return profile_dict(scratch, [dict({"type": "bind", "source": src, "target": "@/dst"}, **flags),
                                  {"type": "symlink", "source": "/nowhere", "target": "@/dst/l"},
                                  {"type": "tmpfs", "target": "@/dst/t"}])


def _refused(path):
    """Return the errno of a plain unlink of `path` (0 when it worked: then the test is wrong)."""
    try:
        os.unlink(path)
    except OSError as exc:
        return exc.errno
    return 0


@pytest.mark.parametrize("walk", [False, True], ids=["openat2", "component-walk"])
def test_destroy_removes_link_and_mount_point_inside_a_bind_made_read_only(scratch, walk):
    """Bind, link and tmpfs inside it, then the bind made ro: destroy leaves table and source exactly as before."""
    helpers.SYS_OPTIONS.update(walk=walk)
    make_tree(scratch, TREE)
    src = expand(scratch, "@/src")
    table, files = snapshot(scratch), _files(src)
    apply(scratch, _profile(scratch, "@/src", ro=False))
    apply(scratch, _profile(scratch, "@/src", ro=True))
    assert "ro" in top(expand(scratch, "@/dst")).opts
    assert _refused(expand(scratch, "@/dst/l")) == errno.EROFS  # the kernel refuses a plain unlink
    report = destroy(scratch)
    assert report.warnings == []
    assert snapshot(scratch) == table and _files(src) == files


def test_the_view_changes_no_mount_anyone_sees(scratch):
    """unlink through the view of a shared ro bind: no mount appears, in it or in its peer, and both lose the file."""
    make_tree(scratch, TREE + ["src/gone=x"])
    src, a, b = (expand(scratch, p) for p in ("@/src", "@/a", "@/b"))
    os.makedirs(a)
    os.makedirs(b)
    hand_mount("--bind", src, a)
    hand_mount("--make-shared", a)
    hand_mount("--bind", a, b)  # b is a peer of a
    hand_mount("-o", "remount,bind,ro", a)
    before = read_table()
    LinuxSys().unlink(os.path.join(a, "gone"), True)
    assert read_table() == before
    assert not os.path.lexists(os.path.join(src, "gone")) and not os.path.lexists(os.path.join(b, "gone"))
    assert "ro" in top(a).opts


def _sb_ro_base(scratch):
    """Return @/base/src on a tmpfs of its own (mounted by hand: not livemount's) with the TREE's src content."""
    base = expand(scratch, "@/base")
    make_tree(scratch, TREE)
    hand_mount("-t", "tmpfs", "tmpfs", base)
    os.makedirs(os.path.join(base, "src/sub"))
    return os.path.join(base, "src")


def test_superblock_read_only_link_is_a_clear_error_and_nothing_changes(scratch):
    """The bind's filesystem remounted ro as a whole: the view cannot help, destroy says why, nothing changed."""
    src = _sb_ro_base(scratch)
    apply(scratch, _profile(scratch, src, ro=False))
    hand_mount("-o", "remount,ro", expand(scratch, "@/base"))
    assert "ro" in top(expand(scratch, "@/base")).super
    table, files, state = snapshot(scratch), _files(src), state_meaning(scratch)
    with pytest.raises(ApplyError) as exc:
        destroy(scratch)
    assert exc.value.errno == errno.EROFS
    assert ("cannot remove %s: the filesystem itself is read-only, not only its mount"
            % expand(scratch, "@/dst/l")) in str(exc.value)
    assert snapshot(scratch) == table and _files(src) == files and state_meaning(scratch) == state


def test_superblock_read_only_mount_point_is_kept_with_a_warning(scratch):
    """Only a mount point on a filesystem ro as a whole: destroy unmounts everything and keeps that directory."""
    src = _sb_ro_base(scratch)
    data = profile_dict(scratch, [{"type": "bind", "source": src, "target": "@/dst"},
                                  {"type": "tmpfs", "target": "@/dst/t"}])
    table = snapshot(scratch)
    apply(scratch, data)
    hand_mount("-o", "remount,ro", expand(scratch, "@/base"))
    report = destroy(scratch)
    assert report.warnings == ["kept %s: read-only file system" % expand(scratch, "@/dst/t")]
    assert [r for r in snapshot(scratch) if r[0] != expand(scratch, "@/base")] == [
        r for r in table if r[0] != expand(scratch, "@/base")]
    assert os.path.isdir(os.path.join(src, "t"))


def test_classic_api_has_no_view_and_says_so(scratch):
    """On the mount(2) fallback there is no detached copy: EROFS naming the new mount api, nothing changed."""
    helpers.SYS_OPTIONS.update(classic=True)
    make_tree(scratch, TREE)
    apply(scratch, _profile(scratch, "@/src", ro=False))
    apply(scratch, _profile(scratch, "@/src", ro=True))
    table, files, state = snapshot(scratch), _files(expand(scratch, "@/src")), state_meaning(scratch)
    with pytest.raises(ApplyError) as exc:
        destroy(scratch)
    assert exc.value.errno == errno.EROFS and "needs the new mount api (open_tree, mount_setattr" in str(exc.value)
    assert snapshot(scratch) == table and _files(expand(scratch, "@/src")) == files and state_meaning(scratch) == state


def test_unbindable_read_only_mount_cannot_be_copied(scratch):
    """open_tree(2) refuses to copy an unbindable mount: EROFS saying so, the link is still there."""
    make_tree(scratch, TREE + ["src/gone=x"])
    a = expand(scratch, "@/a")
    os.makedirs(a)
    hand_mount("--bind", expand(scratch, "@/src"), a)
    hand_mount("-o", "remount,bind,ro", a)
    hand_mount("--make-unbindable", a)
    with pytest.raises(SysError) as exc:
        LinuxSys().unlink(os.path.join(a, "gone"), True)
    assert exc.value.errno == errno.EROFS
    assert "cannot be copied to write through it (open_tree: invalid argument)" in str(exc.value)
    assert os.path.lexists(os.path.join(a, "gone"))
