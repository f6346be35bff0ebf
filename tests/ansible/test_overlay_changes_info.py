"""livemount.core.overlay_changes_info through real ansible-playbook runs, on a real overlay in a private namespace.

The overlay has one lower layer; through the mounted overlay the test
rewrites a file (modified), removes one (a whiteout: deleted), replaces a
directory by an empty one (opaque, its contents deleted) and creates a
directory with a file (added). The module must return what
overlay_changes.report() returns and leave the merged tree, the upper
directory and the mount flags as they were.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc
from tests.integration.helpers import hand_mount

from . import playbook

LOWER = {"etc/app.conf": "v1\n", "etc/keep": "keep\n", "data/a": "a\n", "data/b": "b\n", "gone": "gone\n"}
EXPECTED = [("/data", "opaque"), ("/data/a", "deleted"), ("/data/b", "deleted"), ("/etc/app.conf", "modified"),
            ("/gone", "deleted"), ("/new", "added"), ("/new/file", "added")]
MODULE = "livemount.core.overlay_changes_info"


def write(path, text):
    """Return None after writing `text` to `path`, making its parent directories."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _layers(s, name="ovl"):
    """Return (lower, upper, work, merged) under `s`/`name`, the lower filled with LOWER, the others empty."""
    dirs = tuple(os.path.join(s, name, d) for d in ("lower", "upper", "work", "merged"))
    for rel, text in LOWER.items():
        write(os.path.join(dirs[0], rel), text)
    for d in dirs[1:]:
        os.makedirs(d)
    return dirs


def _options(lower, upper, work):
    return "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work)


def _change(merged):
    """Return None after making EXPECTED's changes through the mounted overlay at `merged`."""
    write(os.path.join(merged, "etc/app.conf"), "v2\n")
    os.unlink(os.path.join(merged, "gone"))
    shutil.rmtree(os.path.join(merged, "data"))
    os.mkdir(os.path.join(merged, "data"))
    write(os.path.join(merged, "new/file"), "new\n")


def _overlay(s):
    """Return (lower, upper, merged) of a changed overlay mounted in the test's namespace."""
    lower, upper, work, merged = _layers(s)
    hand_mount("-t", "overlay", "overlay", "-o", _options(lower, upper, work), merged)
    _change(merged)
    return lower, upper, merged


def _workdir(s):
    path = os.path.join(s, "ansible")
    os.makedirs(path, exist_ok=True)
    return path


def _task(name, **args):
    return {"name": name, MODULE: args}


def _state(*roots):
    """Return what must not move under `roots`: every path's type, mode, size, mtime, ctime (xattrs move ctime)."""
    out = {}
    for root in roots:
        for here, dirs, files in os.walk(root):
            for name in dirs + files:
                st = os.lstat(os.path.join(here, name))
                out[os.path.join(here, name)] = (st.st_mode, st.st_size, st.st_rdev, st.st_mtime_ns, st.st_ctime_ns)
    return out


def _flags(merged):
    return playbook.mountinfo_targets()[merged][-1]["options"]


def _status(run, task):
    """Return how task `task` ended (ok, failed, ...) as the record callback saw it."""
    return [rec["status"] for rec in run.records if rec["task"] == task][0]


def _summary(**counts):
    out = dict.fromkeys(oc.KINDS, 0)
    out.update(counts)
    return out


@pytest.mark.parametrize("check, freeze", [(False, False), (True, True)], ids=["plain", "check-mode-freeze"])
def test_returns_the_engine_report(scratch, check, freeze):
    """The module returns report()'s items, layers and a summary, and leaves tree, upper and flags alone."""
    lower, upper, merged = _overlay(scratch)
    before = (_state(merged, upper), _flags(merged))
    run = playbook.run(playbook.play([_task("changes", target=merged, freeze=freeze)]), _workdir(scratch),
                       check=check)
    assert run.rc == 0, run.stdout[-3000:]
    res = run.result("changes")
    assert (_state(merged, upper), _flags(merged)) == before
    assert res["changes"] == oc.report(merged)["changes"]
    assert [(it["path"], it["kind"]) for it in res["changes"]] == EXPECTED
    assert res["summary"] == _summary(added=2, deleted=3, modified=1, opaque=1)
    assert (res["target"], res["upper"], res["lower"], res["data"]) == (merged, upper, [lower], [])
    assert (res["changed"], res["frozen"], res["xattr_prefix"]) == (False, freeze, "trusted.")
    assert res["namespace"] == os.readlink("/proc/self/ns/mnt")
    assert "diff" not in res
    if freeze:
        assert not res.get("warnings")
    else:
        assert [w for w in res["warnings"] if "was not frozen" in w and "(use freeze=true)" in w], res["warnings"]
        assert "[WARNING]" in run.stdout and "--freeze" not in run.stdout


# (id, module arguments, [(path, kind, count or None)], summary)
FILTERS = [
    ("one-dir", {"paths": ["/etc"]}, [("/etc/app.conf", "modified", None)], _summary(modified=1)),
    ("relative-and-slash", {"paths": ["new", "data/"]},
     [("/data", "opaque", None), ("/data/a", "deleted", None), ("/data/b", "deleted", None),
      ("/new", "added", None), ("/new/file", "added", None)], _summary(opaque=1, deleted=2, added=2)),
    ("a-file", {"paths": ["/new/file"]}, [("/new/file", "added", None)], _summary(added=1)),
    ("not-a-string-prefix", {"paths": ["/ne", "/dat"]}, [], _summary()),
    ("collapse", {"collapse": True},
     [("/data", "opaque", None), ("/data/a", "deleted", None), ("/data/b", "deleted", None),
      ("/etc/app.conf", "modified", None), ("/gone", "deleted", None), ("/new", "added", 1)],
     _summary(added=2, deleted=3, modified=1, opaque=1)),
    ("paths-then-collapse", {"paths": ["/new"], "collapse": True}, [("/new", "added", 1)], _summary(added=2)),
]


def test_paths_and_collapse(scratch):
    """`paths` keeps items at or under them (overlay paths); `collapse` folds added dirs; summary counts before folding."""
    merged = _overlay(scratch)[2]
    run = playbook.run(playbook.play([_task(case[0], target=merged, **case[1]) for case in FILTERS]),
                       _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    for name, _, items, summary in FILTERS:
        res = run.result(name)
        assert [(it["path"], it["kind"], it.get("count")) for it in res["changes"]] == items, name
        assert res["summary"] == summary, name


def test_diff(scratch):
    """With --diff, `diff` holds the changed paths as the lower layers and the overlay show them (folded with collapse)."""
    merged = _overlay(scratch)[2]
    run = playbook.run(playbook.play([_task("all", target=merged), _task("folded", target=merged, collapse=True)]),
                       _workdir(scratch), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    # The opaque /data is no difference of its own (same mode and owner): only its deleted contents are.
    before = "/data/a\n/data/b\n/etc/app.conf\n/gone\n"
    headers = {"before_header": "lower layers of %s" % merged, "after_header": "overlay %s" % merged}
    assert run.result("all")["diff"] == dict(headers, before=before,
                                             after="/etc/app.conf  content\n/new/\n/new/file\n")
    assert run.result("folded")["diff"] == dict(headers, before=before,
                                                after="/etc/app.conf  content\n/new/ (and 1 inside)\n")
    # The default callback prints a diff only for changed results; an info module never is.
    assert "lower layers of" not in run.stdout


def test_freeze_with_a_writer_fails_and_leaves_the_mount_writable(scratch):
    """A file held open for writing makes freeze fail with EBUSY and a clear message; the mount stays rw."""
    upper, merged = _overlay(scratch)[1:]
    with open(os.path.join(merged, "etc/keep"), "ab"):  # copies it up: the state is taken after
        before = _state(merged, upper)
        run = playbook.run(playbook.play([_task("changes", target=merged, freeze=True)]), _workdir(scratch))
        assert "rw" in _flags(merged)
    assert run.rc != 0
    res = run.result("changes")
    assert _status(run, "changes") == "failed" and res["errno"] == 16
    assert res["msg"] == ("cannot freeze overlay %s: a process holds a file open for writing on it (EBUSY);"
                          " close it, or list without freeze=true" % merged)
    assert "ro" not in _flags(merged) and _state(merged, upper) == before


def test_failures_are_clear(scratch):
    """Not an overlay, not a mount point, `..` in paths, and namespace with pid fail with one clear message."""
    merged = _overlay(scratch)[2]
    plain = os.path.join(scratch, "plain")
    os.makedirs(plain)
    cases = [
        ("not-an-overlay", {"target": scratch},
         "cannot list overlay changes of %s: the mount there is tmpfs, not overlay" % scratch),
        ("not-a-mount-point", {"target": plain}, "cannot list overlay changes of %s: it is not a mount point" % plain),
        ("dotdot-in-paths", {"target": merged, "paths": ["/etc/../gone"]},
         "cannot list overlay changes of %s: paths item '/etc/../gone': path must not contain '..'" % merged),
        ("namespace-and-pid", {"target": merged, "pid": 1, "namespace": "/proc/1/ns/mnt"},
         "parameters are mutually exclusive: namespace|pid"),
    ]
    tasks = [dict(_task(name, **args), ignore_errors=True) for name, args, _ in cases]
    run = playbook.run(playbook.play(tasks), _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    for name, _, msg in cases:
        res = run.result(name)
        assert (_status(run, name), res["msg"]) == ("failed", msg), name


def test_unprivileged_fails_clearly(scratch):
    """Run without root, the module fails naming the trusted.overlay.* xattrs it cannot read."""
    lower, upper, merged = _overlay(scratch)
    work = _workdir(scratch)
    # A fresh user namespace without a uid map: the module's euid is the
    # overflow uid (65534) and it has no capability over the overlay's
    # namespace (user_namespaces(7)), while files owned by root stay readable
    # to it as their owner, so the interpreter under /root still runs.
    wrapper = os.path.join(work, "python-unprivileged")
    write(wrapper, '#!/bin/sh\nexec unshare --user %s "$@"\n' % sys.executable)
    os.chmod(wrapper, 0o755)
    inventory = os.path.join(work, "unprivileged.ini")
    write(inventory, "localhost ansible_connection=local ansible_python_interpreter=%s\n" % wrapper)
    run = playbook.run(playbook.play([_task("changes", target=merged)]), work, inventory=inventory)
    assert run.rc != 0
    assert run.result("changes")["msg"] == ("cannot read overlay xattrs under %s: trusted.overlay.* needs root"
                                            " (CAP_SYS_ADMIN)" % upper)


def test_another_namespace(scratch):
    """With pid or namespace the overlay is listed (and frozen) in that mount namespace, not the module's own."""
    lower, upper, work, merged = _layers(scratch)
    ready = os.path.join(scratch, "ready")
    script = 'mount -t overlay overlay -o "$OPTS" "$MERGED" && touch "$READY" && exec sleep 600'
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            env=dict(os.environ, OPTS=_options(lower, upper, work), MERGED=merged, READY=ready),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.01)
        _change("/proc/%d/root%s" % (proc.pid, merged))  # path lookups there cross that namespace's mounts
        nsfile = "/proc/%d/ns/mnt" % proc.pid
        run = playbook.run(playbook.play([_task("by-pid", target=merged, pid=proc.pid, freeze=True),
                                          _task("by-file", target=merged, namespace=nsfile)]), _workdir(scratch))
        assert run.rc == 0, run.stdout[-3000:]
        for name in ("by-pid", "by-file"):
            res = run.result(name)
            assert [(it["path"], it["kind"]) for it in res["changes"]] == EXPECTED, name
            assert (res["namespace"], res["upper"]) == (os.readlink(nsfile), upper), name
        assert run.result("by-pid")["frozen"] is True
        assert merged not in playbook.mountinfo_targets()
        theirs = playbook.mountinfo_targets("/proc/%d/mountinfo" % proc.pid)[merged][-1]
        assert theirs["fstype"] == "overlay" and "rw" in theirs["options"], "the freeze was not undone there"
    finally:
        proc.kill()
        proc.wait()


def test_fleet_playbook(scratch):
    """playbooks/overlay_changes.yml sums up per host: changed overlays with counts, errors, unchanged hosts."""
    changed = _overlay(scratch)[2]
    lower, upper, work, quiet = _layers(scratch, "quiet")
    hand_mount("-t", "overlay", "overlay", "-o", _options(lower, upper, work), quiet)
    hosts = {"h1": [changed], "h2": [quiet, scratch], "h3": [quiet]}
    inventory = os.path.join(_workdir(scratch), "fleet.yml")
    with open(inventory, "w") as f:
        yaml.safe_dump({"all": {"hosts": {h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                              "livemount_overlays": overlays} for h, overlays in hosts.items()}}}, f)
    run = playbook.run(os.path.join(playbook.REPO, "playbooks", "overlay_changes.yml"), _workdir(scratch),
                       inventory=inventory, extra_vars={"livemount_overlay_freeze": True})
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("Summary")["msg"] == {
        "unchanged": ["h3"],
        "changed": {"h1": {changed: _summary(added=2, deleted=3, modified=1, opaque=1)}},
        "errors": {"h2": {scratch: "cannot list overlay changes of %s: the mount there is tmpfs, not overlay"
                          % scratch}},
    }
