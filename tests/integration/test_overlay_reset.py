"""overlay reset on real overlays (private namespace, scratch tmpfs): views, the old upper, rollbacks, the CLI.

Each overlay is a profile entry (redirect_dir=on, metacopy=on) over one
plain lower directory, so the lower view at any path is simply the lower
directory there. The same changes are made through the mounted overlay
each time: a modified file, a deleted file (whiteout), an added directory,
`rm -r d; mkdir d` (opaque), a renamed directory (redirect) and a chmod of a
big file (metacopy).
"""

import hashlib
import json
import os
import stat
import subprocess
import time

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc, reset as ors
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError

from .helpers import (apply, cli, cli_command, cli_env, cli_fork, cli_json, hand_mount, make_tree, profile_dict,
                      read_state, real_sys, snapshot, state_dir, top)

BIG = bytes(range(256)) * 1024  # 256 KiB: chmod under metacopy=on copies up metadata only
OPTIONS = ["redirect_dir=on", "metacopy=on"]


def lower_spec():
    """Return the make_tree spec of the lower layer."""
    return ["l/etc/app.conf=port 80", "l/etc/other.conf=x", "l/del.txt=bye", "l/d/a=1", "l/d/b=2", "l/d/s/c=3",
            "l/a/x=in a", "l/a/s/y=deep", "u/", "w/", "m/"]


def setup(scratch, owned=True):
    """Return (merged dir, upper, lower) of an overlay at <scratch>/m after the standard changes through it."""
    make_tree(scratch, lower_spec())
    lower, upper, merged = (os.path.join(scratch, n) for n in ("l", "u", "m"))
    with open(os.path.join(lower, "big"), "wb") as f:
        f.write(BIG)
    if owned:
        entry = {"target": "@/m", "type": "overlay", "lower": ["@/l"], "upper": "@/u", "work": "@/w",
                 "options": OPTIONS}
        apply(scratch, profile_dict(scratch, [entry], name="app"))
    else:
        hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s,%s" % (
            lower, upper, os.path.join(scratch, "w"), ",".join(OPTIONS)), merged)
    with open(os.path.join(merged, "etc/app.conf"), "w") as f:
        f.write("port 8080")
    os.unlink(os.path.join(merged, "del.txt"))
    os.makedirs(os.path.join(merged, "newdir/sub"))
    with open(os.path.join(merged, "newdir/sub/f"), "w") as f:
        f.write("new")
    subprocess.run(["rm", "-r", os.path.join(merged, "d")], check=True)
    os.mkdir(os.path.join(merged, "d"))
    with open(os.path.join(merged, "d/a"), "w") as f:
        f.write("one")
    os.rename(os.path.join(merged, "a"), os.path.join(merged, "b"))
    os.chmod(os.path.join(merged, "big"), 0o600)
    return merged, upper, lower


def view(root):
    """Return {relative path: (type, mode, uid, gid, content digest or link)} of everything at and below `root`."""
    if not os.path.lexists(root):
        return {}
    out = {".": _row(root)}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(d, name)
            out[os.path.relpath(full, root)] = _row(full)
    return out


def _row(full):
    """Return (type, mode, uid, gid, content digest or link) of one path."""
    st = os.lstat(full)
    what = None
    if stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            what = hashlib.sha256(f.read()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        what = os.readlink(full)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what)


def expected_view(merged_before, lower, paths):
    """Return the merged view a reset of `paths` must give: the lower view there, the old view elsewhere."""
    want = dict(merged_before)
    for p in paths:
        rel = p.strip("/")
        want = {k: v for k, v in want.items() if rel and not (k == rel or k.startswith(rel + "/"))}
        for k, v in view(os.path.join(lower, rel)).items():
            want[os.path.normpath(os.path.join(rel, k))] = v
    return want


def upper_record(upper):
    """Return {relative path: (view row, ctime, xattrs)} of everything below upper dir `upper` (its root excluded)."""
    out = {}
    for d, dirs, files in os.walk(upper):
        for name in dirs + files:
            full = os.path.join(d, name)
            st = os.lstat(full)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
            xattrs = {k: os.getxattr(full, k, follow_symlinks=False) for k in os.listxattr(full,
                                                                                            follow_symlinks=False)}
            out[os.path.relpath(full, upper)] = (st.st_mode, st.st_uid, st.st_rdev, st.st_size, data,
                                                 st.st_ctime_ns, st.st_mtime_ns, xattrs)
    return out


def listed(items):
    """Return [(path, kind, changed)] of overlay_changes items."""
    return [(it["path"], it["kind"], it["changed"]) for it in items]


def reset(scratch, merged, *paths, **kw):
    """Return the engine's reset report for `merged` (state under scratch)."""
    return ors.reset(merged, paths, system=kw.pop("system", None) or real_sys(), root=state_dir(scratch), **kw)


CASES = [
    ("modified-file", ["/etc/app.conf"]),
    ("whiteout", ["/del.txt"]),
    ("added-dir", ["/newdir"]),
    ("path-in-opaque-dir", ["/d/b"]),
    ("changed-file-in-opaque-dir", ["/d/a"]),
    ("subdir-in-opaque-dir", ["/d/s"]),
    ("renamed-dir", ["/b"]),
    ("renamed-dir-and-its-old-name", ["/a", "/b"]),
    ("path-in-renamed-dir", ["/b/x"]),
    ("deep-path-in-renamed-dir", ["/b/s/y"]),
    ("metacopy-file", ["/big"]),
    ("several", ["/etc", "/del.txt", "/big"]),
    ("all", []),
]


@pytest.mark.parametrize("paths", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_reset_paths(scratch, paths):
    """The merged view becomes the lower view at the reset paths and stays as it was elsewhere."""
    merged, upper, lower = setup(scratch)
    before = view(merged)
    old_items = oc.for_mount(ors.find_overlay(_table(), merged))
    old_upper = upper_record(upper)
    rep = reset(scratch, merged, *paths)
    assert rep["changed"] and rep["profile"] == "app"
    assert view(merged) == expected_view(before, lower, paths or ["/"])
    new_items = oc.for_mount(ors.find_overlay(_table(), merged))
    kept = [it for it in old_items if not any(it["path"] == p or it["path"].startswith(p + "/") for p in paths)]
    if paths:
        assert oc.as_diff(new_items) == oc.as_diff(kept)
        assert listed(rep["discarded"]) == listed(ors.select(old_items, paths))
    else:
        assert new_items == [] and listed(rep["discarded"]) == listed(old_items)
    assert upper_record(rep["upper_aside"]) == old_upper, "the old upper was written"
    assert os.listdir(rep["work_aside"]) is not None and os.listdir(upper) is not None
    st = os.stat(merged)
    dev = json.loads(read_state(scratch, "app"))["body"]["owned"][0]["dev"]
    assert dev == [os.major(st.st_dev), os.minor(st.st_dev)], "the state did not learn the new device"


def _table():
    from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo

    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return parse_mountinfo(f.read())


@pytest.mark.parametrize("path,why", [
    ("/a/x", "/a is deleted in the overlay; reset /a instead"),
    ("/a", "directory /b was renamed from /a and is kept: overlayfs cannot show one lower directory at two paths;"
           " reset /b too"),
], ids=["below-deleted-dir", "old-name-of-kept-rename"])
def test_refused(scratch, path, why):
    """A path that cannot go back alone is refused before anything changes, naming what to reset with it."""
    merged, upper, _ = setup(scratch)
    before = (snapshot(scratch), upper_record(upper))
    with pytest.raises(LivemountError) as exc:
        reset(scratch, merged, path)
    assert str(exc.value) == "cannot reset %s in overlay %s: %s" % (path, merged, why)
    assert (snapshot(scratch), upper_record(upper)) == before


def test_reader_keeps_its_view(scratch):
    """A process inside the overlay during the reset keeps reading the old files without an error."""
    merged, upper, _ = setup(scratch)
    child = subprocess.Popen(["sh", "-c", "read x; cat etc/app.conf; cat newdir/sub/f"], cwd=merged,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(os.path.join(merged, "etc/app.conf"), "rb") as held:
        rep = reset(scratch, merged)
        assert os.pread(held.fileno(), 100, 0) == b"port 8080"
    out, err = child.communicate(b"go\n", timeout=30)
    assert (child.returncode, out, err) == (0, b"port 8080new", b"")
    assert rep["old_gone"] is False
    with open(os.path.join(merged, "etc/app.conf"), "rb") as f:
        assert f.read() == b"port 80"


def test_check_mode_changes_nothing(scratch):
    """Check mode lists what would go; the table, the upper tree and its ctimes stay exactly as they were."""
    merged, upper, _ = setup(scratch)
    before = (snapshot(scratch), upper_record(upper), read_state(scratch, "app"))
    rep = reset(scratch, merged, "/etc/app.conf", "/nothing", check=True)
    assert listed(rep["discarded"]) == [("/etc/app.conf", "modified", ["size", "content"])]
    assert (rep["mode"], rep["changed"], rep["frozen"], rep["unchanged_paths"]) == ("check", True, False,
                                                                                    ["/nothing"])
    assert (snapshot(scratch), upper_record(upper), read_state(scratch, "app")) == before


def test_writer_refuses(scratch):
    """A file open for writing in the overlay refuses the reset and names the process; nothing changed."""
    merged, upper, _ = setup(scratch)
    with open(os.path.join(merged, "etc/other.conf"), "a"):  # opening for writing copies it up: before is after
        before = (snapshot(scratch), upper_record(upper))
        with pytest.raises(LivemountError, match=r"a process holds a file open for writing on it \(EBUSY\) \(held"
                                                 r" by pid %d " % os.getpid()):
            reset(scratch, merged)
    assert (snapshot(scratch), upper_record(upper)) == before


def count_steps(scratch, paths):
    """Return the number of Sys steps a successful reset of `paths` takes (on a throwaway copy of the setup)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

    sub = os.path.join(scratch, "probe")
    os.mkdir(sub)
    merged, _, _ = setup(sub)
    s = failpoint.FailpointSys(real_sys(), {})
    reset(sub, merged, *paths, system=s)
    return s.count


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("paths", [["/etc/app.conf", "/d/b"], []], ids=["some", "all"])
def test_failure_at_every_step_rolls_back(scratch, paths):
    """A failure injected at any step leaves the exact previous table, upper, state and flags; aside names gone."""
    n_steps = count_steps(scratch, paths)
    assert n_steps >= 5, n_steps
    merged, upper, _ = setup(scratch)
    for n in range(1, n_steps + 1):
        before = (snapshot(merged), upper_record(upper), read_state(scratch, "app"), view(merged))
        with pytest.raises(Exception) as exc:
            reset(scratch, merged, *paths, system=real_sys({"LIVEMOUNT_FAILPOINT": "%d:EIO" % n}))
        assert "(failpoint %d)" % n in str(exc.value), "step %d: %s" % (n, exc.value)
        assert "ROLLBACK FAILED" not in str(exc.value)
        after = (snapshot(merged), upper_record(upper), read_state(scratch, "app"), view(merged))
        assert after == before, "step %d" % n
        assert sorted(os.listdir(scratch)) == sorted(["l", "u", "w", "m", "state", "probe"]), "step %d" % n
    rep = reset(scratch, merged, *paths)  # and then it works
    assert rep["changed"]


def test_copy_failure_rolls_back(scratch):
    """The kept changes do not fit (ENOSPC while copying them): everything is put back as it was."""
    make_tree(scratch, ["l/f=1", "uw/", "m/"])
    hand_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(scratch, "uw"))
    make_tree(scratch, ["uw/u/", "uw/w/"])
    entry = {"target": "@/m", "type": "overlay", "lower": ["@/l"], "upper": "@/uw/u", "work": "@/uw/w"}
    apply(scratch, profile_dict(scratch, [entry], name="app"))
    merged, upper = os.path.join(scratch, "m"), os.path.join(scratch, "uw/u")
    with open(os.path.join(merged, "big.bin"), "wb") as f:
        f.write(os.urandom(700 * 1024))  # a second copy cannot fit in 1 MiB
    with open(os.path.join(merged, "f"), "w") as f:
        f.write("2")
    before = (snapshot(scratch), upper_record(upper), read_state(scratch, "app"), view(merged))
    with pytest.raises(LivemountError, match=r"cannot copy the kept changes of overlay .*No space left on device"):
        reset(scratch, merged, "/f")
    assert (snapshot(scratch), upper_record(upper), read_state(scratch, "app"), view(merged)) == before
    assert sorted(os.listdir(os.path.join(scratch, "uw"))) == ["u", "w"]


@pytest.mark.parametrize("hold", [False, True], ids=["nothing-holds", "cwd-inside"])
def test_discard(scratch, hold):
    """--discard deletes the old upper and work once the old overlay is gone; kept, saying why, while it lives."""
    merged, _, _ = setup(scratch)
    child = subprocess.Popen(["sleep", "60"], cwd=merged) if hold else None
    try:
        rep = reset(scratch, merged, "/etc/app.conf", discard=True)
    finally:
        if child:
            child.kill()
            child.wait()
    assert rep["removed_aside"] is not hold
    assert os.path.exists(rep["upper_aside"]) is hold and os.path.exists(rep["work_aside"]) is hold
    if not hold:
        assert not [w for w in rep["warnings"] if w.startswith("kept")]
    if hold:
        assert rep["warnings"][-1].endswith("the old overlay was busy: it lives on, lazily detached, for the"
                                            " processes still using it")


def test_foreign_overlay_needs_force(scratch):
    """An overlay no profile owns is refused (exit 1, nothing changed); --force resets it and writes no state."""
    merged, upper, _ = setup(scratch, owned=False)
    before = (snapshot(scratch), upper_record(upper))
    proc = cli(scratch, "overlay", "reset", merged)
    assert proc.returncode == 1
    assert "cannot reset overlay %s: no livemount profile owns it in mnt:[" % merged in proc.stderr
    assert (snapshot(scratch), upper_record(upper)) == before
    status, doc, err = cli_json(scratch, "overlay", "reset", "--force", "--json", merged, "/del.txt")
    assert status == 0, err
    assert (doc["profile"], doc["changed"], listed(doc["discarded"])) == (None, True, [("/del.txt", "deleted", [])])
    assert os.path.exists(os.path.join(merged, "del.txt"))
    assert journals_and_states(scratch) == [], "a forced reset keeps its lock file only"


def test_cli(scratch):
    """The CLI: check mode's table, the reset's summary, --json, a refusal with exit status 1."""
    merged, _, _ = setup(scratch)
    proc = cli(scratch, "overlay", "reset", "--check", merged, "/etc")
    assert proc.returncode == 0, proc.stderr
    assert "Would discard from overlay" in proc.stdout  # the title wraps at the table's width
    assert "/etc/app.conf" in proc.stdout and "Check mode: nothing was changed" in proc.stderr
    proc = cli(scratch, "overlay", "reset", merged, "etc")
    assert proc.returncode == 1
    assert "error: cannot reset overlay %s: path 'etc': path must be absolute" % merged in proc.stderr
    status, doc, err = cli_json(scratch, "overlay", "reset", "--json", merged, "/etc")
    assert status == 0, err
    assert doc["mode"] == "apply" and doc["paths"] == ["/etc"] and doc["upper_aside"].startswith(
        os.path.join(scratch, "u.livemount-"))
    proc = cli(scratch, "overlay", "reset", merged, "/etc")
    assert proc.returncode == 0 and "Nothing to reset in overlay %s." % merged in proc.stdout
    status, doc, err = cli_json(scratch, "overlay", "reset", "--json", merged, "/b/x/nope/../")
    assert status == 1 and doc["error"]["message"].startswith("cannot reset overlay")
    assert json.dumps(doc)
    time.sleep(0)


@pytest.mark.parametrize("n", [3, 6, 9], ids=["after-rename", "after-seed", "before-old-off"])
def test_killed_reset_is_recovered_by_apply(scratch, n):
    """A reset killed mid-way leaves the journal; the next apply converges on one overlay, before or after the reset."""
    merged, _, lower = setup(scratch)
    before = view(merged)
    proc = cli(scratch, "overlay", "reset", merged, "/etc/app.conf", env={"LIVEMOUNT_FAILPOINT": "%d:crash" % n})
    assert proc.returncode == -9, proc.stderr
    entry = {"target": "@/m", "type": "overlay", "lower": ["@/l"], "upper": "@/u", "work": "@/w", "options": OPTIONS}
    rep = apply(scratch, profile_dict(scratch, [entry], name="app"))
    assert rep.recovered
    assert len([m for m in snapshot(merged) if m[0] == merged]) == 1
    assert view(merged) in (before, expected_view(before, lower, ["/etc/app.conf"]))


def journals_and_states(scratch):
    """Return the journal and state files under the scratch state directory (lock files are not listed)."""
    found = []
    for d, _, files in os.walk(state_dir(scratch)):
        found += [os.path.join(d, f) for f in files if f.endswith((".journal", ".state.json"))]
    return found


def kept_uppers(scratch):
    """Return the upper_record of the upper <scratch>/u and of every directory set aside from it."""
    return [upper_record(os.path.join(scratch, n)) for n in sorted(os.listdir(scratch))
            if n == "u" or n.startswith("u.livemount-")]


def count_force_steps(scratch, paths):
    """Return the number of Sys steps a successful forced reset of `paths` takes (on a throwaway overlay)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

    sub = os.path.join(scratch, "probe")
    os.mkdir(sub)
    merged, _, _ = setup(sub, owned=False)
    s = failpoint.FailpointSys(real_sys(), {})
    reset(sub, merged, *paths, system=s, force=True)
    return s.count


@pytest.mark.ns_timeout(600)
@pytest.mark.parametrize("paths", [["/etc/app.conf", "/d/b"], []], ids=["some", "all"])
def test_killed_force_reset_is_recovered_by_the_next(scratch, paths):
    """A forced reset killed at any step: the next one recovers, then ends on one thawed overlay, reset, nothing lost."""
    n_steps = count_force_steps(scratch, paths)
    assert n_steps >= 5, n_steps
    for n in range(1, n_steps + 1):
        sub = os.path.join(scratch, "n%d" % n)
        os.mkdir(sub)
        merged, upper, lower = setup(sub, owned=False)
        before, old = view(merged), upper_record(upper)
        proc = cli_fork(sub, "overlay", "reset", "--force", merged, *paths, env={"LIVEMOUNT_FAILPOINT": "%d:crash" % n})
        assert proc.returncode == -9, "step %d: %s" % (n, proc.stderr)
        assert journals_and_states(sub), "step %d: no journal left by the killed reset" % n
        status, doc, err = cli_json(sub, "overlay", "reset", "--force", "--json", merged, *paths, fork=True)
        assert status == 0, "step %d: %s" % (n, err)
        assert doc["recovered"][0].startswith("recovered an interrupted `overlay reset --force` of %s" % merged)
        assert [m[0] for m in snapshot(merged)] == [merged], "step %d: %s" % (n, snapshot(merged))
        assert "ro" not in top(merged).opts, "step %d: left frozen" % n
        assert view(merged) == expected_view(before, lower, paths or ["/"]), "step %d" % n
        assert old in kept_uppers(sub), "step %d: the old upper is lost (%s)" % (n, doc["recovered"])
        assert journals_and_states(sub) == [], "step %d" % n


def test_killed_force_reset_shows_in_status(scratch):
    """status lists a killed forced reset as interrupted, saying which command recovers it; a check run predicts it."""
    merged, _, _ = setup(scratch, owned=False)
    proc = cli_fork(scratch, "overlay", "reset", "--force", merged, env={"LIVEMOUNT_FAILPOINT": "3:crash"})
    assert proc.returncode == -9, proc.stderr
    proc = cli(scratch, "status")
    assert proc.returncode == 1
    assert "an `overlay reset --force` was interrupted" in proc.stderr and "overlay-reset@" in proc.stderr
    assert "owns nothing" not in proc.stdout
    proc = cli(scratch, "overlay", "reset", merged)
    assert proc.returncode == 1 and "a --force reset of it was interrupted: the next one recovers it first" in \
        proc.stderr
    status, doc, err = cli_json(scratch, "overlay", "reset", "--force", "--check", "--json", merged)
    assert status == 0 and doc["recovered"] == ["an interrupted `overlay reset --force` of %s would be recovered"
                                                " first" % merged], err
    proc = cli(scratch, "overlay", "reset", "--force", merged)
    assert proc.returncode == 0 and "recovered an interrupted `overlay reset --force`" in proc.stderr
    status, doc, _ = cli_json(scratch, "status", "--json")
    assert (status, doc["profiles"]) == (0, [])


def test_force_reset_waits_for_the_lock(scratch):
    """A forced reset waits while another holds its target's lock, changing nothing, then runs once it is free."""
    import fcntl

    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import reset_journal as orj

    merged, _, lower = setup(scratch, owned=False)
    store = orj.store_for(state_dir(scratch), os.readlink("/proc/self/ns/mnt"), merged)
    store.ensure_dir()
    before = snapshot(merged)
    fd = os.open(store.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a forced reset of this target holds while it runs
        proc = subprocess.Popen(cli_command(scratch, "overlay", "reset", "--force", "--json", merged),
                                env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        assert proc.poll() is None, proc.communicate()
        assert snapshot(merged) == before and not store.journal.exists(), "it did not wait"
    finally:
        os.close(fd)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["changed"] and view(merged) == view(lower)


def test_two_force_resets_at_once_take_turns(scratch):
    """Two forced resets of one overlay started together: one resets it, the other then finds nothing to discard."""
    merged, _, lower = setup(scratch, owned=False)
    argv = cli_command(scratch, "overlay", "reset", "--force", "--json", merged)
    procs = [subprocess.Popen(argv, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(json.loads(out)["changed"] for out, _ in outs) == [False, True], "both reset it: they interleaved"
    assert [m[0] for m in snapshot(merged)] == [merged]
    assert view(merged) == view(lower) and journals_and_states(scratch) == []
