"""holders.py: who keeps a mount busy, and the on_busy policy (fail names them, detach unmounts lazily).

The scan is tested on the real /proc with real helper processes holding a
file of a temporary directory in each way (no mount is made: the mount that
directory lives on is the one looked for). The policy is tested end to end
through engine.reconcile on the fake Sys, whose mounts can be pinned busy.
"""

import errno
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import holders
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, SysError
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile

from tests.unit.planner_world import bind, fake_host, fast_tmpdir, tmpfs

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, /proc/PID/map_files)")

# Each holder is a Python child that takes hold of DIR/file in one way, says "ready" and sleeps.
HOLDS = {
    "open file": "f = open(os.path.join(d, 'file'))",
    "cwd": "os.chdir(d)",
    "root": "os.chroot(d)",
    "mmap": "import mmap; f = open(os.path.join(d, 'file'), 'rb'); m = mmap.mmap(f.fileno(), 0, "
            "prot=mmap.PROT_READ); f.close()",
}


@pytest.fixture
def tmp():
    """Return a fresh directory holding a non-empty `file` (removed afterwards)."""
    path = fast_tmpdir()
    with open(os.path.join(path, "file"), "w") as f:
        f.write("x" * 4096)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def holder(d, how):
    """Return a running process holding directory `d` (or d/file) by `how`, once it holds it."""
    code = "import os, sys, time; d = sys.argv[1]; %s; sys.stdout.write('ready\\n'); sys.stdout.flush(); " \
           "time.sleep(60)" % HOLDS[how]
    p = subprocess.Popen([sys.executable, "-c", code, d], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    return p


def mount_of(path):
    """Return {mnt_id: dev} of the mount `path` lives on, as the kernel says."""
    proc = holders.Proc()
    try:
        st = os.stat(path)
        return {holders.mount_id_of(path, proc): (os.major(st.st_dev), os.minor(st.st_dev))}
    finally:
        proc.close()


@pytest.mark.parametrize("how", [
    "open file",
    "cwd",
    pytest.param("root", marks=ROOT_ONLY),
    pytest.param("mmap", marks=ROOT_ONLY),
], ids=["open-file", "cwd", "root", "mmap"])
def test_find_holders_each_way(tmp, how):
    """A process holding the mount by an open file, its cwd, its root or a mapping is found, with how and path."""
    p = holder(tmp, how)
    try:
        proc = holders.Proc()
        try:
            rows = [r for r in holders.find_holders(mount_of(tmp), proc) if r["pid"] == p.pid]
        finally:
            proc.close()
    finally:
        p.kill()
        p.wait()
    want = tmp if how in ("cwd", "root") else os.path.join(tmp, "file")
    assert {(r["comm"][:6], r["how"], r["path"]) for r in rows} >= {("python", how, want)}


@pytest.mark.parametrize("by_device", [True, False], ids=["by-device", "every-file"])
def test_find_holders_through_a_proc_fd(tmp, by_device):
    """The scan works through a /proc directory fd opened earlier (as nsexec opens it before setns), filtered or not."""
    p = holder(tmp, "cwd")
    fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        rows = holders.find_holders(mount_of(tmp), holders.Proc(fd), by_device=by_device)
        assert (p.pid, "cwd", tmp) in {(r["pid"], r["how"], r["path"]) for r in rows}
        os.fstat(fd)  # a borrowed fd stays open
    finally:
        os.close(fd)
        p.kill()
        p.wait()


def test_find_holders_ignores_other_mounts(tmp):
    """A mount id nobody uses finds nobody (ids are never negative)."""
    proc = holders.Proc()
    try:
        assert holders.find_holders({-1: (0, 0)}, proc) == []
    finally:
        proc.close()


@pytest.mark.parametrize("rows,below,text", [
    ([], [], ""),
    ([{"pid": 42, "comm": "sleep", "how": "cwd", "path": "/srv/x"}], [], "held by pid 42 (sleep): cwd /srv/x"),
    ([{"pid": 1, "comm": "a", "how": "open file", "path": "/x/f"}, {"pid": 2, "comm": "b", "how": "mmap",
                                                                      "path": "/x/lib.so"}], ["/x/y"],
     "held by pid 1 (a): open file /x/f, pid 2 (b): mmap /x/lib.so; mounted below it: /x/y"),
    ([], ["/x/y", "/x/z"], "mounted below it: /x/y, /x/z"),
], ids=["nothing", "one", "two-and-below", "only-below"])
def test_describe(rows, below, text):
    """The words added to a busy error name every holder and every mount below."""
    assert holders.describe(rows, below) == text


@pytest.mark.parametrize("run,per,target,want", [
    (None, {}, "/t", "fail"),
    (None, {"/t": "detach"}, "/t", "detach"),
    (None, {"/t": "detach"}, "/u", "fail"),
    ("fail", {"/t": "detach"}, "/t", "fail"),
    ("detach", {}, "/t", "detach"),
], ids=["default", "entry", "other-entry", "run-overrides-entry", "run"])
def test_policy(run, per, target, want):
    """A run's on_busy overrides every entry's; an entry's applies to its target only; fail is the default."""
    assert holders.BusyPolicy(run, per).policy(target) == want


def test_policy_refuses_unknown_words():
    """on_busy is fail or detach."""
    with pytest.raises(ValueError):
        holders.BusyPolicy("lazy")


@pytest.mark.parametrize("data,profile_data,want", [
    ({"name": "p", "mounts": [tmpfs("/t", on_busy="detach"), tmpfs("/u")]}, None, {"/t": "detach", "/u": "fail"}),
    ({"name": "p", "mounts": []}, {"name": "p", "mounts": [tmpfs("/t/", on_busy="detach")]}, {"/t": "detach"}),
    ({"name": "p", "mounts": [tmpfs("/t")]}, {"name": "p", "mounts": [tmpfs("/t", on_busy="detach")]},
     {"/t": "fail"}),
], ids=["profile", "removed-entry-keeps-its-policy", "profile-wins"])
def test_entry_policies(data, profile_data, want):
    """Policies come from the state's last applied profile, then from the profile being applied."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.state import State

    assert holders.entry_policies(load_profile(data), State("p", profile_data=profile_data)) == want


# ---- the policy inside the engine (fake Sys) ------------------------------------------------

@pytest.fixture
def root():
    """Return a fresh, empty state root."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _applied(root, *mounts):
    """Return a fake host with profile `p` of `mounts` applied (state under `root`)."""
    fake = fake_host()
    data = {"name": "p", "mounts": list(mounts)}
    engine.reconcile(load_profile(data), fake, root=root, profile_data=data)
    return fake


@pytest.mark.parametrize("mounts,on_busy,entry_policy", [
    ([tmpfs("/data/t")], None, None),
    ([tmpfs("/data/t", on_busy="detach")], "fail", None),
    ([bind("/srv/a", "/data/m")], None, None),
], ids=["default", "run-fail-beats-entry-detach", "bind"])
def test_busy_unmount_fails_and_rolls_back(root, mounts, on_busy, entry_policy):
    """A busy unmount fails the apply, rolls back, and the error carries a `busy` list (empty: no real holders)."""
    fake = _applied(root, *mounts)
    target = mounts[0]["target"]
    fake.busy(target)
    with pytest.raises(ApplyError) as err:
        engine.destroy("p", fake, root=root, on_busy=on_busy)
    assert err.value.errno == errno.EBUSY and err.value.busy == [] and "target is busy" in str(err.value)
    assert any(c.endswith("-> EBUSY") for c in fake.calls) and 'umount "%s" True' % target not in fake.calls
    assert fake.ns.mount_root_at(target) is not None  # still mounted: rolled back


@pytest.mark.parametrize("mounts,on_busy", [
    ([tmpfs("/data/t", on_busy="detach")], None),
    ([tmpfs("/data/t")], "detach"),
    ([bind("/srv/a", "/data/m", on_busy="detach")], None),
], ids=["entry-detach", "run-detach", "bind-entry-detach"])
def test_busy_unmount_detaches_when_asked(root, mounts, on_busy):
    """With on_busy detach a busy unmount becomes a lazy one, with a warning, and destroy completes."""
    fake = _applied(root, *mounts)
    target = mounts[0]["target"]
    fake.busy(target)
    report = engine.destroy("p", fake, root=root, on_busy=on_busy)
    assert [c for c in fake.calls if c.startswith('umount "%s"' % target)] == [
        'umount "%s" -> EBUSY' % target, 'umount "%s" True' % target]
    assert any("lazily (on_busy: detach)" in w and target in w for w in report.warnings)
    assert not engine.reconcile(load_profile({"name": "p", "mounts": []}), fake, root=root, check=True).changed


def test_executor_without_hook_raises_ebusy_as_is(root):
    """An Executor used on its own (no busy hook) reports EBUSY unchanged: the hook is the engine's."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.apply import Executor
    from ansible_collections.livemount.core.plugins.module_utils.livemount.model import Action, Change
    from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo

    fake = _applied(root, tmpfs("/data/t"))
    fake.busy("/data/t")
    live = parse_mountinfo(fake.read_mountinfo()).top("/data/t")
    e = load_profile({"name": "p", "mounts": [tmpfs("/data/t")]}).entries[0]
    with pytest.raises(ApplyError) as err:
        Executor(fake).apply([Change(Action.UNMOUNT, e, "test", live=live)])
    assert err.value.errno == errno.EBUSY and not hasattr(err.value, "busy")


def test_explain_names_mounts_below(root):
    """explain() lists what is mounted below a mount even when the kernel cannot confirm it (a fake Sys)."""
    fake = _applied(root, tmpfs("/data/t"), tmpfs("/data/t/sub"))
    rows, below = holders.explain(fake, "/data/t")
    assert (rows, below) == ([], ["/data/t/sub"])
    assert holders.explain(fake, "/data/nothing") == ([], [])


def test_enriched_error_keeps_errno_and_call():
    """The error raised for a busy mount keeps the kernel's errno and call string and adds who holds it."""

    class Run:
        system = fake_host()

    policy = holders.BusyPolicy()
    exc = SysError("cannot unmount /data/t: target is busy", errno=errno.EBUSY, call='umount "/data/t"')
    with pytest.raises(SysError) as err:
        policy.on_busy(Run(), "/data/t", exc)
    assert (err.value.errno, err.value.call, err.value.busy, err.value.below) == (
        errno.EBUSY, 'umount "/data/t"', [], [])
    assert str(err.value) == str(exc)
