"""overlay reset without a kernel overlay: paths, selection, per-path plans, the copy, and the decisions.

Layers are hand-built directories with user.overlay.* markers (as with the
userxattr mount option), like tests/unit/test_overlay_changes.py; the
decisions run against FakeSys (its transcript shows every freeze and thaw).
tests/integration/test_overlay_reset.py checks the results on real overlays.
"""

import errno
import os
import stat

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import copy as ocp, reset as ors
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import OVERLAY, Entry, Owned
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.stack import Layers
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import State, StateStore

from tests.unit.fakesys import NAMESPACE_ID, FakeSys
from tests.unit.test_overlay_changes import D, F, L, W, build

P = "user.overlay."


# ---- PATHS ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ([], []),
    (["/etc/app.conf"], ["/etc/app.conf"]),
    (["/etc//app.conf/", "/./etc/app.conf"], ["/etc/app.conf"]),
    (["/etc/x", "/etc", "/var/a", "/etc-old"], ["/etc-old", "/etc", "/var/a"]),
    (["/etc", "/"], []),
], ids=["none-is-all", "one", "spellings-of-one", "ancestor-absorbs", "root-is-all"])
def test_check_paths(raw, expected):
    """Paths are cleaned, deduplicated, folded into their ancestors; `/` or nothing means everything."""
    assert ors.check_paths("/srv/app", raw) == expected


@pytest.mark.parametrize("raw,why", [
    ("etc/app.conf", "path must be absolute"),
    ("/etc/../app.conf", "path must not contain '..'"),
    ("/etc/\x00", "path must not contain NUL"),
], ids=["relative", "dotdot", "nul"])
def test_check_paths_refused(raw, why):
    """A path that is not clean and absolute is refused, naming it and the overlay."""
    with pytest.raises(LivemountError) as exc:
        ors.check_paths("/srv/app", ["/ok", raw])
    assert str(exc.value) == ("cannot reset overlay /srv/app: path %r: %s (paths are inside the overlay, like"
                              " /etc/app.conf)" % (raw, why))


ITEMS = [{"path": p} for p in ("/", "/etc", "/etc/a", "/etc-old", "/var/x/y")]


@pytest.mark.parametrize("wanted,expected", [
    ([], ["/", "/etc", "/etc/a", "/etc-old", "/var/x/y"]),
    (["/etc"], ["/etc", "/etc/a"]),
    (["/var"], ["/var/x/y"]),
    (["/etc/a", "/nothing"], ["/etc/a"]),
], ids=["all", "subtree-not-prefix", "below-only", "unchanged-path"])
def test_select(wanted, expected):
    """A reset path takes itself and everything below it, never a sibling sharing a name prefix."""
    assert [it["path"] for it in ors.select(ITEMS, wanted)] == expected


# ---- per-path plans on hand-built layers -------------------------------------------------------

PLANS = [
    ("modified-file", [[D("etc"), F("etc/a", "1")]], [D("etc"), F("etc/a", "2")], "/etc/a", "drop", False, ()),
    ("whiteout", [[F("f", "1")]], [W("f")], "/f", "drop", False, ()),
    ("in-opaque-dir-lower-file", [[D("d"), F("d/a", "1")]], [D("d", opaque="y")], "/d/a", "copy", False, ()),
    ("in-opaque-dir-lower-dir", [[D("d"), D("d/s"), F("d/s/a")]], [D("d", opaque="y"), D("d/s")], "/d/s", "copy",
     False, ()),
    ("in-opaque-dir-nothing-below", [[D("d")]], [D("d", opaque="y"), F("d/new")], "/d/new", "drop", False, ()),
    ("in-renamed-dir", [[D("a"), F("a/x", "1")]], [W("a"), D("b", redirect="a")], "/b/x", "whiteout", False, ()),
    ("deep-in-renamed-dir", [[D("a"), D("a/s"), F("a/s/x")]], [W("a"), D("b", redirect="a")], "/b/s/x",
     "whiteout", False, ("/b/s",)),
    ("renamed-over-lower-dir", [[D("a"), D("a/s"), D("b"), D("b/s"), F("b/s/y")]],
     [W("a"), D("b", redirect="a")], "/b/s", "copy", True, ()),
]


@pytest.mark.parametrize("name,lowers,upper,path,how,opaque,parents", PLANS, ids=[c[0] for c in PLANS])
def test_plan_paths(tmp_path, name, lowers, upper, path, how, opaque, parents):
    """Drop where the stacks above agree; copy or whiteout below an opaque directory or a redirect."""
    u, ls, _ = build(tmp_path, lowers, upper)
    (plan,) = ocp.plan_paths("/srv/app", u, Layers(ls, (), "user."), [path])
    assert (plan.how, plan.opaque, tuple(p for p, _ in plan.parents)) == (how, opaque, parents)


@pytest.mark.parametrize("upper,path,why", [
    ([W("d")], "/d/a", "/d is deleted in the overlay; reset /d instead"),
    ([F("d", "now a file")], "/d/a", "/d is a file in the overlay, not a directory; reset /d instead"),
    ([D("d", opaque="y")], "/d/s/a", "/d/s is not a directory in the overlay; reset /d/s instead"),
], ids=["below-whiteout", "below-file", "below-hidden-dir"])
def test_plan_paths_refused(tmp_path, upper, path, why):
    """A path below something the overlay deleted or replaced cannot go back alone: refused, naming what to reset."""
    u, ls, _ = build(tmp_path, [[D("d"), D("d/s"), F("d/a"), F("d/s/a")]], upper)
    with pytest.raises(LivemountError) as exc:
        ocp.plan_paths("/srv/app", u, Layers(ls, (), "user."), [path])
    assert str(exc.value) == "cannot reset %s in overlay /srv/app: %s" % (path, why)


# ---- the copy --------------------------------------------------------------------------------------

def tree(root):
    """Return {rel: (type, mode, uid, gid, size, blocks==0, rdev, link, xattrs, mtime, link group)} below `root`."""
    out, groups = {}, {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(d, name)
            st = os.lstat(full)
            group = groups.setdefault((st.st_ino, st.st_nlink), len(groups)) if st.st_nlink > 1 and \
                not stat.S_ISDIR(st.st_mode) and not stat.S_ISCHR(st.st_mode) else None
            out[os.path.relpath(full, root)] = (
                stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                st.st_size if not stat.S_ISDIR(st.st_mode) else None, st.st_blocks == 0, st.st_rdev,
                os.readlink(full) if stat.S_ISLNK(st.st_mode) else None, ocp.xattrs(full),
                st.st_mtime_ns if not stat.S_ISLNK(st.st_mode) else None, group)
    return out


def test_copy_upper_is_exact(tmp_path):
    """Every type, owner, mode, xattr, time, hole and hard link comes across; skipped subtrees do not."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    os.makedirs(src + "/d/skip/deep")
    os.mkdir(dst)
    with open(src + "/d/f", "wb") as f:
        f.write(b"x" * 5000)
    os.link(src + "/d/f", src + "/d/f2")
    with open(src + "/sparse", "wb") as f:
        f.truncate(1 << 20)  # a metacopy file looks like this: size, no blocks
    os.setxattr(src + "/sparse", P + "metacopy", b"")
    os.setxattr(src + "/d", P + "opaque", b"y")
    os.setxattr(src + "/d", "user.color", b"red")
    os.mknod(src + "/wo", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.link(src + "/wo", src + "/d/wo2")  # overlayfs shares one whiteout inode: not a link group to keep
    os.mkfifo(src + "/fifo", 0o640)
    os.symlink("../target", src + "/d/link")
    os.chown(src + "/d/f", 123, 456)
    os.chmod(src + "/d/f", 0o4750)
    os.chmod(src, 0o711)
    open(src + "/d/skip/deep/gone", "w").close()
    os.utime(src + "/d", ns=(1, 2_000_000_000))
    count = ocp.copy_upper(src, dst, skip=["/d/skip"])
    want = {k: v for k, v in tree(src).items() if not k.startswith("d/skip")}
    got = tree(dst)
    assert sorted(got) == sorted(want) and count == len(want)
    for k in want:
        assert got[k][:10] == want[k][:10], k
    assert got["d/f"][10] == got["d/f2"][10] is not None
    assert os.stat(dst).st_mode & 0o777 == 0o711


def test_copy_never_writes_the_source(tmp_path):
    """The copy only reads: no inode of the source changes, not even its access time."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    os.makedirs(src + "/d")
    os.mkdir(dst)
    with open(src + "/d/f", "wb") as f:
        f.write(b"data")
    os.utime(src + "/d/f", ns=(1, 1))
    before = {k: (os.lstat(os.path.join(src, k)).st_ctime_ns, os.lstat(os.path.join(src, k)).st_atime_ns)
              for k in ("d", "d/f")}
    ocp.copy_upper(src, dst)
    assert {k: (os.lstat(os.path.join(src, k)).st_ctime_ns, os.lstat(os.path.join(src, k)).st_atime_ns)
            for k in ("d", "d/f")} == before


def test_seed_upper_copies_lower_view(tmp_path):
    """A path in an opaque directory gets the lower view's object; a renamed dir's path gets a whiteout."""
    u, ls, _ = build(tmp_path, [[D("d"), F("d/a", "lower", mode=0o640), D("a"), F("a/x", "1")]],
                     [D("d", opaque="y"), F("d/a", "upper"), W("a"), D("b", redirect="a")])
    layers = Layers(ls, (), "user.")
    plans = ocp.plan_paths("/srv/app", u, layers, ["/d/a", "/b/x"])
    new = str(tmp_path / "new")
    os.mkdir(new)
    ocp.seed_upper(u, new, plans, layers)
    with open(new + "/d/a") as f:
        assert f.read() == "lower"
    assert stat.S_IMODE(os.lstat(new + "/d/a").st_mode) == 0o640
    st = os.lstat(new + "/b/x")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(new + "/b", P + "redirect") == b"a"
    assert os.lstat(new + "/d").st_mtime_ns == os.lstat(u + "/d").st_mtime_ns


# ---- decisions against FakeSys ----------------------------------------------------------------------

def fake_overlay(tmp_path, upper_builders=(F("new", "x"),), flags=(), more=None, own=False, journal=False):
    """Return (FakeSys with an overlay at /mnt/ov on hand-built layers, state root, empty /proc)."""
    u, ls, _ = build(tmp_path, [[F("f", "a")]], list(upper_builders))
    work = str(tmp_path / "work")
    os.mkdir(work)
    s = FakeSys()
    for d in [u, work] + ls:
        s.seed_dir(d)
    s.seed_mount("overlay", "/mnt/ov", fs_options=(("userxattr", None),), flags=flags, lower=tuple(ls), upper=u,
                 work=work)
    if more:
        more(s)
    root, proc = str(tmp_path / "state"), str(tmp_path / "proc")
    os.mkdir(proc)
    if own:
        store = StateStore(root, NAMESPACE_ID, "web")
        e = Entry("/mnt/ov", OVERLAY, fs_options=(("userxattr", None),), lower=tuple(ls), upper=u, work=work)
        store.save(State("web", NAMESPACE_ID, (Owned(e),)))
        if journal:
            store.journal.begin({"plan_id": "x"})
    s.calls.clear()
    return s, root, proc


def run(s, root, proc, *paths, **kw):
    """Return reset()'s report for /mnt/ov."""
    return ors.reset("/mnt/ov", paths, system=s, root=root, proc=proc, **kw)


def test_check_mode_changes_nothing(tmp_path):
    """Check mode lists what would go and makes no system call that changes anything (no freeze either)."""
    s, root, proc = fake_overlay(tmp_path, own=True)
    rep = run(s, root, proc, check=True)
    assert [it["path"] for it in rep["discarded"]] == ["/new"]
    assert (rep["profile"], rep["changed"], rep["frozen"], s.calls) == ("web", True, False, [])
    assert not os.path.exists(os.path.join(root, "mnt-4026531841", "web.lock"))


@pytest.mark.parametrize("kw,more,message", [
    ({}, None, "cannot reset overlay /mnt/ov: no livemount profile owns it in mnt:[4026531841]; --force resets it"
               " anyway (no profile state is written; it has a lock and journal of its own)"),
    ({"force": True}, lambda s: s.seed_mount("tmpfs", "/mnt/ov/sub"),
     "cannot reset overlay /mnt/ov: mounts below it would go with the old overlay: /mnt/ov/sub; unmount them first"),
    ({"force": True, "paths": ["/f"]}, lambda s: s.seed_bind("/mnt/ov", "/elsewhere"),
     "cannot reset paths of overlay /mnt/ov: other mounts of it can write into its upper while the kept changes"
     " are copied: /elsewhere in mnt:[4026531841]"),
], ids=["foreign", "mounts-below", "writable-bind-with-paths"])
def test_refusals(tmp_path, kw, more, message):
    """Refusals come before any change: nothing frozen, nothing renamed."""
    s, root, proc = fake_overlay(tmp_path, more=more)
    paths = kw.pop("paths", [])
    with pytest.raises(LivemountError) as exc:
        run(s, root, proc, *paths, **kw)
    assert str(exc.value) == message
    assert s.calls == []


def test_interrupted_apply_is_refused(tmp_path):
    """A journal left by a killed apply must be recovered by apply first."""
    s, root, proc = fake_overlay(tmp_path, own=True, journal=True)
    with pytest.raises(LivemountError, match="an apply of profile web was interrupted"):
        run(s, root, proc)
    assert s.calls == []


def test_bind_with_reset_all_is_a_warning(tmp_path):
    """Resetting everything copies nothing: another mount of the overlay only keeps the old upper (a warning)."""
    s, root, proc = fake_overlay(tmp_path, more=lambda s: s.seed_bind("/mnt/ov", "/elsewhere"))
    rep = run(s, root, proc, check=True, force=True)
    assert rep["warnings"][0] == ("other mounts of this overlay keep using the old upper: /elsewhere in"
                                  " mnt:[4026531841]")


@pytest.mark.parametrize("flags,paths,calls", [
    ((), (), ['setattr "/mnt/ov" ro', 'setattr "/mnt/ov" -']),
    (("nosuid",), ("/f",), ['setattr "/mnt/ov" nosuid,ro', 'setattr "/mnt/ov" nosuid']),
    (("ro",), (), []),
], ids=["rw", "keeps-flags", "already-ro"])
def test_nothing_to_discard_thaws(tmp_path, flags, paths, calls):
    """With nothing to discard the overlay is frozen for the listing, then given its exact flags back."""
    s, root, proc = fake_overlay(tmp_path, upper_builders=[F("f", "a")], flags=flags)
    rep = run(s, root, proc, *paths, force=True)
    assert (rep["discarded"], rep["changed"]) == ([], False)
    assert rep["unchanged_paths"] == list(paths)
    assert [c.split(" -> ")[0] for c in s.calls] == calls


def test_busy_writer_is_named(tmp_path):
    """EBUSY on the freeze (a file open for writing) refuses the reset; nothing changed."""
    s, root, proc = fake_overlay(tmp_path)
    s.fail_on("setattr", errno.EBUSY)
    with pytest.raises(LivemountError, match=r"^cannot reset overlay /mnt/ov: a process holds a file open for"
                                             r" writing on it \(EBUSY\); nothing was changed$"):
        run(s, root, proc, force=True)
    assert s.calls == ['setattr "/mnt/ov" ro -> EBUSY']


# ---- the store of a forced reset -------------------------------------------------------------

@pytest.mark.parametrize("target,name", [
    ("/srv/app", "overlay-reset@srv_app-"),
    ("/", "overlay-reset@root-"),
    ("/a b/\u00e9t\u00e9", "overlay-reset@a_b_t_-"),
    ("/" + "d/" * 40 + "app", "overlay-reset@" + ("d_" * 40 + "app")[-40:] + "-"),
], ids=["plain", "root", "unsafe-characters", "long"])
def test_reset_store_name(target, name):
    """A forced reset's store is named after its target: safe characters, short, never a valid profile name."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import NAME_RX
    from ansible_collections.livemount.core.plugins.module_utils.livemount.state import (is_reset_store,
                                                                                         reset_store_name)

    got = reset_store_name(target)
    assert got.startswith(name) and len(got) == len(name) + 12 and got == reset_store_name(target)
    assert is_reset_store(got) and not NAME_RX.fullmatch(got)
    assert reset_store_name(target + "x") != got and reset_store_name(target.replace("/", "_")) != got


def test_nothing_to_discard_removes_the_force_journal(tmp_path):
    """A forced reset with nothing to discard leaves its lock and no journal behind."""
    s, root, proc = fake_overlay(tmp_path, upper_builders=[F("f", "a")])
    run(s, root, proc, force=True)
    left = sorted(os.listdir(os.path.join(root, "mnt-4026531841")))
    assert len(left) == 1 and left[0].startswith("overlay-reset@mnt_ov-") and left[0].endswith(".lock")


def test_destroy_refuses_a_reset_journal_store():
    """`livemount destroy overlay-reset@...` is refused: that store is an interrupted forced reset, not a profile."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError
    from ansible_collections.livemount.core.plugins.module_utils.livemount.state import reset_store_name

    with pytest.raises(LivemountError) as err:
        engine.destroy(reset_store_name("/srv/app"), system=None)
    assert "not a profile" in str(err.value) and "overlay reset --force" in str(err.value)
