"""Acting inside another mount namespace: a stand-in container, targeted by nsfs file, bound copy and pid.

The container is a real process in its own mount and PID namespace
(`unshare --mount --pid --fork --propagation private`), pivot_root'ed into a
small tree under scratch (/usr bound read-only, /proc of its own), reading
/data/in/msg in a loop and writing what it saw to /data/seen. livemount runs
in the test's namespace and enters the container's for every call; the
caller's own mount table must not change throughout.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import namespace, nsexec, syscalls as sc
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import (
    ApplyError, LivemountError, PlanError, SysError)
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys
from tests.integration.helpers import (cli, cli_json, hand_umount, load, read_table, real_sys,
                                       state_dir, write, write_profile)

SCRIPT = """
set -e
mount --bind "$ROOT" "$ROOT"
mount --bind -o ro /usr "$ROOT/usr"
cd "$ROOT"
mkdir old
pivot_root . old
mount -t proc proc /proc
umount -l /old
rmdir /old
echo ready > /data/ready
set +e
while :; do
    if [ -r /data/in/msg ]; then cat /data/in/msg > /data/seen.tmp; else echo none > /data/seen.tmp; fi
    mv /data/seen.tmp /data/seen
    sleep 0.02
done
"""


class Container:
    """A process in its own mount + PID namespace whose / is a small tree under scratch.

    Made in the test body (the test's namespace); the harness kills the
    test's process group afterwards, and with its PID namespace init every
    process in it.
    """

    def __init__(self, scratch, name="box"):
        self.root = os.path.join(scratch, name)
        for d in ("usr", "proc", "data/local", "data/seen.d"):
            os.makedirs(os.path.join(self.root, d))
        for link in ("bin", "lib", "lib64", "sbin"):
            os.symlink("usr/" + link, os.path.join(self.root, link))
        write(os.path.join(self.root, "data/local/conf"), "container-local\n")
        self.proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                                      "sh", "-c", SCRIPT], env=dict(os.environ, ROOT=self.root),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.root, "data/ready")):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.proc.stderr.read()
            time.sleep(0.01)
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            self.pid = int(f.read().split()[0])  # the PID namespace's init: sh running SCRIPT
        self.nsfile = "/proc/%d/ns/mnt" % self.pid
        self.namespace_id = os.readlink(self.nsfile)

    def mounts(self):
        """Return the container's mount points, as it sees them (its own root)."""
        with open("/proc/%d/mountinfo" % self.pid) as f:
            return sorted(m.mount_point for m in parse_mountinfo(f.read()).mounts)

    def seen(self, want, timeout=5.0):
        """Return what the container last read through /data/in/msg, waiting up to `timeout` for `want`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(os.path.join(self.root, "data/seen")) as f:
                    got = f.read().strip()
            except FileNotFoundError:
                got = None
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def kill(self):
        """Return None once the container's processes are gone."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)  # init of the PID namespace: the kernel kills the rest
            self.proc.wait(timeout=10)


def bound_copy(scratch, c, name="box.mnt"):
    """Return a file under scratch onto which the container's nsfs file is bind-mounted (like /run/snapd/ns/*.mnt).

    OSError ELOOP/EINVAL when the kernel takes the bind for a namespace loop (see with_copies).
    """
    path = os.path.join(scratch, "ns", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write(path, "")
    fd = sc.open_tree(sc.AT_FDCWD, c.nsfile, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
    try:
        sc.move_mount(fd, "", sc.AT_FDCWD, path, sc.MOVE_MOUNT_F_EMPTY_PATH)
    finally:
        os.close(fd)
    return path


def with_copies(scratch, *names):
    """Return (Container, [paths]): a container whose nsfs file is bound at each name under scratch/ns.

    A mount namespace file may only be bound in an older namespace
    (mnt_ns_loop, fs/namespace.c). On 6.18 the ids compared are handed out
    in per-CPU batches, so now and then a namespace created later gets a
    smaller one and the bind fails (ELOOP, EINVAL): start another container.
    """
    cpus = sorted(os.sched_getaffinity(0))
    try:
        for attempt in range(10):
            # Ids come from per-CPU batches: start each container on the next CPU in turn.
            os.sched_setaffinity(0, {cpus[attempt % len(cpus)]})
            c = Container(scratch, "box%d" % attempt)
            try:
                return c, [bound_copy(scratch, c, "%d-%s" % (attempt, n)) for n in names]
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EINVAL):
                    raise
                c.kill()
    finally:
        os.sched_setaffinity(0, set(cpus))
    # Not livemount's refusal: the kernel would not let this test make its nsfs copy at all.
    pytest.skip("the kernel refused to bind a newer container's nsfs file 10 times (mnt_ns_loop, per-CPU ids)")


def caller_points():
    """Return the caller's mount points (with counts): what must never change here."""
    return sorted(m.point for m in read_table())


def profile(scratch, *entries):
    """Return the profile dict named test with `entries`."""
    return {"name": "test", "mounts": list(entries)}


CACHE = {"target": "/data/cache", "type": "tmpfs", "options": ["size=1m", "mode=0755"]}
LOCAL = {"target": "/data/view", "type": "bind", "source": "/data/local", "options": ["ro"]}


def _target(scratch, how):
    """Return (Container, engine keywords naming its namespace `how`)."""
    if how == "bound-copy":
        c, (copy,) = with_copies(scratch, "box.mnt")
        return c, {"namespace": copy}
    c = Container(scratch)
    return c, {"namespace": c.nsfile} if how == "nsfile" else {"pid": c.pid}


@pytest.mark.parametrize("how", ["nsfile", "bound-copy", "pid"])
def test_plan_apply_destroy_inside(scratch, how):
    """plan, apply, re-plan and destroy act in the container's namespace; the caller's table never moves."""
    c, target = _target(scratch, how)
    data = profile(scratch, CACHE, LOCAL)
    before_caller, before_box = caller_points(), c.mounts()
    plan = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, **target)
    assert plan.namespace == c.namespace_id
    assert [(x.action.value, x.target) for x in plan.changes if x.action.value == "mount"] == [
        ("mount", "/data/cache"), ("mount", "/data/view")]
    assert c.mounts() == before_box and not os.path.exists(state_dir(scratch))
    engine.reconcile(load(data), real_sys(), root=state_dir(scratch), profile_data=data, **target)
    assert c.mounts() == sorted(before_box + ["/data/cache", "/data/view"])
    with open("/proc/%d/root/data/view/conf" % c.pid) as f:
        assert f.read() == "container-local\n"
    again = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, **target)
    assert not again.changed
    key = c.namespace_id.replace(":[", "-").rstrip("]")  # the caller's state root, keyed by the target
    assert sorted(os.listdir(os.path.join(state_dir(scratch), key))) == ["test.history.json", "test.lock", "test.state.json"]
    rows = engine.status(real_sys(), root=state_dir(scratch), **target)
    assert [(r["namespace"], [e["health"] for e in r["entries"]]) for r in rows] == [(c.namespace_id, ["ok", "ok"])]
    gone = engine.destroy("test", real_sys(), root=state_dir(scratch), **target)
    assert gone.namespace == c.namespace_id and c.mounts() == before_box
    assert caller_points() == before_caller


@pytest.mark.parametrize("same_path", [False, True], ids=["other-path", "same-path-as-host-source"])
def test_inject_host_dir_live(scratch, same_path):
    """A host directory bound into the running container is read by it at once, and gone again after destroy."""
    c = Container(scratch)
    share = os.path.join(scratch, "host/share")
    os.makedirs(share)
    write(os.path.join(share, "msg"), "hello from the host\n")
    # same-path: the container's /data/in is a path the host also has (its source): facts must not mix.
    inject = share if same_path else "/data/in"
    if same_path:
        os.symlink(share, os.path.join(c.root, "data/in"))
    data = profile(scratch, {"target": inject, "type": "bind", "source": share, "source_namespace": "host"})
    before_caller = caller_points()
    assert c.seen("none") == "none"
    plan = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, pid=c.pid)
    assert [x.action.value for x in plan.changes][-1] == "mount"
    report = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), profile_data=data, pid=c.pid)
    assert report.changed and caller_points() == before_caller
    assert c.seen("hello from the host") == "hello from the host"  # no restart: the next read sees it
    write(os.path.join(share, "msg"), "edited on the host\n")
    assert c.seen("edited on the host") == "edited on the host"  # a bind: the same files, live
    again = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, pid=c.pid)
    assert [x.action.value for x in again.changes] == ["keep"]  # identity from the host's table
    engine.destroy("test", real_sys(), root=state_dir(scratch), pid=c.pid)
    assert c.seen("none") == "none" and inject not in c.mounts()
    assert caller_points() == before_caller


def test_state_follows_the_namespace_not_the_file(scratch):
    """Applied through /proc/PID/ns/mnt, seen and destroyed through a copy bound later: one state, one key."""
    c, (first, second) = with_copies(scratch, "one.mnt", "two.mnt")
    data = profile(scratch, CACHE)
    engine.reconcile(load(data), real_sys(), root=state_dir(scratch), profile_data=data, namespace=c.nsfile)
    hand_umount(first)  # the namespace lives on, named by another file: same nsfs inode
    rows = engine.status(real_sys(), root=state_dir(scratch), namespace=second)
    assert [(r["profile"], r["namespace"]) for r in rows] == [("test", c.namespace_id)]
    assert os.listdir(state_dir(scratch)) == [c.namespace_id.replace(":[", "-").rstrip("]")]
    engine.destroy("test", real_sys(), root=state_dir(scratch), namespace=second)
    assert "/data/cache" not in c.mounts()


@pytest.mark.parametrize("how", ["bound-copy", "pid"])
def test_gone_namespace_reported_and_forgotten(scratch, how):
    """A namespace that is gone is named clearly; destroy removes its state and touches no mount."""
    c, target = _target(scratch, how)
    data = profile(scratch, CACHE, LOCAL)
    engine.reconcile(load(data), real_sys(), root=state_dir(scratch), profile_data=data, **target)
    c.kill()
    if how == "bound-copy":
        # The bound nsfs file pins the namespace: with its processes dead, it and its mounts live on.
        assert not engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, **target).changed
        hand_umount(target["namespace"])  # what is left is a plain file, as snapd leaves behind
    before = caller_points()
    with pytest.raises(nsexec.NamespaceGoneError) as err:
        engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, **target)
    label = target.get("namespace") or "of pid %d" % c.pid
    assert str(err.value).startswith("cannot enter mount namespace %s: it no longer exists" % label)
    predicted = engine.destroy("test", real_sys(), root=state_dir(scratch), check=True, **target)
    assert os.path.exists(os.path.join(state_dir(scratch), c.namespace_id.replace(":[", "-").rstrip("]")))
    report = engine.destroy("test", real_sys(), root=state_dir(scratch), **target)
    assert [(x.action.value, x.target) for x in report.changes] == [
        (x.action.value, x.target) for x in predicted.changes] == [
        ("unmount", "/data/cache"), ("unmount", "/data/view")]
    assert report.changed and "without touching any mount" in report.warnings[0]
    assert os.listdir(state_dir(scratch)) == [] and caller_points() == before
    twice = engine.destroy("test", real_sys(), root=state_dir(scratch), **target)
    assert not twice.changed and "no state of profile test" in twice.warnings[0]


def test_errors_come_back_intact(scratch):
    """A conflict inside the container raises PlanError with its conflicts; a failed step ApplyError with its data."""
    c = Container(scratch)
    os.makedirs(os.path.join(c.root, "data/cache"))
    subprocess.run(["nsenter", "--mount=" + c.nsfile, "mount", "-t", "tmpfs", "foreign", "/data/cache"], check=True)
    with pytest.raises(PlanError) as err:
        engine.reconcile(load(profile(scratch, CACHE)), real_sys(), root=state_dir(scratch), pid=c.pid)
    assert err.value.conflicts[0].target == "/data/cache" and err.value.report.namespace == c.namespace_id
    fail = real_sys({"LIVEMOUNT_FAILPOINT": "3:EIO"})
    with pytest.raises(ApplyError) as err:
        engine.reconcile(load(profile(scratch, LOCAL)), fail, root=state_dir(scratch), pid=c.pid)
    assert err.value.errno == 5 and err.value.step.startswith("step ") and err.value.rolled_back
    assert err.value.report.namespace == c.namespace_id and "/data/view" not in c.mounts()


def test_crash_inside_is_reported_and_recovered(scratch):
    """A child killed mid-apply is reported as such; the journal it left in the caller's root is recovered next run."""
    c = Container(scratch)
    data = profile(scratch, CACHE, LOCAL)
    crash = real_sys({"LIVEMOUNT_FAILPOINT": "4:crash"})
    with pytest.raises(LivemountError) as err:
        engine.reconcile(load(data), crash, root=state_dir(scratch), pid=c.pid)
    assert "was killed by signal 9 without an answer" in str(err.value) and c.namespace_id in str(err.value)
    report = engine.reconcile(load(data), real_sys(), root=state_dir(scratch), pid=c.pid)
    assert report.recovered and "/data/cache" in c.mounts() and "/data/view" in c.mounts()
    assert not engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, pid=c.pid).changed


def test_progress_is_forwarded(scratch):
    """Progress callbacks made inside the namespace reach the caller, in order."""
    c = Container(scratch)
    seen = []
    engine.reconcile(load(profile(scratch, CACHE)), real_sys(), root=state_dir(scratch), pid=c.pid,
                     progress=lambda k, n, ch: seen.append((k, n, ch.action.value, ch.target)))
    assert seen == [(1, 2, "mkdir", "/data/cache"), (2, 2, "mount", "/data/cache")]


def test_cli_namespace_and_pid(scratch):
    """The CLI's --namespace and --pid act inside the container; giving both is a usage error."""
    c = Container(scratch)
    path = write_profile(scratch, profile(scratch, CACHE))
    status, doc, err = cli_json(scratch, "--namespace", c.nsfile, "plan", "--json", path)
    assert status == 0 and doc["namespace"] == c.namespace_id and doc["changed"], err
    status, doc, err = cli_json(scratch, "--pid", str(c.pid), "apply", "--yes", "--json", path)
    assert status == 0 and "/data/cache" in c.mounts(), err
    status, doc, err = cli_json(scratch, "--pid", str(c.pid), "status", "--json")
    assert status == 0 and doc["profiles"][0]["namespace"] == c.namespace_id, err
    proc = cli(scratch, "--namespace", c.nsfile, "destroy", "--yes", "test")
    assert proc.returncode == 0 and "/data/cache" not in c.mounts(), proc.stderr
    proc = cli(scratch, "--namespace", c.nsfile, "--pid", "1", "status")
    assert proc.returncode == 1 and "not allowed with" in proc.stderr
    # A killed container's pid names nothing any more, unless the kernel hands it to a new process meanwhile (with
    # pid_max 32768 a busy machine can, within a second: then --pid rightly names that process, and the attempt
    # proves nothing). Such an attempt is retried with a new container.
    for attempt in range(3):
        box = c if attempt == 0 else Container(scratch, "box%d" % attempt)
        assert cli(scratch, "--pid", str(box.pid), "apply", "--yes", path).returncode == 0
        box.kill()
        planned = cli(scratch, "--pid", str(box.pid), "plan", path)
        reused = os.path.exists("/proc/%d" % box.pid)
        destroyed = cli(scratch, "--pid", str(box.pid), "destroy", "--yes", "test")
        if not (reused or os.path.exists("/proc/%d" % box.pid)):
            break
    else:
        pytest.fail("the pid of each killed container went to a new process at once, three times")
    assert planned.returncode == 1 and "it no longer exists" in planned.stderr and "Traceback" not in planned.stderr
    assert destroyed.returncode == 0 and "without touching any mount" in destroyed.stderr, destroyed.stderr


def test_caller_in_private_namespace_is_warned(scratch):
    """In the test's private namespace a run warns its mounts stay invisible to the host; a targeted one does not."""
    try:
        os.readlink("/proc/1/ns/mnt")
    except OSError as exc:
        pytest.skip("cannot read PID 1's namespace here (%s): nothing to compare with" % exc.strerror)
    c = Container(scratch)
    here = engine.reconcile(load(profile(scratch, dict(CACHE, target=os.path.join(scratch, "c")))), real_sys(),
                            root=state_dir(scratch), check=True)
    assert any("invisible to the host" in w and "--pid 1" in w for w in here.warnings), here.warnings
    there = engine.reconcile(load(profile(scratch, CACHE)), real_sys(), root=state_dir(scratch), check=True,
                             pid=c.pid)
    assert not any("invisible to the host" in w for w in there.warnings)


def _root(peer=None, master=None):
    text = "1 0 8:1 / / rw %s - ext4 /dev/sda1 rw" % " ".join(
        ([] if peer is None else ["shared:%d" % peer]) + ([] if master is None else ["master:%d" % master]))
    return parse_mountinfo(text.replace("  ", " ") + "\n").top("/")


@pytest.mark.parametrize("own_ns,own,host,words", [
    ("mnt:[1]", _root(peer=1), _root(peer=1), None),
    ("mnt:[2]", _root(peer=1), _root(peer=1), None),
    ("mnt:[2]", _root(master=1), _root(peer=1), "is a slave of the host's"),
    ("mnt:[2]", _root(), _root(peer=1), "does not propagate"),
    ("mnt:[2]", _root(peer=7), _root(peer=1), "does not propagate"),
    ("mnt:[2]", None, None, "does not propagate"),
], ids=["host-itself", "shared-with-host", "slave", "private", "other-peer-group", "unknown-roots"])
def test_isolation_warning(own_ns, own, host, words):
    """The warning depends on how the caller's / propagates to PID 1's."""
    w = namespace.isolation_warning(own_ns, "mnt:[1]", own, host)
    assert (w is None) if words is None else (words in w and "invisible to the host" in w)


@pytest.mark.parametrize("own_tags,host_tags,words", [
    ("shared:1", "shared:1", None),
    ("master:1", "shared:1", "is a slave of the host's"),
    ("", "shared:1", "does not propagate"),
], ids=["shared-with-host", "slave", "private"])
def test_isolation_warning_from_proc(scratch, own_tags, host_tags, words):
    """caller_isolation_warning reads both namespaces and both / mounts from a /proc (here a copy with fake values)."""
    proc = os.path.join(scratch, "proc")
    for pid, ns, tags in (("self", "mnt:[2]", own_tags), ("1", "mnt:[1]", host_tags)):
        os.makedirs(os.path.join(proc, pid, "ns"))
        os.symlink(ns, os.path.join(proc, pid, "ns/mnt"))
        write(os.path.join(proc, pid, "mountinfo"), "1 0 8:1 / / rw %s - ext4 /dev/sda1 rw\n" % tags
              if tags else "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")
    w = namespace.caller_isolation_warning(proc)
    assert (w is None) if words is None else (words in w and "mnt:[2], not PID 1's mnt:[1]" in w)


def test_state_meta_records_names_and_host_sources(scratch):
    """The state of a targeted run records how the namespace was named and which binds come from the host."""
    c, (copy,) = with_copies(scratch, "box.mnt")
    share = os.path.join(scratch, "share")
    os.makedirs(share)
    data = profile(scratch, CACHE, {"target": "/data/in", "type": "bind", "source": share,
                                    "source_namespace": "host"})
    engine.reconcile(load(data), real_sys(), root=state_dir(scratch), profile_data=data, pid=c.pid)
    engine.reconcile(load(data), real_sys(), root=state_dir(scratch), check=True, namespace=copy)
    key = c.namespace_id.replace(":[", "-").rstrip("]")
    with open(os.path.join(state_dir(scratch), key, "test.state.json")) as f:
        meta = json.load(f)["body"]["meta"]
    assert meta == {"host_sources": ["/data/in"], "targets": [{"pid": c.pid}]}
    engine.reconcile(load(profile(scratch, CACHE)), real_sys(), root=state_dir(scratch), namespace=copy)
    with open(os.path.join(state_dir(scratch), key, "test.state.json")) as f:
        meta = json.load(f)["body"]["meta"]
    assert meta == {"targets": [{"pid": c.pid}, {"namespace_file": copy}]} and "/data/in" not in c.mounts()


def test_classic_api_cannot_inject(scratch):
    """Without the new mount API a host path cannot be carried into another namespace: refused, nothing mounted."""
    c = Container(scratch)
    share = os.path.join(scratch, "share")
    os.makedirs(share)
    data = profile(scratch, {"target": "/data/in", "type": "bind", "source": share, "source_namespace": "host"})
    with pytest.raises(SysError) as err:
        engine.reconcile(load(data), LinuxSys(classic=True), root=state_dir(scratch), pid=c.pid)
    assert "needs the new mount api" in str(err.value) and "/data/in" not in c.mounts()


def test_modules_target_a_namespace(scratch):
    """mount_profile (pid / namespace) and mount_profile_info (pid) act on the container from a real playbook."""
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(ansible_playbook):
        pytest.skip("no ansible-playbook next to %s (run through scripts/livemount-dev)" % sys.executable)
    from tests.ansible import playbook

    c = Container(scratch)
    share = os.path.join(scratch, "share")
    os.makedirs(share)
    write(os.path.join(share, "msg"), "from the playbook\n")
    inject = {"target": "/data/in", "type": "bind", "source": share, "source_namespace": "host"}
    work = os.path.join(scratch, "ansible")
    os.makedirs(work)
    run = playbook.run(playbook.play([
        {"name": "inject", "livemount.core.mount_profile": {"name": "test", "pid": c.pid, "mounts": [inject]}},
        {"name": "info", "livemount.core.mount_profile_info": {"pid": c.pid}},
        {"name": "remove", "livemount.core.mount_profile": {"name": "test", "namespace": c.nsfile,
                                                            "state": "absent"}},
    ]), work)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("inject")["changed"] and run.result("inject")["namespace"] == c.namespace_id
    info = run.result("info")
    assert info["namespace"] == c.namespace_id and [e["health"] for e in info["profiles"][0]["entries"]] == ["ok"]
    assert "/data/in" in [m["target"] for m in info["mounts"]]
    assert run.result("remove")["changed"] and "/data/in" not in c.mounts()
    assert c.seen("none") == "none"
