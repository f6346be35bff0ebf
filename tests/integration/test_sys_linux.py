"""LinuxSys on the real kernel, checked against /proc/self/mountinfo.

Every test runs in a private mount namespace (tests/conftest.py) on a scratch
tmpfs. `api` parametrizes the new mount API and the classic mount(2) fallback.
"""

import dataclasses
import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import from_env
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys

APIS = pytest.mark.parametrize("classic", [False, True], ids=["new-api", "classic-api"])


def top(path):
    """Return the LiveMount on top at `path` (None if it is not a mount point)."""
    return parse_mountinfo(LinuxSys().read_mountinfo()).top(path)


def stack(path):
    """Return the mounts stacked at `path`, bottom first."""
    return parse_mountinfo(LinuxSys().read_mountinfo()).stack(path)


def mkdirs(base, *names):
    """Return the paths of directories `names` created under `base`."""
    out = []
    for name in names:
        path = os.path.join(base, name)
        os.makedirs(path)
        out.append(path)
    return out


def write(path, text):
    """Return `path` after writing `text` to it."""
    with open(path, "w") as f:
        f.write(text)
    return path


def mount_tmpfs(s, target, options=()):
    """Return None after mounting a new tmpfs at `target` through `s`."""
    h = s.create_fs("tmpfs", None, options)
    s.attach(h, target)


# ---- observation -------------------------------------------------------------

@pytest.mark.parametrize(
    "kind,make",
    [
        ("dir", lambda p: os.mkdir(p, 0o750)),
        ("file", lambda p: write(p, "x")),
        ("symlink", lambda p: os.symlink("/nowhere", p)),
        ("other", lambda p: os.mkfifo(p)),
        ("missing", lambda p: None),
    ],
    ids=["dir", "file", "symlink", "fifo", "missing"],
)
def test_lstat_kinds(scratch, kind, make):
    """lstat reports the kind of what is at a path, link content, mode and device."""
    path = os.path.join(scratch, "p")
    make(path)
    fact = LinuxSys().lstat(path)
    assert fact.kind == kind
    if kind == "missing":
        return
    st = os.lstat(path)
    assert fact.dev == (os.major(st.st_dev), os.minor(st.st_dev)) == top(scratch).dev
    assert fact.mode == st.st_mode & 0o7777
    assert fact.link == ("/nowhere" if kind == "symlink" else None)
    assert fact.empty == (True if kind == "dir" else None)


def test_facts_are_lstat_without_opening_directories(scratch):
    """LinuxSys.facts: what lstat says of each kind of path, `empty` left None (no directory opened)."""
    s = LinuxSys()
    mkdirs(scratch, "d/sub")
    write(os.path.join(scratch, "f"), "x")
    os.symlink("/nowhere", os.path.join(scratch, "ln"))
    os.mkfifo(os.path.join(scratch, "fifo"))
    paths = [os.path.join(scratch, n) for n in ("d", "d/sub", "f", "ln", "fifo", "nothing", "f/below")]
    got = s.facts(paths)
    assert list(got) == paths
    for p in paths:
        assert got[p] == dataclasses.replace(s.lstat(p), empty=None), p


def test_lstat_empty_and_observers(scratch):
    """A directory with an entry is not empty; realpath, namespace id and overlay defaults read the system."""
    s = LinuxSys()
    d, = mkdirs(scratch, "d/sub")
    os.symlink(d, os.path.join(scratch, "ln"))
    assert s.lstat(os.path.dirname(d)).empty is False
    assert s.lstat(os.path.join(scratch, "nofile/below")).kind == "missing"
    assert s.realpath(os.path.join(scratch, "ln")) == d
    assert s.namespace_id() == os.readlink("/proc/self/ns/mnt")
    params = s.overlay_defaults()
    if os.path.isdir("/sys/module/overlay/parameters"):
        assert "index" in params
    assert s.read_mountinfo() == open("/proc/self/mountinfo").read()


def test_tmpfs_defaults_give_the_size_mountinfo_hides(scratch):
    """A tmpfs sized half of tmpfs_defaults' RAM shows no size, as one mounted without a size (shmem_show_options)."""
    d = LinuxSys().tmpfs_defaults()
    t, = mkdirs(scratch, "t")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % (d["ram_pages"] // 2 * d["page_size"]), "t", t],
                   check=True)
    sup = [line.split(" - ")[1].split()[2] for line in open("/proc/self/mountinfo") if line.split()[4] == t]
    assert d["page_size"] > 0 and not [o for o in sup[0].split(",") if o.startswith("size=")]


# ---- files and directories -----------------------------------------------------

@pytest.mark.parametrize(
    "method,mode,uid,gid",
    [
        ("mkdir", 0o755, 0, 0),
        ("mkdir", 0o2775, 1000, 50),
        ("mkdir", 0o1777, 0, 0),
        ("mkfile", 0o644, 0, 0),
        ("mkfile", 0o600, 1234, 5678),
    ],
    ids=["dir-755", "dir-setgid-owner", "dir-sticky", "file-644", "file-600-owner"],
)
def test_create_exact_mode_and_owner(scratch, method, mode, uid, gid):
    """mkdir/mkfile give exactly the asked mode and owner whatever the umask."""
    path = os.path.join(scratch, "new")
    old = os.umask(0o077)
    try:
        getattr(LinuxSys(), method)(path, mode, uid, gid)
    finally:
        os.umask(old)
    st = os.lstat(path)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, uid, gid)


@pytest.mark.parametrize(
    "setup,call,err",
    [
        ("d", lambda s, p: s.mkdir(p + "/d", 0o755, 0, 0), errno.EEXIST),
        ("", lambda s, p: s.mkdir(p + "/no/d", 0o755, 0, 0), errno.ENOENT),
        ("f", lambda s, p: s.mkdir(p + "/f/d", 0o755, 0, 0), errno.ENOTDIR),
        ("d/x", lambda s, p: s.rmdir(p + "/d"), errno.ENOTEMPTY),
        ("", lambda s, p: s.rmdir(p + "/d"), errno.ENOENT),
        ("f", lambda s, p: s.mkfile(p + "/f", 0o644, 0, 0), errno.EEXIST),
        ("d", lambda s, p: s.unlink(p + "/d"), errno.EISDIR),
        ("f", lambda s, p: s.symlink("/x", p + "/f"), errno.EEXIST),
        ("", lambda s, p: s.rename(p + "/a", p + "/b"), errno.ENOENT),
    ],
    ids=["mkdir-exists", "mkdir-no-parent", "mkdir-under-file", "rmdir-not-empty", "rmdir-missing",
         "mkfile-exists", "unlink-dir", "symlink-exists", "rename-missing"],
)
def test_file_operation_errors(scratch, setup, call, err):
    """File operations fail with the kernel's errno and a `cannot ...` message naming the path."""
    if setup == "f":
        write(os.path.join(scratch, "f"), "")
    elif setup:
        mkdirs(scratch, setup)
    with pytest.raises(SysError) as exc:
        call(LinuxSys(), scratch)
    assert exc.value.errno == err
    assert str(exc.value).startswith("cannot ") and scratch in str(exc.value)
    assert exc.value.call


def test_rmdir_of_mount_point_is_busy(scratch):
    """rmdir of a directory something is mounted on fails with EBUSY (steps.py keeps it then)."""
    s = LinuxSys()
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t)
    with pytest.raises(SysError) as exc:
        s.rmdir(t)
    assert exc.value.errno == errno.EBUSY


def test_symlink_rename_unlink(scratch):
    """A symlink is created, atomically renamed over another, then removed."""
    s = LinuxSys()
    a, b = os.path.join(scratch, "a"), os.path.join(scratch, "b")
    s.symlink("/one", a)
    s.symlink("/two", b)
    s.rename(b, a)
    assert os.readlink(a) == "/two" and not os.path.lexists(b)
    s.unlink(a)
    assert not os.path.lexists(a)


# ---- mounts ------------------------------------------------------------------

@APIS
@pytest.mark.parametrize("kind", ["dir", "file", "recursive", "non-recursive"])
def test_bind(scratch, classic, kind):
    """A bind shows the source's device and root; recursive binds carry submounts, others do not."""
    s = LinuxSys(classic=classic)
    src, sub = mkdirs(scratch, "src", "src/sub")
    write(os.path.join(src, "f"), "hello")
    mount_tmpfs(s, sub)
    write(os.path.join(sub, "inner"), "")
    if kind == "file":
        source, target = os.path.join(src, "f"), os.path.join(scratch, "tf")
        s.mkfile(target, 0o644, 0, 0)
    else:
        source, target = src, mkdirs(scratch, "t")[0]
    h = s.clone(source, kind == "recursive")
    assert h.desc == "bind " + source
    s.attach(h, target)
    assert h.closed
    m = top(target)
    assert m.dev == top(scratch).dev and m.root == source[len(scratch):]
    if kind == "file":
        assert open(target).read() == "hello"
        return
    assert os.listdir(os.path.join(target, "sub")) == (["inner"] if kind == "recursive" else [])
    assert (top(os.path.join(target, "sub")) is not None) == (kind == "recursive")


@APIS
def test_tmpfs_with_options(scratch, classic):
    """create_fs tmpfs applies its options; the mount appears only on attach, with source `tmpfs`."""
    s = LinuxSys(classic=classic)
    t, = mkdirs(scratch, "t")
    h = s.create_fs("tmpfs", None, [("size", "1m"), ("mode", "0750"), ("nr_inodes", "100")])
    assert top(t) is None
    s.attach(h, t)
    m = top(t)
    assert (m.fstype, m.source) == ("tmpfs", "tmpfs")
    assert dict(m.fs_options)["size"] == str(1 << 20) and dict(m.fs_options)["nr_inodes"] == "100"
    assert os.lstat(t).st_mode & 0o7777 == 0o750


ODD = ["l,1:a b", "l2\\back", "da,ta:1", "up per,x:y", "wo\\rk,z"]


@APIS
def test_overlay_layers_with_odd_paths(scratch, classic):
    """Overlay layers whose paths hold `,` `:` spaces and backslashes mount, merge, and read back from mountinfo."""
    s = LinuxSys(classic=classic)
    l1, l2, data, upper, work, t = mkdirs(scratch, *ODD, "t")
    write(os.path.join(l1, "top"), "1")
    write(os.path.join(l2, "top"), "2")
    write(os.path.join(l2, "low"), "2")
    h = s.create_fs("overlay", None, (), lower=[l1, l2], data=[data], upper=upper, work=work)
    s.attach(h, t)
    assert sorted(os.listdir(t)) == ["low", "top"]
    assert open(os.path.join(t, "top")).read() == "1"
    write(os.path.join(t, "new"), "n")
    assert os.path.exists(os.path.join(upper, "new"))
    m = top(t)
    assert (m.fstype, m.source) == ("overlay", "overlay")
    assert (m.lower, m.data, m.upper, m.work) == ((l1, l2), (data,), upper, work)


@pytest.mark.parametrize(
    "fstype,options,kwargs,errnum,words",
    [
        ("tmpfs", [("bogus", None)], {}, errno.EINVAL, "tmpfs: Unknown parameter 'bogus'"),
        ("tmpfs", [("size", "4x")], {}, errno.EINVAL, "tmpfs: Bad value for 'size'"),
        ("overlay", (), {"lower": ["/nonexistent-layer"]}, errno.ENOENT, "lowerdir+ /nonexistent-layer"),
        ("nosuchfs", (), {}, errno.ENODEV, "cannot create nosuchfs filesystem"),
    ],
    ids=["unknown-option", "bad-value", "missing-layer", "unknown-fstype"],
)
def test_create_fs_failure_names_the_cause(scratch, fstype, options, kwargs, errnum, words):
    """A refused filesystem surfaces the kernel's own message (or the failing parameter)."""
    with pytest.raises(SysError) as exc:
        LinuxSys().create_fs(fstype, None, options, **kwargs)
    assert exc.value.errno == errnum
    assert words in str(exc.value)
    assert str(exc.value).startswith("cannot create %s filesystem: " % fstype)
    assert exc.value.call.startswith('create_fs "%s"' % fstype)


def test_atomic_replace_beneath(scratch):
    """attach beneath + lazy umount of the top swaps mounts; a file open in the old one stays readable."""
    s = LinuxSys()
    t, src = mkdirs(scratch, "t", "src")
    write(os.path.join(src, "new.txt"), "new")
    mount_tmpfs(s, t)
    old_dev = top(t).dev
    with open(write(os.path.join(t, "old.txt"), "old")) as f:
        s.attach(s.clone(src, False), t, beneath=True)
        assert [m.dev for m in stack(t)] == [top(scratch).dev, old_dev]
        assert os.listdir(t) == ["old.txt"]  # still the old top
        with pytest.raises(SysError) as exc:
            s.umount(t)  # the open file keeps it busy
        assert exc.value.errno == errno.EBUSY and str(exc.value).endswith("target is busy")
        s.umount(t, detach=True)
        assert os.listdir(t) == ["new.txt"]
        assert f.read() == "old"
    assert len(stack(t)) == 1 and top(t).root == src[len(scratch):]


def test_clone_mount_restores_after_unmount(scratch):
    """clone_mount keeps a copy of the top mount that can be attached back after it was unmounted."""
    s = LinuxSys()
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t, [("size", "1m")])
    write(os.path.join(t, "keep"), "k")
    dev = top(t).dev
    keep = s.clone_mount(t)
    assert keep.desc == "copy " + t
    s.umount(t)
    assert top(t) is None
    s.attach(keep, t)
    assert top(t).dev == dev and open(os.path.join(t, "keep")).read() == "k"


@APIS
@pytest.mark.parametrize("on_handle", [False, True], ids=["on-path", "on-handle"])
def test_setattr_exact_flags(scratch, classic, on_handle):
    """setattr makes per-mount flags exactly the given set: ro+nosuid, then plain rw clears both."""
    s = LinuxSys(classic=classic)
    t, = mkdirs(scratch, "t")
    h = s.create_fs("tmpfs", None, ())
    if on_handle:
        s.setattr(h, {"ro", "nosuid"})
        s.attach(h, t)
    else:
        s.attach(h, t)
        s.setattr(t, {"ro", "nosuid"})
    assert top(t).flags == {"ro", "nosuid"}
    assert "rw" in top(t).raw_super_options.split(",")  # per-mount ro only, superblock stays rw
    s.setattr(t, set())
    assert top(t).flags == frozenset()
    s.setattr(t, {"noatime", "nodiratime", "nodev", "noexec"})
    assert top(t).flags == {"noatime", "nodiratime", "nodev", "noexec"}
    s.setattr(t, {"strictatime"})
    assert top(t).flags == {"strictatime"}


@APIS
@pytest.mark.parametrize(
    "steps,expect",
    [
        (["shared"], "shared"),
        (["shared", "private"], "private"),
        (["shared", "slave"], "slave"),
        (["unbindable"], "unbindable"),
    ],
    ids=["shared", "back-to-private", "slave", "unbindable"],
)
def test_propagation(scratch, classic, steps, expect):
    """setattr with a propagation changes only the propagation of the top mount."""
    s = LinuxSys(classic=classic)
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t)
    s.setattr(t, {"nosuid"})
    if expect == "slave":
        peer, = mkdirs(scratch, "peer")
        s.setattr(t, None, "shared")
        s.attach(s.clone(t, False), peer)  # a peer, so that slave has a master
    for p in steps:
        s.setattr(t, None, p)
    assert top(t).propagation == expect
    assert top(t).flags == {"nosuid"}


@APIS
def test_reconfigure_tmpfs_size(scratch, classic):
    """reconfigure changes tmpfs size live: files survive, per-mount flags stay as they were."""
    s = LinuxSys(classic=classic)
    t, = mkdirs(scratch, "t")
    h = s.create_fs("tmpfs", None, [("size", "1m")])
    s.setattr(h, {"ro", "nodev"})
    s.attach(h, t)
    s.reconfigure(t, [("size", "2m")])
    m = top(t)
    assert dict(m.fs_options)["size"] == str(2 << 20)
    assert m.flags == {"ro", "nodev"}
    assert "rw" in m.raw_super_options.split(",")


def test_reconfigure_keeps_files_and_reports_kernel_message(scratch):
    """A file written before a resize is still there after; a bad value carries the kernel's words."""
    s = LinuxSys()
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t, [("size", "1m")])
    write(os.path.join(t, "keep"), "k")
    s.reconfigure(t, [("size", "4m")])
    assert open(os.path.join(t, "keep")).read() == "k"
    with pytest.raises(SysError) as exc:
        s.reconfigure(t, [("size", "4x")])
    assert exc.value.errno == errno.EINVAL and "Bad value for 'size'" in str(exc.value)
    assert exc.value.call == 'reconfigure "%s" [size=4x]' % t


@pytest.mark.parametrize(
    "method,args",
    [
        ("umount", ()),
        ("setattr", ({"ro"},)),
        ("reconfigure", ([("size", "1m")],)),
    ],
    ids=["umount", "setattr", "reconfigure"],
)
def test_not_a_mount_point(scratch, method, args):
    """Operations on the top mount of a plain directory fail EINVAL: not a mount point."""
    t, = mkdirs(scratch, "t")
    with pytest.raises(SysError) as exc:
        getattr(LinuxSys(), method)(t, *args)
    assert exc.value.errno == errno.EINVAL and str(exc.value).endswith("not a mount point")


def test_umount_busy_then_detach(scratch):
    """A mount with a submount is busy; detach takes the whole subtree away."""
    s = LinuxSys()
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t)
    os.mkdir(os.path.join(t, "child"))
    mount_tmpfs(s, os.path.join(t, "child"))
    with pytest.raises(SysError) as exc:
        s.umount(t)
    assert exc.value.errno == errno.EBUSY
    assert exc.value.call == 'umount "%s"' % t
    s.umount(t, detach=True)
    assert top(t) is None and top(os.path.join(t, "child")) is None


def test_attach_errors(scratch):
    """attach refuses a released handle (EBADF), a missing target (ENOENT) and a dir onto a file (EINVAL)."""
    s = LinuxSys()
    t, src = mkdirs(scratch, "t", "src")
    h = s.create_fs("tmpfs", None, ())
    s.close(h)
    s.close(h)  # closing twice is harmless
    cases = [
        (h, t, errno.EBADF),
        (s.create_fs("tmpfs", None, ()), os.path.join(scratch, "missing"), errno.ENOENT),
        (s.clone(src, False), write(os.path.join(scratch, "f"), ""), errno.EINVAL),
    ]
    for handle, target, err in cases:
        with pytest.raises(SysError) as exc:
            s.attach(handle, target)
        assert exc.value.errno == err, target
    assert top(t) is None


def test_classic_api_limits(scratch):
    """The classic fallback refuses what mount(2) cannot do: beneath and clone_mount (ENOSYS)."""
    s = LinuxSys(classic=True)
    t, = mkdirs(scratch, "t")
    mount_tmpfs(s, t)
    for call in (lambda: s.attach(s.create_fs("tmpfs", None, ()), t, beneath=True), lambda: s.clone_mount(t)):
        with pytest.raises(SysError) as exc:
            call()
        assert exc.value.errno == errno.ENOSYS
    assert len(stack(t)) == 1


# ---- planted symlinks ----------------------------------------------------------

def _planted(scratch):
    """Return (link, real): `link` is a symlink to directory `real`, which holds d/, f, a mount m/."""
    real, _, m = mkdirs(scratch, "real", "real/d", "real/m")
    write(os.path.join(real, "f"), "")
    mount_tmpfs(LinuxSys(), m)
    link = os.path.join(scratch, "ln")
    os.symlink(real, link)
    return link, real


SYMLINK_CASES = [
    ("mkdir", lambda s, ln: s.mkdir(ln + "/x", 0o755, 0, 0)),
    ("mkfile", lambda s, ln: s.mkfile(ln + "/x", 0o644, 0, 0)),
    ("symlink", lambda s, ln: s.symlink("/etc", ln + "/x")),
    ("rmdir", lambda s, ln: s.rmdir(ln + "/d")),
    ("unlink", lambda s, ln: s.unlink(ln + "/f")),
    ("rename", lambda s, ln: s.rename(ln + "/f", os.path.dirname(ln) + "/g")),
    ("attach", lambda s, ln: s.attach(s.create_fs("tmpfs", None, ()), ln + "/d")),
    ("attach-last", lambda s, ln: s.attach(s.create_fs("tmpfs", None, ()), ln)),
    ("umount", lambda s, ln: s.umount(ln + "/m")),
    ("umount-last", lambda s, ln: s.umount(ln)),
    ("setattr", lambda s, ln: s.setattr(ln + "/m", {"ro"})),
    ("reconfigure", lambda s, ln: s.reconfigure(ln + "/m", [("size", "1m")])),
    ("clone_mount", lambda s, ln: s.clone_mount(ln + "/m")),
]


@pytest.mark.parametrize("walk", [False, True], ids=["openat2", "walk"])
@pytest.mark.parametrize("name,call", SYMLINK_CASES, ids=[c[0] for c in SYMLINK_CASES])
def test_planted_symlink_is_refused(scratch, walk, name, call):
    """A symlink in any component of a mutation's path is refused with ELOOP, naming it; nothing changes."""
    link, real = _planted(scratch)
    before = (sorted(os.listdir(real)), LinuxSys().read_mountinfo())
    with pytest.raises(SysError) as exc:
        call(LinuxSys(walk=walk), link)
    assert exc.value.errno == errno.ELOOP
    assert str(exc.value).endswith("refusing to follow symlink at %s" % link)
    assert str(exc.value).startswith("cannot ")
    assert (sorted(os.listdir(real)), LinuxSys().read_mountinfo()) == before


# ---- failpoints ----------------------------------------------------------------

def test_failpoint_errno_skips_the_step(scratch):
    """LIVEMOUNT_FAILPOINT=2:EIO fails the second step without performing it; the others happen."""
    s = from_env(LinuxSys(), {"LIVEMOUNT_FAILPOINT": "2:EIO"})
    a, b, c = (os.path.join(scratch, n) for n in "abc")
    s.mkdir(a, 0o755, 0, 0)
    with pytest.raises(SysError) as exc:
        s.mkdir(b, 0o755, 0, 0)
    s.mkdir(c, 0o755, 0, 0)
    assert exc.value.errno == errno.EIO and exc.value.call == 'mkdir "%s" 0o755 0 0' % b
    assert sorted(os.listdir(scratch)) == ["a", "c"]
    assert s.count == 3


def test_failpoint_errno_on_a_mount(scratch):
    """A failpoint on attach leaves the target unmounted and the handle usable."""
    s = from_env(LinuxSys(), {"LIVEMOUNT_FAILPOINT": "2:EBUSY"})
    t, = mkdirs(scratch, "t")
    h = s.create_fs("tmpfs", None, ())
    with pytest.raises(SysError) as exc:
        s.attach(h, t)
    assert exc.value.errno == errno.EBUSY and top(t) is None and not h.closed
    s.attach(h, t)
    assert top(t).fstype == "tmpfs"


CRASH_CHILD = textwrap.dedent("""
    import os, sys
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import from_env
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys
    s = from_env(LinuxSys())
    for name in "abcd":
        s.mkdir(os.path.join(sys.argv[1], name), 0o755, 0, 0)
        print(name, flush=True)
""")


def test_failpoint_crash_kills_before_the_step(scratch):
    """LIVEMOUNT_FAILPOINT=3:crash SIGKILLs the process just before step 3: steps 1-2 done, 3 never."""
    env = dict(os.environ, LIVEMOUNT_FAILPOINT="3:crash", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", CRASH_CHILD, scratch], env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.split() == ["a", "b"]
    assert sorted(os.listdir(scratch)) == ["a", "b"]
