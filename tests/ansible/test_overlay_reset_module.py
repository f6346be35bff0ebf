"""livemount.core.overlay_reset through real ansible-playbook runs, on real overlays in a private namespace.

The overlays are those of tests/integration/test_overlay_reset.py: one
plain lower directory, then through the mounted overlay a modified file, a
deleted file, an added directory, an opaque directory, a renamed directory
and a metacopy chmod. The owned one is applied by the engine as profile
`app` (state in <scratch>/state, given to the module as state_dir); the
foreign one is mounted by hand.
"""

import json
import os
import subprocess

from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc
from tests.integration.helpers import hand_mount, make_tree, pending, read_state, snapshot, state_dir
from tests.integration.test_overlay_reset import expected_view, setup, upper_record, view

from . import playbook

MODULE = "livemount.core.overlay_reset"


def _workdir(s):
    path = os.path.join(s, "ansible")
    os.makedirs(path, exist_ok=True)
    return path


def _task(name, scratch, **args):
    """Return a task of the module named `name`, with the tests' state directory."""
    return {"name": name, MODULE: dict(args, state_dir=state_dir(scratch))}


def _status(run, task):
    """Return how task `task` ended (ok, changed, failed, ...) as the record callback saw it."""
    return [rec["status"] for rec in run.records if rec["task"] == task][0]


def _world(scratch, merged, upper):
    """Return what a run that changes nothing must leave as it was: mount table, merged view, upper, state."""
    return snapshot(scratch), view(merged), upper_record(upper), read_state(scratch, "app")


def _flags(merged):
    return playbook.mountinfo_targets()[merged][-1]["options"]


def test_check_mode_lists_and_changes_nothing(scratch):
    """--check --diff lists every change as discarded, shows the diff, and leaves table, tree, upper, state alone."""
    merged, upper, _ = setup(scratch)
    items = oc.report(merged)["changes"]
    before = _world(scratch, merged, upper)
    run = playbook.run(playbook.play([_task("reset", scratch, target=merged)]), _workdir(scratch),
                       check=True, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    res = run.result("reset")
    assert _world(scratch, merged, upper) == before
    assert res["discarded"] == items and res["counts"] == oc.counts(items)
    assert (res["changed"], res["mode"], res["frozen"], res["profile"], res["all"], res["paths"]) == (
        True, "check", False, "app", True, ["/"])
    assert (res["target"], res["upper"], res["upper_aside"], res["removed_aside"]) == (merged, upper, None, False)
    assert res["namespace"] == os.readlink("/proc/self/ns/mnt")
    assert [w for w in res["warnings"] if w.startswith("check mode does not freeze the overlay")]
    # Added directories are folded; the opaque /d is no difference of its own, only what is in it.
    assert res["diff"] == {
        "before_header": "overlay %s" % merged, "after_header": "lower layers of %s" % merged,
        "before": "/b/ (and 3 inside)  from /a\n/big  metadata only: mode 0644 -> 0600\n/d/a  size 1 -> 3\n"
                  "/etc/app.conf  size 7 -> 9\n/newdir/ (and 2 inside)\n",
        "after": "/a/ (and 3 inside)\n/big\n/d/a\n/d/b\n/d/s/ (and 1 inside)\n/del.txt\n/etc/app.conf\n"}
    assert "+++ after: lower layers of %s" % merged in run.stdout, "a changed task's diff is shown"


def test_reset_one_path_then_all_then_nothing(scratch):
    """Reset /etc alone keeps every other change; then all of it, discarding the old upper; then changed=false."""
    merged, upper, lower = setup(scratch)
    before, items = view(merged), oc.report(merged)["changes"]
    old_upper = upper_record(upper)
    run = playbook.run(playbook.play([_task("etc", scratch, target=merged, paths=["etc", "/nothing/here"])]),
                       _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    res = run.result("etc")
    assert (res["changed"], res["mode"], res["frozen"], res["paths"], res["all"]) == (
        True, "apply", True, ["/etc", "/nothing/here"], False)
    assert [it["path"] for it in res["discarded"]] == ["/etc/app.conf"]
    assert res["unchanged_paths"] == ["/nothing/here"] and res["old_gone"] is True
    assert view(merged) == expected_view(before, lower, ["/etc"])
    assert upper_record(res["upper_aside"]) == old_upper, "the old upper was written"
    assert "rw" in _flags(merged), "the new overlay has the mount's own flags"

    run = playbook.run(playbook.play([_task("all", scratch, target=merged, discard=True),
                                      _task("again", scratch, target=merged)]), _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    res, again = run.result("all"), run.result("again")
    assert [it["path"] for it in res["discarded"]] == [it["path"] for it in items if it["path"] != "/etc/app.conf"]
    assert res["removed_aside"] is True and not os.path.exists(res["upper_aside"])
    assert view(merged) == view(lower)
    assert (again["changed"], again["discarded"], again["upper_aside"]) == (False, [], None)
    assert pending(scratch, json.loads(read_state(scratch, "app"))["body"]["profile_data"]) == [], \
        "the profile no longer matches its overlay"


def test_foreign_overlay_needs_force(scratch):
    """An overlay no profile owns is refused without force, changing nothing, and reset with it."""
    merged, upper, lower = setup(scratch, owned=False)
    before = _world(scratch, merged, upper)
    run = playbook.run(playbook.play([dict(_task("refused", scratch, target=merged), ignore_errors=True)]),
                       _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("refused")["msg"] == (
        "cannot reset overlay %s: no livemount profile owns it in %s; force=true resets it anyway (no profile"
        " state is written; it has a lock and journal of its own)" % (merged, os.readlink("/proc/self/ns/mnt")))
    assert _world(scratch, merged, upper) == before
    run = playbook.run(playbook.play([_task("forced", scratch, target=merged, force=True)]), _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    res = run.result("forced")
    assert (res["changed"], res["profile"]) == (True, None)
    assert view(merged) == view(lower)


def test_writer_fails_clearly_and_the_mount_stays_writable(scratch):
    """A process holding a file open for writing makes the reset fail naming it; nothing changes, the mount stays rw."""
    merged, upper, _ = setup(scratch)
    log = os.path.join(merged, "etc/app.conf")
    writer = subprocess.Popen(["sh", "-c", 'exec 3>>"$1"; echo ready; exec sleep 600', "sh", log],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"ready\n"
        before = _world(scratch, merged, upper)
        run = playbook.run(playbook.play([_task("reset", scratch, target=merged)]), _workdir(scratch))
        assert "rw" in _flags(merged) and _world(scratch, merged, upper) == before
    finally:
        writer.kill()
        writer.wait()
    assert run.rc != 0
    res = run.result("reset")
    assert _status(run, "reset") == "failed"
    assert res["msg"] == ("cannot reset overlay %s: a process holds a file open for writing on it (EBUSY) (held by"
                          " pid %d (sleep): open file %s); nothing was changed" % (merged, writer.pid, log))
    assert [(h["pid"], h["comm"]) for h in res["busy"]] == [(writer.pid, "sleep")]


def test_refusals_are_clear(scratch):
    """Not an overlay, not a mount point, `..` in paths and paths under index=on fail with the engine's message."""
    merged = setup(scratch)[0]
    plain = os.path.join(scratch, "plain")
    make_tree(scratch, ["plain/", "ix/l/etc/x=1", "ix/u/", "ix/w/", "ix/m/"])
    ix = os.path.join(scratch, "ix")
    hand_mount("-t", "overlay", "overlay", "-o", "lowerdir=%s/l,upperdir=%s/u,workdir=%s/w,index=on" % (ix, ix, ix),
               ix + "/m")
    cases = [
        ("not-an-overlay", {"target": scratch},
         "cannot reset overlay %s: the mount there is tmpfs, not overlay" % scratch),
        ("not-a-mount-point", {"target": plain}, "cannot reset overlay %s: it is not a mount point" % plain),
        ("dotdot-in-paths", {"target": merged, "paths": ["/etc/../del.txt"]},
         "cannot reset overlay %s: path '/etc/../del.txt': path must not contain '..' (paths are inside the overlay,"
         " like /etc/app.conf)" % merged),
        ("paths-under-index-on", {"target": ix + "/m", "paths": ["/etc"], "force": True},
         "cannot reset paths of overlay %s/m: it uses index=on, whose index in the work directory names the upper's"
         " own inodes; reset all of it instead" % ix),
    ]
    before = snapshot(scratch)
    tasks = [dict(_task(name, scratch, **args), ignore_errors=True) for name, args, _ in cases]
    run = playbook.run(playbook.play(tasks), _workdir(scratch))
    assert run.rc == 0, run.stdout[-3000:]
    for name, _, msg in cases:
        assert (_status(run, name), run.result(name)["msg"]) == ("failed", msg), name
    assert snapshot(scratch) == before
