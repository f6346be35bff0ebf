"""Scenario 28 for real: a writable mimic of a read-only directory, kept, removed, and undone on failure.

The read-only tree is a read-only bind of a populated directory holding
files, subdirectories, symlinks, an empty directory and a nested mount (a
tmpfs with a file in it) below a subdirectory.
"""

import errno
import json
import os
import subprocess

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, PlanError
from tests.integration.helpers import (apply, expand, hand_mount, make_tree, pending, profile_dict, read,
                                       read_state, real_sys, rel, snapshot, steps, top)

TREE = ["ro/keep=x", "ro/sub/deep=d", "ro/sub/nest/", "ro/empty/", "ro/ln->@/ro/keep", "ro/dangling->nowhere",
        "s/f=s"]


def _readonly_tree(scratch):
    """Return the read-only directory after building it: a read-only bind with a tmpfs nested below."""
    make_tree(scratch, TREE)
    ro = expand(scratch, "@/ro")
    hand_mount("-t", "tmpfs", "tmpfs", os.path.join(ro, "sub/nest"))
    with open(os.path.join(ro, "sub/nest/n"), "w", encoding="utf-8") as f:
        f.write("n")
    hand_mount("--rbind", ro, ro)
    hand_mount("-o", "remount,bind,ro", ro)
    return ro


def _tree(root):
    """Return {relative path: what is there} for everything under `root` (symlinks not followed)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            what = os.readlink(p) if os.path.islink(p) else (read(p) if os.path.isfile(p) else "dir")
            out[os.path.relpath(p, root)] = (what, oct(st.st_mode), st.st_uid, st.st_gid)
    return out


def _entry(scratch, target="@/ro/new", mimic=True):
    return dict(target=target, type="bind", source="@/s", mimic=mimic)


def test_mimic_shows_the_original_content_and_goes_without_a_trace(scratch):
    """A mount point in a read-only tree: its content stays visible, a second plan is empty, removal restores it."""
    ro = _readonly_tree(scratch)
    before, tree_before = snapshot(scratch), _tree(ro)
    data = profile_dict(scratch, [_entry(scratch)])
    report = apply(scratch, data)
    assert steps(scratch, report)[:1] == [("mimic", "@/ro")]
    assert read(os.path.join(ro, "new/f")) == "s"
    after = _tree(ro)
    assert {k: v for k, v in after.items() if not k.startswith("new")} == tree_before
    assert read(os.path.join(ro, "sub/nest/n")) == "n"  # the nested mount came along
    assert os.readlink(os.path.join(ro, "ln")) == expand(scratch, "@/ro/keep")
    keep = top(os.path.join(ro, "keep"))
    assert (keep.root, "ro" in keep.opts) == ("/ro/keep", True)  # bound back from the read-only original
    assert pending(scratch, data) == []
    owned = json.loads(read_state(scratch))["body"]["owned"]
    synthetic = {rel(scratch, o["entry"]["target"]): o["synthetic_for"] for o in owned if o.get("synthetic_for")}
    # Devices and the dangling link's kind aside, every child is recorded: the tmpfs, binds back, links again.
    assert synthetic == dict.fromkeys(["@/ro", "@/ro/keep", "@/ro/sub", "@/ro/empty", "@/ro/ln", "@/ro/dangling"],
                                      expand(scratch, "@/ro/new"))
    apply(scratch, profile_dict(scratch, []))
    assert snapshot(scratch) == before
    assert _tree(ro) == tree_before


def test_processes_inside_keep_their_view(scratch):
    """A process sitting in a subdirectory of the read-only tree still reads the original files after the mimic."""
    ro = _readonly_tree(scratch)
    inside = subprocess.Popen(["sh", "-c", "read _; cat deep; echo; cat nest/n; echo; ls"], cwd=os.path.join(ro, "sub"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        apply(scratch, profile_dict(scratch, [_entry(scratch)]))
        out, _ = inside.communicate("go\n", timeout=30)
    finally:
        if inside.poll() is None:
            inside.kill()
    assert out.split() == ["d", "n", "deep", "nest"]
    with open(os.path.join(ro, "sub/deep"), encoding="utf-8") as f:
        assert f.read() == "d"  # and a new lookup sees the same, through the mimic


@pytest.mark.parametrize("mimic", [False, None], ids=["mimic-false", "mimic-unset"])
def test_without_mimic_the_read_only_directory_is_a_conflict(scratch, mimic):
    """Without mimic: true the plan refuses and nothing changes."""
    ro = _readonly_tree(scratch)
    before = snapshot(scratch)
    entry = _entry(scratch, mimic=bool(mimic))
    if mimic is None:
        del entry["mimic"]
    with pytest.raises(PlanError, match="is read-only, so .*/ro/new cannot be created there"):
        apply(scratch, profile_dict(scratch, [entry]))
    assert snapshot(scratch) == before
    assert not os.path.lexists(os.path.join(ro, "new"))


def _mutations(scratch):
    """Return how many system-call steps the mimic apply takes (counted by a failpoint that never fires)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

    counter = failpoint.FailpointSys(real_sys(), {})
    apply(scratch, profile_dict(scratch, [_entry(scratch)]), system=counter)
    return counter.count


def test_every_failed_step_is_undone(scratch):
    """A step of the mimic apply fails (EIO), for every step: the table and the tree are as before each time."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

    ro = _readonly_tree(scratch)
    before, tree_before = snapshot(scratch), _tree(ro)
    n = _mutations(scratch)
    apply(scratch, profile_dict(scratch, []))
    assert snapshot(scratch) == before
    assert n > 5
    for k in range(1, n + 1):
        system = failpoint.FailpointSys(real_sys(), {k: errno.EIO})
        with pytest.raises(ApplyError, match="failpoint %d" % k):
            apply(scratch, profile_dict(scratch, [_entry(scratch)]), system=system)
        assert snapshot(scratch) == before, "step %d" % k
        assert _tree(ro) == tree_before, "step %d" % k


def _nested(scratch):
    """Return the profile needing a mimic of @/ro (for @/ro/new) and, inside it, of @/ro/sub (for @/ro/sub/n2)."""
    return profile_dict(scratch, [_entry(scratch), dict(target="@/ro/sub/n2", type="tmpfs", mimic=True)])


def test_nested_mimic_has_one_mount_per_target_and_goes_without_a_trace(scratch):
    """@/ro/sub gets a tmpfs of its own in @/ro's, not a copy plus a mimic on it; destroy leaves the tree as it was."""
    ro = _readonly_tree(scratch)
    before, tree_before = snapshot(scratch), _tree(ro)
    data = _nested(scratch)
    report = apply(scratch, data)
    assert [s for s in steps(scratch, report) if s[0] == "mimic"] == [("mimic", "@/ro")]
    sub = os.path.join(ro, "sub")
    assert (top(sub).fstype, read(os.path.join(sub, "deep")), read(os.path.join(sub, "nest/n"))) == ("tmpfs", "d", "n")
    assert os.path.ismount(os.path.join(sub, "n2")) and read(os.path.join(ro, "new/f")) == "s"
    after = _tree(ro)
    assert {k: v for k, v in after.items() if not k.startswith(("new", "sub/n2"))} == tree_before
    owned = json.loads(read_state(scratch))["body"]["owned"]
    targets = [rel(scratch, o["entry"]["target"]) for o in owned]
    assert len(targets) == len(set(targets)) and "@/ro/sub/deep" in targets
    assert pending(scratch, data) == []
    apply(scratch, profile_dict(scratch, []))
    assert snapshot(scratch) == before
    assert _tree(ro) == tree_before


def test_nested_every_failed_step_is_undone(scratch):
    """A step of the nested mimic apply fails (EIO), for every step: the table and the tree are as before each time."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint

    ro = _readonly_tree(scratch)
    before, tree_before = snapshot(scratch), _tree(ro)
    counter = failpoint.FailpointSys(real_sys(), {})
    apply(scratch, _nested(scratch), system=counter)
    apply(scratch, profile_dict(scratch, []))
    assert snapshot(scratch) == before
    assert counter.count > 20
    for k in range(1, counter.count + 1):
        system = failpoint.FailpointSys(real_sys(), {k: errno.EIO})
        with pytest.raises(ApplyError, match="failpoint %d" % k):
            apply(scratch, _nested(scratch), system=system)
        assert snapshot(scratch) == before, "step %d" % k
        assert _tree(ro) == tree_before, "step %d" % k
