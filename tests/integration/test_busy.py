"""Busy mounts on the real kernel: who holds them, on_busy fail (the default) and detach.

A helper process takes hold of a mount livemount owns (an open file, its
working directory, its root, a mapped file); unmounting or replacing that
mount then meets EBUSY. With on_busy fail the apply rolls back and the
error names the process (pid, command, how, path); with detach the mount is
unmounted lazily and the process keeps its old tree.
"""

import errno
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError
from tests.integration.helpers import (NoBeneath, apply, cli, cli_json, destroy, make_tree, owned_targets, profile_dict,
                                       real_sys, state_dir, top, write_profile)
from tests.integration.test_namespaces import Container

HOLDS = {
    "open-file": ("open file", "f = open(os.path.join(d, 'file'))", "@/t/file"),
    "cwd": ("cwd", "os.chdir(d)", "@/t"),
    "root": ("root", "os.chroot(d)", "@/t"),
    "mmap": ("mmap", "import mmap; f = open(os.path.join(d, 'file'), 'rb'); "
                     "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); f.close()", "@/t/file"),
}
TMPFS = {"target": "@/t", "type": "tmpfs", "options": ["size=1m"]}


def holder(directory, code):
    """Return a running Python process that took hold of `directory` with `code` (d is the directory)."""
    prog = ("import os, sys, time; d = sys.argv[1]; %s; sys.stdout.write('ready\\n'); sys.stdout.flush(); "
            "sys.stdin.read()" % code)
    p = subprocess.Popen([sys.executable, "-c", prog, directory], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    return p


def _applied(scratch, **entry):
    data = profile_dict(scratch, [dict(TMPFS, **entry)])
    apply(scratch, data)
    with open(os.path.join(scratch, "t/file"), "w") as f:
        f.write("x" * 4096)
    return data


@pytest.mark.parametrize("how", sorted(HOLDS))
def test_busy_unmount_names_the_holder(scratch, how):
    """destroy of a busy mount rolls back and the ApplyError names the process, how it holds it, and where."""
    _applied(scratch)
    word, code, path = HOLDS[how]
    p = holder(os.path.join(scratch, "t"), code)
    with pytest.raises(ApplyError) as err:
        destroy(scratch)
    # comm: the executable's name as the kernel keeps it (TASK_COMM_LEN: 15 characters).
    want = {"pid": p.pid, "comm": os.path.basename(sys.executable)[:15], "how": word, "path": scratch + path[1:]}
    assert err.value.errno == errno.EBUSY and want in err.value.busy
    assert "held by pid %d (" % p.pid in str(err.value) and "%s %s" % (word, want["path"]) in str(err.value)
    assert top(os.path.join(scratch, "t")) is not None and owned_targets(scratch) == ["@/t"]  # rolled back
    p.kill()
    p.wait()
    destroy(scratch)  # nobody holds it any more
    assert top(os.path.join(scratch, "t")) is None


@pytest.mark.parametrize("where", ["entry", "run"])
def test_on_busy_detach(scratch, where):
    """on_busy detach (the entry's, or the run's) unmounts lazily; the holder keeps reading its old tree."""
    data = profile_dict(scratch, [dict(TMPFS, on_busy="detach")] if where == "entry" else [TMPFS])
    apply(scratch, data)
    with open(os.path.join(scratch, "t/file"), "w") as f:
        f.write("old tree\n")
    p = holder(os.path.join(scratch, "t"), "os.chdir(d)")
    report = engine.destroy("test", real_sys(), root=state_dir(scratch),
                            on_busy="detach" if where == "run" else None)
    assert any("lazily" in w and "pid %d" % p.pid in w for w in report.warnings), report.warnings
    assert top(os.path.join(scratch, "t")) is None and owned_targets(scratch) == []
    with open("/proc/%d/cwd/file" % p.pid) as f:
        assert f.read() == "old tree\n"  # still there for the process inside
    p.kill()
    p.wait()


@pytest.mark.parametrize("on_busy", [None, "detach"], ids=["fail", "detach"])
def test_busy_replace_without_beneath(scratch, on_busy):
    """Without MOVE_MOUNT_BENEATH a replace unmounts first: busy, it fails naming the holder, or detaches."""
    make_tree(scratch, ["a/file=A", "b/file=B"])
    one = profile_dict(scratch, [{"target": "@/t", "type": "bind", "source": "@/a"}])
    apply(scratch, one)
    p = holder(os.path.join(scratch, "t"), "os.chdir(d)")
    two = profile_dict(scratch, [{"target": "@/t", "type": "bind", "source": "@/b"}])
    if on_busy is None:
        with pytest.raises(ApplyError) as err:
            apply(scratch, two, system=NoBeneath(real_sys()))
        assert (p.pid, "cwd") in {(b["pid"], b["how"]) for b in err.value.busy}
        assert open(os.path.join(scratch, "t/file")).read() == "A"
    else:
        apply(scratch, two, system=NoBeneath(real_sys()), on_busy=on_busy)
        assert open(os.path.join(scratch, "t/file")).read() == "B"
        assert open("/proc/%d/cwd/file" % p.pid).read() == "A"
    p.kill()
    p.wait()


def test_cli_shows_holders_and_detaches(scratch):
    """The CLI names who holds a busy mount (text and --json) and --on-busy detach gets it off."""
    data = _applied(scratch)
    write_profile(scratch, data)
    p = holder(os.path.join(scratch, "t"), "os.chdir(d)")
    proc = cli(scratch, "destroy", "--yes", "test")
    assert proc.returncode == 1 and "pid %d" % p.pid in proc.stderr and "busy" in proc.stderr, proc.stderr
    status, doc, err = cli_json(scratch, "destroy", "--yes", "--json", "test")
    assert status == 1 and {"pid": p.pid, "how": "cwd", "path": os.path.join(scratch, "t")}.items() <= \
        doc["error"]["busy"][0].items(), doc
    proc = cli(scratch, "--on-busy", "detach", "destroy", "--yes", "test")
    assert proc.returncode == 0 and top(os.path.join(scratch, "t")) is None, proc.stderr
    p.kill()
    p.wait()


def test_busy_inside_another_namespace(scratch):
    """In a container's namespace the holder is found through the caller's /proc, its path as the container sees it."""
    c = Container(scratch)
    data = {"name": "test", "mounts": [{"target": "/data/cache", "type": "tmpfs", "options": ["size=1m"]}]}
    engine.reconcile(engine_profile(data), real_sys(), root=state_dir(scratch), pid=c.pid, profile_data=data)
    p = subprocess.Popen(["nsenter", "--mount=" + c.nsfile, "sh", "-c", "cd /data/cache && exec sleep 60"])
    deadline = time.monotonic() + 10
    while open("/proc/%d/comm" % p.pid).read().strip() != "sleep":  # exec'd: its cwd is in place
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(ApplyError) as err:
        engine.destroy("test", real_sys(), root=state_dir(scratch), pid=c.pid)
    assert (p.pid, "cwd", "/data/cache") in {(b["pid"], b["how"], b["path"]) for b in err.value.busy}
    report = engine.destroy("test", real_sys(), root=state_dir(scratch), pid=c.pid, on_busy="detach")
    assert not report.failed and "/data/cache" not in c.mounts()
    p.kill()
    p.wait()


def engine_profile(data):
    """Return the engine's Profile of a profile dict."""
    from tests.integration.helpers import load

    return load(data)
