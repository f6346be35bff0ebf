"""FakeSys: transcripts, fault injection, the mount-stack model and its mountinfo output."""

import dataclasses
import errno

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import MUTATING_CALLS

from tests.unit.fakesys import FakeSys, errno_name


def table(fake):
    """Return the LiveTable the real parser makes of the fake's mountinfo."""
    return parse_mountinfo(fake.read_mountinfo())


def tmpfs(fake, target, options=()):
    """Mount a new tmpfs at `target` through recorded steps."""
    fake.attach(fake.create_fs("tmpfs", None, options), target)


def world():
    """Return a FakeSys with /srv/data (a file, a subdir) and /mnt, /etc/passwd."""
    return _seed(FakeSys())


# ---- transcript ------------------------------------------------------------------

def test_transcript_is_the_ordered_canonical_calls():
    """Every step is recorded as its canonical call string, in order; observation is not recorded."""
    f = world()
    f.mkdir("/mnt/t", 0o750, 1, 2)
    h = f.create_fs("tmpfs", None, [("size", "1m")])
    f.setattr(h, {"ro", "nosuid"})
    f.attach(h, "/mnt/t")
    f.lstat("/mnt/t")
    f.read_mountinfo()
    f.reconfigure("/mnt/t", [("size", "2m")])
    b = f.clone("/srv/data", True)
    f.attach(b, "/mnt/t", beneath=True)
    f.umount("/mnt/t", detach=True)
    f.symlink("/srv", "/mnt/ln")
    f.rename("/mnt/ln", "/mnt/ln2")
    f.unlink("/mnt/ln2")
    assert f.calls == [
        'mkdir "/mnt/t" 0o750 1 2',
        'create_fs "tmpfs" - [size=1m]',
        "setattr <mount tmpfs> nosuid,ro",
        'attach <mount tmpfs> "/mnt/t"',
        'reconfigure "/mnt/t" [size=2m]',
        'clone "/srv/data" True',
        'attach <mount bind /srv/data> "/mnt/t" True',
        'umount "/mnt/t" True',
        'symlink "/srv" "/mnt/ln"',
        'rename "/mnt/ln" "/mnt/ln2"',
        'unlink "/mnt/ln2"',
    ]
    assert f.count == len(f.calls)
    assert f.open_handles == []


@pytest.mark.parametrize(
    "call,err,message",
    [
        (lambda f: f.mkdir("/mnt", 0o755, 0, 0), errno.EEXIST, "cannot create directory /mnt: file exists"),
        (lambda f: f.mkdir("/no/x", 0o755, 0, 0), errno.ENOENT,
         "cannot create directory /no/x: no such file or directory"),
        (lambda f: f.mkdir("/etc/passwd/x", 0o755, 0, 0), errno.ENOTDIR,
         "cannot create directory /etc/passwd/x: not a directory"),
        (lambda f: f.rmdir("/srv/data"), errno.ENOTEMPTY, "cannot remove directory /srv/data: directory not empty"),
        (lambda f: f.rmdir("/etc/passwd"), errno.ENOTDIR, "cannot remove directory /etc/passwd: not a directory"),
        (lambda f: f.unlink("/srv"), errno.EISDIR, "cannot remove /srv: is a directory"),
        (lambda f: f.mkfile("/etc/passwd", 0o644, 0, 0), errno.EEXIST, "cannot create file /etc/passwd: file exists"),
        (lambda f: f.rename("/srv/data", "/srv/data/sub/x"), errno.EINVAL,
         "cannot rename /srv/data to /srv/data/sub/x: invalid argument"),
        (lambda f: f.rename("/srv/data/a", "/srv/data/sub"), errno.EISDIR,
         "cannot rename /srv/data/a to /srv/data/sub: is a directory"),
        (lambda f: f.umount("/mnt"), errno.EINVAL, "cannot unmount /mnt: not a mount point"),
        (lambda f: f.setattr("/mnt", {"ro"}), errno.EINVAL, "cannot set mount attributes of /mnt: not a mount point"),
        (lambda f: f.setattr("/", {"ro", "bogus"}), errno.EINVAL,
         "cannot set mount attributes of /: unknown per-mount flag: bogus"),
        (lambda f: f.reconfigure("/mnt", [("size", "1m")]), errno.EINVAL, "cannot reconfigure /mnt: not a mount point"),
        (lambda f: f.create_fs("tmpfs", None, [("bogus", None)]), errno.EINVAL,
         "cannot create tmpfs filesystem: tmpfs: Unknown parameter 'bogus'"),
        (lambda f: f.create_fs("tmpfs", None, [("size", "4x")]), errno.EINVAL,
         "cannot create tmpfs filesystem: tmpfs: Bad value for 'size'"),
        (lambda f: f.create_fs("nosuchfs", None, ()), errno.ENODEV,
         "cannot create nosuchfs filesystem: no such device"),
        (lambda f: f.create_fs("overlay", None, (), lower=["/nope"]), errno.ENOENT,
         "cannot create overlay filesystem: lowerdir+ /nope: no such file or directory"),
        (lambda f: f.create_fs("overlay", None, (), lower=["/srv"], upper="/mnt"), errno.EINVAL,
         "cannot create overlay filesystem: invalid argument"),
        (lambda f: f.attach(f.create_fs("tmpfs", None, ()), "/nope"), errno.ENOENT,
         "cannot mount tmpfs on /nope: no such file or directory"),
        (lambda f: f.attach(f.create_fs("tmpfs", None, ()), "/etc/passwd"), errno.EINVAL,
         "cannot mount tmpfs on /etc/passwd: invalid argument"),
        (lambda f: f.attach(f.create_fs("tmpfs", None, ()), "/mnt", True), errno.EINVAL,
         "cannot mount tmpfs beneath /mnt: invalid argument"),
        (lambda f: f.mkdir("/mnt/../x", 0o755, 0, 0), errno.EINVAL,
         "cannot create directory /mnt/../x: path must not contain '..'"),
    ],
    ids=["mkdir-exists", "mkdir-no-parent", "mkdir-under-file", "rmdir-not-empty", "rmdir-file", "unlink-dir",
         "mkfile-exists", "rename-into-itself", "rename-file-over-dir", "umount-not-mounted",
         "setattr-not-mounted", "setattr-bad-flag", "reconfigure-not-mounted", "tmpfs-unknown-option",
         "tmpfs-bad-value", "unknown-fstype", "overlay-missing-layer", "overlay-upper-without-work",
         "attach-missing-target", "attach-dir-on-file", "beneath-not-mounted", "dotdot"],
)
def test_model_errors_are_recorded_and_worded_like_linux(call, err, message):
    """A refused step raises SysError with the kernel's errno and LinuxSys's wording, and is recorded ` -> ERRNO`."""
    f = world()
    before = f.read_mountinfo()
    with pytest.raises(SysError) as exc:
        call(f)
    assert (exc.value.errno, str(exc.value)) == (err, message)
    assert f.calls[-1] == "%s -> %s" % (exc.value.call, errno.errorcode[err])
    assert f.read_mountinfo() == before


STEPS = [
    lambda f: f.mkdir("/mnt/t", 0o755, 0, 0),
    lambda f: f.attach(f.create_fs("tmpfs", None, [("size", "1m")]), "/mnt/t"),
    lambda f: f.setattr("/mnt/t", {"nodev"}),
    lambda f: f.mkfile("/mnt/t/f", 0o644, 0, 0),
    lambda f: f.attach(f.clone("/srv/data", False), "/mnt/t", True),
    lambda f: f.umount("/mnt/t", True),
    lambda f: f.symlink("/srv", "/mnt/ln"),
]


def _run_steps(f):
    """Run STEPS through `f`; return the index of the one that raised (or None) and the error."""
    for i, step in enumerate(STEPS):
        try:
            step(f)
        except SysError as exc:
            return i, exc
    return None, None


def _state(f):
    """Return what a test can observe of a fake's world (inode numbers aside: each fake numbers its own)."""
    return f.read_mountinfo(), [dataclasses.replace(f.lstat(p), ino=None)
                                for p in ("/mnt/t", "/mnt/t/f", "/mnt/ln", "/srv/data")]


class SnapshotFake(FakeSys):
    """A FakeSys that keeps the observable state after every successful step."""

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def _step(self, name, args, kwargs, fn):
        result = super()._step(name, args, kwargs, fn)
        self.snapshots.append(_state(self))
        return result


def _seed(f):
    """Return `f` seeded like world()."""
    f.seed_dir("/srv/data/sub")
    f.seed_file("/srv/data/a")
    f.seed_dir("/mnt")
    f.seed_file("/etc/passwd")
    return f


@pytest.mark.parametrize("n", range(1, 10), ids=["step-%d" % n for n in range(1, 10)])
def test_fail_at_every_step(n):
    """fail_at(n) fails exactly the n-th step, records it ` -> EIO`, and the world is as right after step n-1."""
    clean = _seed(SnapshotFake())
    initial = _state(clean)
    assert _run_steps(clean) == (None, None)
    assert len(clean.calls) == len(clean.snapshots) == 9
    f = _seed(FakeSys())
    f.fail_at(n, "EIO")
    _, exc = _run_steps(f)
    assert exc.errno == errno.EIO and str(exc).endswith(": input/output error (injected)")
    assert f.calls == clean.calls[:n - 1] + [clean.calls[n - 1] + " -> EIO"]
    assert _state(f) == (clean.snapshots[n - 2] if n > 1 else initial)


def test_fail_on_fires_once_on_the_first_match():
    """fail_on(pattern) fails the first step whose call contains the pattern, then never again."""
    f = world()
    f.fail_on('attach <mount tmpfs> "/mnt"', errno.EBUSY)
    h = f.create_fs("tmpfs", None, ())
    with pytest.raises(SysError) as exc:
        f.attach(h, "/mnt")
    assert exc.value.errno == errno.EBUSY and not h.closed
    f.attach(h, "/mnt")
    assert f.calls[-2:] == ['attach <mount tmpfs> "/mnt" -> EBUSY', 'attach <mount tmpfs> "/mnt"']
    assert table(f).top("/mnt").fstype == "tmpfs"


def test_every_mutation_is_a_recorded_step():
    """Each name in sysapi.MUTATING_CALLS counts as one step in the fake."""
    f = world()
    f.seed_mount("tmpfs", "/m")
    h = f.create_fs("tmpfs", None, ())
    calls = {
        "mkdir": lambda: f.mkdir("/d", 0o755, 0, 0),
        "rmdir": lambda: f.rmdir("/d"),
        "mkfile": lambda: f.mkfile("/f", 0o644, 0, 0),
        "unlink": lambda: f.unlink("/f"),
        "symlink": lambda: f.symlink("/x", "/l"),
        "rename": lambda: f.rename("/l", "/l2"),
        "clone": lambda: f.clone("/srv", False),
        "clone_mount": lambda: f.clone_mount("/m"),
        "create_fs": lambda: f.create_fs("ramfs", None, ()),
        "attach": lambda: f.attach(h, "/mnt"),
        "setattr": lambda: f.setattr("/mnt", {"ro"}),
        "reconfigure": lambda: f.reconfigure("/m", [("size", "1m")]),
        "umount": lambda: f.umount("/mnt"),
    }
    assert set(calls) == set(MUTATING_CALLS)
    for name in MUTATING_CALLS:
        calls[name]()
        assert f.calls[-1].split(" ")[0] == name
    assert f.count == len(MUTATING_CALLS) + 1  # the create_fs made above
    assert len(f.open_handles) == 3  # clone, clone_mount and ramfs were never attached


# ---- what a path shows depends on the mount stack ----------------------------------

def test_mount_point_inside_a_tmpfs_lives_and_dies_with_it():
    """A directory made inside a mounted tmpfs is on that tmpfs: gone from the path once it is unmounted."""
    f = world()
    tmpfs(f, "/mnt")
    f.mkdir("/mnt/inner", 0o755, 0, 0)
    tmpfs(f, "/mnt/inner")
    assert table(f).top("/mnt/inner").parent_id == table(f).top("/mnt").mount_id
    assert f.lstat("/mnt/inner").dev == table(f).top("/mnt/inner").dev
    f.umount("/mnt", detach=True)
    assert f.lstat("/mnt/inner").kind == "missing"
    assert f.lstat("/mnt").dev == (8, 1) and len(table(f)) == 1


def test_tmpfs_hides_what_is_below():
    """A fresh tmpfs shows empty over a populated directory; the content is back after unmounting."""
    f = world()
    tmpfs(f, "/srv/data", [("mode", "0700")])
    assert f.lstat("/srv/data").empty is True and f.lstat("/srv/data").mode == 0o700
    assert f.lstat("/srv/data/a").kind == "missing"
    f.umount("/srv/data")
    assert f.lstat("/srv/data/a").kind == "file"


@pytest.mark.parametrize("recursive", [False, True], ids=["bind", "rbind"])
def test_bind_shares_nodes_and_submounts_only_when_recursive(recursive):
    """A bind shows the source's own files (writes go both ways); submounts come along only recursively."""
    f = world()
    tmpfs(f, "/srv/data/sub")
    f.mkfile("/srv/data/sub/deep", 0o644, 0, 0)
    f.attach(f.clone("/srv/data", recursive), "/mnt")
    f.mkfile("/mnt/b", 0o600, 0, 0)
    assert f.lstat("/srv/data/b").mode == 0o600
    assert f.lstat("/mnt/sub/deep").kind == ("file" if recursive else "missing")
    t = table(f)
    assert t.top("/mnt").root == "/srv/data" and t.top("/mnt").dev == (8, 1)
    assert (t.top("/mnt/sub") is not None) == recursive


def test_bind_of_a_file():
    """A file bind needs a file mount point and shows the source file."""
    f = world()
    f.mkfile("/mnt/pw", 0o644, 0, 0)
    f.attach(f.clone("/etc/passwd", False), "/mnt/pw")
    assert table(f).top("/mnt/pw").root == "/etc/passwd"
    with pytest.raises(SysError) as exc:
        f.attach(f.clone("/etc/passwd", False), "/srv")
    assert exc.value.errno == errno.EINVAL


def test_stacked_mounts_and_beneath():
    """Mounts stack on one path; beneath slides under the top; unmounting the top uncovers the next."""
    f = world()
    tmpfs(f, "/mnt", [("size", "1m")])
    tmpfs(f, "/mnt", [("size", "2m")])
    assert [dict(m.fs_options)["size"] for m in table(f).stack("/mnt")] == [str(1 << 20), str(2 << 20)]
    f.attach(f.clone("/srv/data", False), "/mnt", beneath=True)
    stack = table(f).stack("/mnt")
    assert [m.fstype for m in stack] == ["tmpfs", "ext4", "tmpfs"]
    assert f.lstat("/mnt").dev == stack[-1].dev
    f.umount("/mnt")
    assert f.lstat("/mnt/a").kind == "file"
    f.umount("/mnt")
    assert [m.fstype for m in table(f).stack("/mnt")] == ["tmpfs"]


def test_rename_carries_mount_points_along():
    """Renaming a directory that holds a mount point moves the mount with it, as the kernel does."""
    f = world()
    f.seed_dir("/a/m")
    tmpfs(f, "/a/m")
    f.rename("/a", "/b")
    assert table(f).top("/b/m") is not None and table(f).top("/a/m") is None
    with pytest.raises(SysError) as exc:
        f.rename("/b/m", "/b/n")
    assert exc.value.errno == errno.EBUSY


def test_rename_across_mounts_of_one_filesystem_is_exdev():
    """rename(2) across two mounts is EXDEV even when both show the same filesystem."""
    f = world()
    f.attach(f.clone("/srv", False), "/mnt")
    with pytest.raises(SysError) as exc:
        f.rename("/mnt/data/a", "/srv/a2")
    assert exc.value.errno == errno.EXDEV


def test_read_only_mount_refuses_writes():
    """A ro mount (or an overlay without upper) says EROFS to every write, through the mount only."""
    f = world()
    f.attach(f.clone("/srv/data", False), "/mnt")
    f.setattr("/mnt", {"ro"})
    for call in (lambda: f.mkdir("/mnt/x", 0o755, 0, 0), lambda: f.unlink("/mnt/a"), lambda: f.rmdir("/mnt/sub")):
        with pytest.raises(SysError) as exc:
            call()
        assert exc.value.errno == errno.EROFS
    f.mkdir("/srv/data/x", 0o755, 0, 0)
    assert f.lstat("/mnt/x").kind == "dir"


def test_overlay_merges_layers():
    """An overlay shows upper over lower layers (top-most lower first) and reads back its layers."""
    f = FakeSys()
    f.seed_file("/l1/shared", mode=0o600)
    f.seed_file("/l1/only1")
    f.seed_file("/l2/shared", mode=0o644)
    f.seed_file("/l2/d/low")
    f.seed_file("/up, x/d/high")
    f.seed_dir("/wo:rk")
    f.seed_dir("/t")
    f.seed_dir("/data\\1")
    f.attach(f.create_fs("overlay", None, (), ["/l1", "/l2"], ["/data\\1"], "/up, x", "/wo:rk"), "/t")
    assert f.lstat("/t/shared").mode == 0o600
    assert [f.lstat("/t/" + p).kind for p in ("only1", "d/low", "d/high")] == ["file"] * 3
    m = table(f).top("/t")
    assert (m.fstype, m.source, m.lower, m.data, m.upper, m.work) == (
        "overlay", "overlay", ("/l1", "/l2"), ("/data\\1",), "/up, x", "/wo:rk")
    f.attach(f.create_fs("overlay", None, (), ["/l1"]), "/l2")
    with pytest.raises(SysError) as exc:
        f.mkdir("/l2/x", 0o755, 0, 0)
    assert exc.value.errno == errno.EROFS


# ---- umount, handles, propagation, reconfigure --------------------------------

def test_umount_busy_and_detach():
    """umount is EBUSY with submounts or when busy(); detach removes the whole subtree."""
    f = world()
    tmpfs(f, "/mnt")
    f.mkdir("/mnt/c", 0o755, 0, 0)
    tmpfs(f, "/mnt/c")
    with pytest.raises(SysError) as exc:
        f.umount("/mnt")
    assert str(exc.value) == "cannot unmount /mnt: target is busy"
    f.busy("/mnt/c")
    with pytest.raises(SysError):
        f.umount("/mnt/c")
    f.busy("/mnt/c", on=False)
    f.umount("/mnt/c")
    tmpfs(f, "/mnt/c")
    f.umount("/mnt", detach=True)
    assert len(table(f)) == 1


def test_clone_mount_puts_back_the_same_filesystem():
    """clone_mount, umount, attach: the restored mount is the same superblock, files included."""
    f = world()
    tmpfs(f, "/mnt", [("size", "1m")])
    f.mkfile("/mnt/keep", 0o644, 0, 0)
    dev = table(f).top("/mnt").dev
    keep = f.clone_mount("/mnt")
    f.umount("/mnt")
    assert table(f).top("/mnt") is None
    f.attach(keep, "/mnt")
    assert table(f).top("/mnt").dev == dev and f.lstat("/mnt/keep").kind == "file"


def test_handles_are_consumed_by_attach():
    """attach closes its handle (as LinuxSys must); a consumed or closed handle is EBADF; close twice is fine."""
    f = world()
    h = f.create_fs("tmpfs", None, ())
    f.attach(h, "/mnt")
    assert h.closed and f.open_handles == []
    for call in (lambda: f.attach(h, "/srv"), lambda: f.setattr(h, {"ro"})):
        with pytest.raises(SysError) as exc:
            call()
        assert exc.value.errno == errno.EBADF
    f.close(h)
    g = f.create_fs("tmpfs", None, ())
    assert f.open_handles == [g]
    f.close(g)
    assert f.open_handles == []


@pytest.mark.parametrize(
    "steps,expect",
    [
        (["shared"], "shared"),
        (["shared", "private"], "private"),
        (["shared", "slave"], "slave"),
        (["slave"], "private"),
        (["unbindable"], "unbindable"),
    ],
    ids=["shared", "back-to-private", "slave-of-peers", "slave-alone-is-private", "unbindable"],
)
def test_propagation_as_the_parser_reads_it(steps, expect):
    """setattr propagation renders the optional fields the real parser turns back into the same word."""
    f = world()
    tmpfs(f, "/mnt")
    f.seed_dir("/peer")
    if "slave" in steps and "shared" in steps:
        f.setattr("/mnt", None, "shared")
        f.attach(f.clone("/mnt", False), "/peer")  # a clone of a shared mount is its peer
    for p in steps:
        f.setattr("/mnt", None, p)
    assert table(f).top("/mnt").propagation == expect
    assert table(f).top("/mnt").flags == frozenset()


def test_setattr_flags_are_exact():
    """setattr makes the per-mount flags exactly the set given, as the parser reads them back."""
    f = world()
    tmpfs(f, "/mnt")
    for flags in ({"ro", "nosuid"}, set(), {"noatime", "nodiratime", "noexec"}, {"strictatime", "nodev"}):
        f.setattr("/mnt", flags)
        assert table(f).top("/mnt").flags == flags


def test_reconfigure_changes_the_superblock_for_every_mount_of_it():
    """reconfigure merges options into the filesystem: a bind of it shows the new size too."""
    f = world()
    tmpfs(f, "/mnt", [("size", "1m"), ("mode", "755")])
    f.seed_dir("/other")
    f.attach(f.clone("/mnt", False), "/other")
    f.reconfigure("/mnt", [("size", "2m")])
    for path in ("/mnt", "/other"):
        assert dict(table(f).top(path).fs_options) == {"size": str(2 << 20), "mode": "755"}


# ---- symlinks -------------------------------------------------------------------

@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.mkdir("/ln/x", 0o755, 0, 0),
        lambda f: f.mkfile("/ln/x", 0o644, 0, 0),
        lambda f: f.rmdir("/ln/sub"),
        lambda f: f.attach(f.create_fs("tmpfs", None, ()), "/ln/sub"),
        lambda f: f.attach(f.create_fs("tmpfs", None, ()), "/ln"),
        lambda f: f.umount("/ln"),
        lambda f: f.setattr("/ln", {"ro"}),
    ],
    ids=["mkdir", "mkfile", "rmdir", "attach", "attach-last", "umount-last", "setattr-last"],
)
def test_planted_symlink_is_refused(call):
    """Mutations refuse a symlink in any component, naming it (ELOOP), and change nothing."""
    f = world()
    f.seed_symlink("/ln", "/srv/data")
    before = (f.read_mountinfo(), f.lstat("/srv/data"))
    with pytest.raises(SysError) as exc:
        call(f)
    assert exc.value.errno == errno.ELOOP
    assert str(exc.value).endswith("refusing to follow symlink at /ln")
    assert (f.read_mountinfo(), f.lstat("/srv/data")) == before


@pytest.mark.parametrize(
    "path,kind,real",
    [
        ("/ln", "symlink", "/srv/data"),
        ("/ln/a", "file", "/srv/data/a"),
        ("/rel/a", "file", "/srv/data/a"),
        ("/srv/up/data/a", "file", "/srv/data/a"),
        ("/ln/missing/x", "missing", "/srv/data/missing/x"),
        ("/loop/x", "missing", "/loop/x"),
    ],
    ids=["final-link-not-followed", "absolute-link", "relative-link", "dotdot-link", "missing-tail", "loop"],
)
def test_observation_follows_symlinks(path, kind, real):
    """lstat follows symlinks in inner components only; realpath resolves all, keeping a missing tail."""
    f = world()
    f.seed_symlink("/ln", "/srv/data")
    f.seed_symlink("/rel", "srv/data")
    f.seed_symlink("/srv/up", "data/..")
    f.seed_symlink("/loop", "/loop")
    if kind == "missing" and path.startswith("/loop"):
        with pytest.raises(SysError) as exc:
            f.lstat(path)
        assert exc.value.errno == errno.ELOOP
        return
    assert f.lstat(path).kind == kind
    assert f.realpath(path) == real


# ---- the real parser reads the fake ---------------------------------------------

def test_mountinfo_parses_with_the_real_parser():
    """The fake's mountinfo (odd paths, stacks, binds, overlays, flags) parses into the expected LiveTable."""
    f = FakeSys()
    f.seed_dir("/srv/with space/back\\slash,comma")
    f.seed_mount("tmpfs", "/srv/with space", fs_options=[("size", "1m")], flags={"nosuid", "nodev"},
                 propagation="shared")
    f.seed_dir("/srv/with space/inner")
    f.seed_bind("/srv/with space", "/srv/with space/inner")
    f.seed_mount("ramfs", "/srv/with space/inner")
    t = table(f)
    assert len(t) == 4
    base, bind, ramfs = t.top("/srv/with space"), *t.stack("/srv/with space/inner")
    assert (base.fstype, base.source, base.flags, base.propagation) == ("tmpfs", "tmpfs", {"nosuid", "nodev"},
                                                                        "shared")
    assert dict(base.fs_options) == {"size": str(1 << 20)}
    assert (bind.dev, bind.root, bind.parent_id) == (base.dev, "/", base.mount_id)
    assert ramfs.parent_id == bind.mount_id and ramfs.fstype == "ramfs"
    assert t.visible("/srv/with space/inner/x").mount_id == ramfs.mount_id
    assert len({m.dev for m in t.mounts}) == 3


def test_errno_name_falls_back_to_the_number():
    """A transcript names a failed step's errno symbolically, or by number when it has no name."""
    assert (errno_name(errno.EBUSY), errno_name(99999)) == ("EBUSY", "99999")
