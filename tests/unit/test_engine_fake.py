"""engine.reconcile / destroy / status end to end on the fake Sys with a real state directory.

Covers idempotence, check mode (no call, no file, not even the state
directory), the --diff text, adoption, conflicts stopping before any call,
status health, and scenario 30 (docs/scenarios.md): an apply killed at every step leaves a
journal; the next run recovers and converges, and destroy then leaves the
table as it was before the first run.
"""

import os
import re
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import PlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore

from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import (
    PROFILE_A,
    PROFILE_B,
    Crash,
    CrashAt,
    bind,
    fake_host,
    fast_tmpdir,
    fs_snapshot,
    overlay,
    snapshot,
    symlink,
    tmpfs,
    tree_bytes,
)

SMALL = {"name": "p", "mounts": [bind("/srv/a", "/data/m", "ro"), tmpfs("/data/t", "size=1m"),
                                 symlink("/data/l", "/x"), overlay("/data/o", ["/ovl/l1"], "/ovl/u", "/ovl/w")]}


# ---- idempotence ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [SMALL, PROFILE_A, PROFILE_B], ids=["small", "profile-a", "profile-b"])
def test_second_apply_changes_nothing(root, data):
    """Applying a profile twice: the second run has no mutating change, makes no call and reports unchanged."""
    fake = fake_host()
    first = apply(data, fake, root)
    assert first.changed
    calls = len(fake.calls)
    second = apply(data, fake, root)
    assert mutations(second) == [] and not second.changed
    assert len(fake.calls) == calls


def test_a_run_reports_health_after_and_the_profile_before(root):
    """Each run says how its entries are as it leaves them, and what profile was applied before it (for rollback)."""
    fake = fake_host()
    first = apply(SMALL, fake, root, profile_data=SMALL)
    assert first.previous is None
    assert first.healthy and sorted(e["target"] for e in first.health) == ["/data/l", "/data/m", "/data/o", "/data/t"]
    fake.umount("/data/t")
    drifted = apply(SMALL, fake, root, check=True, profile_data=SMALL)
    assert drifted.previous == SMALL
    assert not drifted.healthy and [e["health"] for e in drifted.health if e["target"] == "/data/t"] == ["missing"]
    fixed = apply(SMALL, fake, root, profile_data=SMALL)
    assert fixed.healthy and fixed.previous == SMALL
    import pickle  # a report made in another namespace comes back pickled (nsexec.py), its health with it

    assert pickle.loads(pickle.dumps(fixed)).health == fixed.health
    gone = engine.destroy("p", fake, root=root)
    assert gone.health == [] and gone.healthy


def test_destroy_removes_everything_it_made(root):
    """destroy unmounts, unlinks and removes created directories: table and files as before, state file gone."""
    fake = fake_host()
    before = snapshot(fake)
    apply(PROFILE_B, fake, root)
    report = engine.destroy("p", fake, root=root)
    assert report.changed
    assert snapshot(fake) == before
    assert not StateStore(root, NAMESPACE_ID, "p").exists()
    assert not engine.destroy("p", fake, root=root).changed


# ---- check mode -----------------------------------------------------------------------------------------------------
CHECKS = [
    ("nothing-applied-yet", None, SMALL),
    ("changes-on-top-of-a-state", PROFILE_A, PROFILE_B),
    ("destroy", PROFILE_A, {"name": "p", "mounts": []}),
    ("up-to-date", PROFILE_A, PROFILE_A),
]


@pytest.mark.parametrize("setup, data", [pytest.param(*c[1:], id=c[0]) for c in CHECKS])
def test_check_mode_touches_nothing(root, setup, data):
    """Check mode runs the same plan but calls no mutating Sys method and writes no byte under the state root."""
    fake = fake_host()
    if setup:
        apply(setup, fake, root)
    calls, count, files, state = list(fake.calls), fake.count, snapshot(fake), tree_bytes(root)
    report = apply(data, fake, root, check=True)
    assert report.mode == "check"
    assert (fake.calls, fake.count) == (calls, count)
    assert snapshot(fake) == files
    assert tree_bytes(root) == state
    real = apply(data, fake, root)
    assert [(c.action, c.target) for c in report.changes] == [(c.action, c.target) for c in real.changes]
    assert report.changed == real.changed


def test_check_mode_does_not_create_the_state_root(root):
    """Check mode with a state root that does not exist leaves it not existing."""
    missing = os.path.join(root, "not", "there")
    fake = fake_host()
    report = apply(SMALL, fake, missing, check=True)
    assert report.changed and fake.calls == []
    assert not os.path.lexists(missing)


def test_check_mode_with_an_interrupted_apply_only_reports_it(root):
    """Check mode after a crash says a recovery would happen, and leaves the journal and state as they are."""
    fake = fake_host()
    with pytest.raises(Crash):
        apply(SMALL, CrashAt(fake, 5), root)
    state = tree_bytes(root)
    report = apply(SMALL, fake, root, check=True)
    assert report.recovered == ["an interrupted apply would be recovered first"]
    assert tree_bytes(root) == state


# ---- the diff ----------------------------------------------------------------------------------------------------
def test_diff_shows_the_owned_table_before_and_after(root):
    """--diff: fstab-like lines of what the profile owns before the run and what it will own after."""
    fake = fake_host()
    first = apply(SMALL, fake, root)
    assert first.diff["before"] == ""
    assert first.diff["after"] == (
        "/x /data/l none x-livemount.symlink 0 0\n"
        "/srv/a /data/m none bind,ro 0 0\n"
        "overlay /data/o overlay rw,lowerdir+=/ovl/l1,upperdir=/ovl/u,workdir=/ovl/w 0 0\n"
        "tmpfs /data/t tmpfs rw,size=1048576 0 0\n")
    assert first.diff["before_header"] == "p in mnt:[4026531841] (before)"
    second = apply({"name": "p", "mounts": [bind("/srv/b", "/data/m", "ro"), tmpfs("/data/t", "size=2m")]},
                   fake, root, check=True)
    assert second.diff["before"] == first.diff["after"]
    assert second.diff["after"] == "/srv/b /data/m none bind,ro 0 0\ntmpfs /data/t tmpfs rw,size=2097152 0 0\n"


def test_an_apply_makes_each_entry_s_state_dict_once(root, monkeypatch):
    """The journal's begin records and the state saved after them share each mounted entry's dict: made once."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms

    made = []
    real = forms.entry_to_state_dict
    counted = lambda e: made.append(e.target) or real(e)  # noqa: E731
    monkeypatch.setattr(forms, "entry_to_state_dict", counted)
    monkeypatch.setattr(engine, "entry_dict", counted)  # the engine's own name for it
    apply(SMALL, fake_host(), root)
    assert sorted(made) == ["/data/l", "/data/m", "/data/o", "/data/t"]
    assert StateStore(root, NAMESPACE_ID, "p").load().owned  # and the state saved says what was made


def test_the_diff_is_made_only_when_asked_and_once(root, monkeypatch):
    """A run nobody asks the diff of (a terminal apply without --diff) never formats the table; asked twice, once."""
    made = []
    real = engine.make_diff
    monkeypatch.setattr(engine, "make_diff", lambda *a: made.append(a) or real(*a))
    report = apply(SMALL, fake_host(), root)
    assert made == []
    assert report.diff["before"] == "" and report.diff["after"].startswith("/x /data/l none x-livemount.symlink")
    assert report.to_dict()["diff"] is report.diff
    assert len(made) == 1


# ---- adoption and conflicts -------------------------------------------------------------------------------------------
def test_exact_foreign_bind_is_adopted_without_a_call(root):
    """s22: an exactly matching bind already mounted is kept, saved as owned, and destroy removes it."""
    fake = fake_host()
    fake.seed_bind("/srv/a", "/data", flags={"ro"})
    report = apply({"name": "p", "mounts": [bind("/srv/a", "/data", "ro")]}, fake, root)
    assert fake.calls == [] and not report.changed
    assert [c.adopt for c in report.changes] == [True]
    assert [o.entry.target for o in StateStore(root, NAMESPACE_ID, "p").load().owned] == ["/data"]
    engine.destroy("p", fake, root=root)
    assert fake.read_mountinfo().count("\n") == 1


@pytest.mark.parametrize("seed, data", [
    pytest.param(lambda f: f.seed_mount("tmpfs", "/data/t"), {"name": "p", "mounts": [tmpfs("/data/t")]},
                 id="s21-foreign-tmpfs"),
    pytest.param(lambda f: f.seed_symlink("/data/l", "/elsewhere"), {"name": "p", "mounts": [symlink("/data/l", "/x")]},
                 id="s26-foreign-link"),
    pytest.param(lambda f: f.seed_symlink("/data/ln", "/srv"), {"name": "p", "mounts": [bind("/srv/a", "/data/ln/a")]},
                 id="planted-symlink-on-the-path"),
])
def test_conflict_stops_before_any_call(root, seed, data):
    """A plan with a conflict raises PlanError (with the report) before a single Sys call."""
    fake = fake_host()
    seed(fake)
    before = snapshot(fake)
    with pytest.raises(PlanError) as exc:
        apply(data, fake, root)
    assert fake.calls == [] and snapshot(fake) == before
    assert exc.value.conflicts and exc.value.report.conflicts == exc.value.conflicts
    assert str(exc.value).startswith("cannot apply profile p: cannot ")
    assert not StateStore(root, NAMESPACE_ID, "p").exists()


def test_foreign_mount_on_top_blocks_destroy(root):
    """s23: a foreign mount stacked on an owned one: destroy refuses, nothing is unmounted, the state stays."""
    fake = fake_host()
    apply({"name": "p", "mounts": [bind("/srv/a", "/data")]}, fake, root)
    fake.seed_mount("tmpfs", "/data")
    before, state = snapshot(fake), tree_bytes(root)
    with pytest.raises(PlanError) as exc:
        engine.destroy("p", fake, root=root)
    assert "cannot unmount /data: a mount not owned by livemount is on top" in str(exc.value)
    assert snapshot(fake) == before and tree_bytes(root) == state


def _ro_by_hand(fake, root):
    fake.setattr("/data/a", {"ro"})


def _ro_by_profile(fake, root):
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/a", "ro"), bind("/srv/a", "/data/a/b")]}, fake, root)


@pytest.mark.parametrize("make_ro", [_ro_by_hand, _ro_by_profile], ids=["remounted-ro-by-hand", "made-ro-by-profile"])
def test_destroy_after_a_parent_became_read_only(root, make_ro):
    """A mount point we made inside an owned mount that is read-only now: destroy removes it through a writable view."""
    fake = fake_host()
    before = snapshot(fake)
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b")]}, fake, root)
    make_ro(fake, root)
    report = engine.destroy("p", fake, root=root)
    assert snapshot(fake) == before and report.warnings == []
    assert 'rmdir "/data/a/b" True' in fake.calls


def test_destroy_removes_a_link_inside_a_mount_made_read_only_later(root):
    """A link inside a bind, then the bind made read-only by the profile: destroy still restores the table."""
    fake = fake_host()
    before = snapshot(fake)
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), symlink("/data/a/l", "/x")]}, fake, root)
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/a", "ro"), symlink("/data/a/l", "/x")]}, fake, root)
    engine.destroy("p", fake, root=root)
    assert snapshot(fake) == before


# ---- status -------------------------------------------------------------------------------------------------------
def _health(fake, root):
    (entry,) = engine.status(fake, root=root)
    return {e["target"]: (e["health"], e["detail"]) for e in entry["entries"]}, entry["interrupted"]


def test_status_reports_health_of_every_owned_entry(root):
    """status: ok after apply; drift, a missing mount, a foreign mount on top and a moved link are named."""
    fake = fake_host()
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/m"), tmpfs("/data/t", "nosuid"), tmpfs("/data/u"),
                                   tmpfs("/data/v"), symlink("/data/l", "/x")]}, fake, root)
    health, interrupted = _health(fake, root)
    assert set(health.values()) == {("ok", "")} and not interrupted
    fake.setattr("/data/t", set())
    fake.umount("/data/u")
    fake.seed_mount("tmpfs", "/data/v", source="other")
    fake.unlink("/data/l")
    fake.symlink("/y", "/data/l")
    health, _ = _health(fake, root)
    assert health == {
        "/data/m": ("ok", ""),
        "/data/t": ("drifted", "flags +nosuid"),  # what a remount would do
        "/data/u": ("missing", "not mounted"),
        "/data/v": ("foreign on top", "tmpfs other is mounted there"),
        "/data/l": ("drifted", "link is /y"),
    }


def test_status_of_nothing_is_empty(root):
    """status with no state lists no profile."""
    assert engine.status(fake_host(), root=root) == []


# ---- scenario 30: killed at every step ----------------------------------------------------------------------------
def _steps_of(data, setup=None):
    fake, root = fake_host(), fast_tmpdir()
    try:
        if setup:
            apply(setup, fake, root)
        n = len(fake.calls)
        apply(data, fake, root)
        return len(fake.calls) - n
    finally:
        shutil.rmtree(root, ignore_errors=True)


CRASHES = ([pytest.param(None, PROFILE_B, n, id="fresh-b-killed-at-%02d" % n)
            for n in range(1, _steps_of(PROFILE_B) + 1)]
           + [pytest.param(PROFILE_A, PROFILE_B, n, id="a-to-b-killed-at-%02d" % n)
              for n in range(1, _steps_of(PROFILE_B, PROFILE_A) + 1)]
           + [pytest.param(PROFILE_B, {"name": "p", "mounts": []}, n, id="destroy-killed-at-%02d" % n)
              for n in range(1, _steps_of({"name": "p", "mounts": []}, PROFILE_B) + 1)])


@pytest.mark.parametrize("setup, data, n", CRASHES)
def test_s30_killed_at_every_step_recovers_converges_and_destroys_clean(root, setup, data, n):
    """s30: killed at step n: journal left; next run recovers and converges; destroy restores the first table."""
    fake = fake_host()
    pristine = snapshot(fake)
    if setup:
        apply(setup, fake, root)
    store = StateStore(root, NAMESPACE_ID, "p")
    with pytest.raises(Crash):
        apply(data, CrashAt(fake, n), root)
    assert store.journal.exists()
    assert engine.status(fake, root=root)[0]["interrupted"]
    rerun = apply(data, fake, root)
    assert rerun.recovered and rerun.recovered[0].startswith("recovered an interrupted apply")
    assert not store.journal.exists()
    assert mutations(apply(data, fake, root)) == []
    engine.destroy("p", fake, root=root)
    assert snapshot(fake)[0] == pristine[0], "the mount table is as before the first run"
    left = fs_snapshot(fake)
    # upper_policy fresh keeps the replaced overlay's old upper and work aside, by design (docs/overlay.md).
    asides = sorted(p for p in left if ".livemount-" in p)
    assert len(asides) in (0, 2) and all(re.fullmatch(r"/ovl/[uw]\.livemount-\d{8}T\d{6}Z", p) for p in asides)
    assert {p: v for p, v in left.items() if p not in asides} == pristine[1], "every directory livemount made is gone"
    assert not store.exists() and not store.journal.exists()


# ---- a file or directory livemount made, hidden by a mount the next profile puts above it -------------------------
def test_a_mount_point_hidden_by_a_new_mount_above_is_removed_first(root):
    """A file point livemount made at /data/a/b, and /data/a then mounted: the point is removed before the mount
    hides it, even though /data/a/b/c needs a /data/a/b (made in the new mount's content); destroy leaves nothing."""
    fake = fake_host()
    pristine = snapshot(fake)
    apply({"name": "p", "mounts": [bind("/srv/conf", "/data/a/b")]}, fake, root)
    report = apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b/c")]}, fake, root)
    hidden = [c.reason for c in report.changes if (c.action.value, c.target) == ("rmdir", "/data/a/b")]
    assert hidden == ["created where the new mount at /data/a will hide it"]
    engine.destroy("p", fake, root=root)
    assert snapshot(fake)[0] == pristine[0]
    assert fs_snapshot(fake) == pristine[1], "every file and directory livemount made is gone"


def test_a_rebuilt_bind_gets_back_the_mount_point_it_lost(root):
    """/data/a/b (a bind of /srv/b) is taken down and put up again when /data/a goes; the mount point livemount made
    in /srv/b for /data/a/b/c goes with it (made inside a mount that is unmounted), so it is made again before
    /data/a/b/c is mounted (the world saw it there before the plan removed it)."""
    fake = fake_host()
    pristine = snapshot(fake)
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), bind("/srv/b", "/data/a/b"),
                                   bind("/srv/a", "/data/a/b/c")]}, fake, root)
    report = apply({"name": "p", "mounts": [bind("/srv/b", "/data/a/b"), bind("/srv/a", "/data/a/b/c")]}, fake, root)
    steps = [(c.action.value, c.target) for c in report.changes]
    assert steps.index(("rmdir", "/data/a/b/c")) < steps.index(("mkdir", "/data/a/b/c")) \
        < steps.index(("mount", "/data/a/b/c"))
    assert mutations(apply({"name": "p", "mounts": [bind("/srv/b", "/data/a/b"), bind("/srv/a", "/data/a/b/c")]},
                           fake, root)) == []
    engine.destroy("p", fake, root=root)
    assert snapshot(fake)[0] == pristine[0]
    assert fs_snapshot(fake) == pristine[1], "every file and directory livemount made is gone"


# ---- killed while the kind of thing at a target changes (found by tests/integration/test_transition_faults.py) ------
KIND_CHANGES = {
    # The link is unlinked and the mount point made in its place before the kill: the recovery must not keep
    # owning a link that is gone because a directory is there now.
    "link-to-mount": (symlink("/data/a", "/x"), bind("/srv/a", "/data/a")),
    # Unmounted, killed before its mount point goes: nothing owns the directory livemount made, which is in
    # the way of what the profile wants there now (a link, a file point).
    "mount-to-link": (bind("/srv/a", "/data/a"), symlink("/data/a", "/x")),
    "dir-point-to-file-point": (bind("/srv/a", "/data/b/x"), bind("/srv/conf", "/data/b/x")),
}
KILLED_KIND_CHANGES = [pytest.param(first, then, n, id="%s-killed-at-%d" % (name, n))
                       for name, (first, then) in KIND_CHANGES.items()
                       for n in range(1, _steps_of({"name": "p", "mounts": [then]},
                                                   {"name": "p", "mounts": [first]}) + 1)]


@pytest.mark.parametrize("first, then, n", KILLED_KIND_CHANGES)
def test_killed_while_a_target_changes_kind_recovers_and_converges(root, first, then, n):
    """A link replaced by a mount (or a mount by a link, a directory point by a file point), killed at step n: the
    next run recovers and converges (no conflict with what livemount made itself); destroy leaves nothing."""
    fake = fake_host()
    pristine = snapshot(fake)
    apply({"name": "p", "mounts": [first]}, fake, root)
    with pytest.raises(Crash):
        apply({"name": "p", "mounts": [then]}, CrashAt(fake, n), root)
    rerun = apply({"name": "p", "mounts": [then]}, fake, root)
    assert rerun.recovered and mutations(apply({"name": "p", "mounts": [then]}, fake, root)) == []
    engine.destroy("p", fake, root=root)
    assert snapshot(fake)[0] == pristine[0]
    assert fs_snapshot(fake) == pristine[1], "every file and directory livemount made is gone"


# A file point livemount made at /data/a/b, then /data/a mounted over it: the dead run removes the point, mounts
# /data/a and makes /data/a/b and /data/a/b/c in the new mount's content (its source /srv/a).
_HIDDEN_POINT = {"name": "p", "mounts": [bind("/srv/conf", "/data/a/b")]}
KILLED_OVER_A_POINT = {
    # ...and mounts on the /data/a/b it made: recovery sees that mount's root there, not the directory, so it
    # must know it from the journal, or destroy keeps it as someone else's (left in /srv/a).
    "point-covered-by-a-mount": ([], [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b"),
                                      bind("/srv/a", "/data/a/b/c")]),
    # The file bind was unmounted by hand first, so the dead run only forgot it: the rerun's forget must not
    # take /data/a/b/c, made by the dead run, for something in the old mount's content.
    "unmounted-by-hand-first": (["/data/a/b"], [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b/c")]),
}


def _killed_over_a_point_cases():
    for name, (umounts, then) in KILLED_OVER_A_POINT.items():
        fake, root = fake_host(), fast_tmpdir()
        try:
            apply(_HIDDEN_POINT, fake, root)
            for t in umounts:
                fake.umount(t)
            n = len(fake.calls)
            apply({"name": "p", "mounts": then}, fake, root)
            total = len(fake.calls) - n
        finally:
            shutil.rmtree(root, ignore_errors=True)
        for k in range(1, total + 1):
            yield pytest.param(umounts, then, k, id="%s-killed-at-%d" % (name, k))


@pytest.mark.parametrize("umounts, then, n", list(_killed_over_a_point_cases()))
def test_killed_over_a_hidden_point_leaves_nothing_behind(root, umounts, then, n):
    """Killed at step n while a mount goes up over a point livemount made: the rerun converges, and destroy
    removes every directory livemount made, in the new mount's source too."""
    fake = fake_host()
    pristine = snapshot(fake)
    apply(_HIDDEN_POINT, fake, root)
    for t in umounts:
        fake.umount(t)
    with pytest.raises(Crash):
        apply({"name": "p", "mounts": then}, CrashAt(fake, n), root)
    apply({"name": "p", "mounts": then}, fake, root)
    assert mutations(apply({"name": "p", "mounts": then}, fake, root)) == []
    engine.destroy("p", fake, root=root)
    assert snapshot(fake)[0] == pristine[0]
    assert fs_snapshot(fake) == pristine[1], "every file and directory livemount made is gone"


def test_a_file_point_that_makes_room_and_would_be_hidden_is_removed_once(root):
    """A file point livemount made at /data/a/b must become a directory point, and /data/a is mounted above it:
    the plan removes it once (making room), not a second time as one the new mount would hide."""
    fake = fake_host()
    apply({"name": "p", "mounts": [bind("/srv/conf", "/data/a/b")]}, fake, root)
    report = apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b")]}, fake, root)
    assert [(c.action.value, c.target) for c in report.changes].count(("rmdir", "/data/a/b")) == 1
    assert mutations(apply({"name": "p", "mounts": [bind("/srv/a", "/data/a"), bind("/srv/a", "/data/a/b")]},
                           fake, root)) == []


# ---- mounts built from another entry's target: a bind of it, an overlay layered on it ------------------------------
def test_a_bind_of_a_target_is_made_after_the_mount_there(root):
    """A bind at /data/a-1 of /data/a, where the same plan mounts /data/a: /data/a-1 sorts first by path, yet it is
    mounted after /data/a (it would copy the bare directory), and the next plan has nothing to do."""
    fake = fake_host()
    apply({"name": "p", "mounts": [tmpfs("/data/a")]}, fake, root)
    data = {"name": "p", "mounts": [bind("/data/a", "/data/a-1"), overlay("/data/a", ["/ovl/l1", "/ovl/l2"])]}
    report = apply(data, fake, root)
    steps = [(c.action.value, c.target) for c in report.changes if c.action.value in ("mount", "replace")]
    assert steps == [("replace", "/data/a"), ("mount", "/data/a-1")]
    assert mutations(apply(data, fake, root)) == []


def test_a_kept_bind_of_a_replaced_overlay_is_replaced_after_it(root):
    """A bind of /data/a kept in the profile while the overlay at /data/a is replaced: the bind is replaced after
    it (it would go on showing the old overlay, on the upper now kept aside), and the next plan has nothing to do."""
    fake = fake_host()
    old = overlay("/data/a", ["/ovl/l1"], "/ovl/u", "/ovl/w")
    apply({"name": "p", "mounts": [old]}, fake, root)
    apply({"name": "p", "mounts": [old, bind("/data/a", "/data/b")]}, fake, root)
    data = {"name": "p", "mounts": [overlay("/data/a", ["/ovl/l2", "/ovl/l1"], "/ovl/u", "/ovl/w"),
                                    bind("/data/a", "/data/b")]}
    report = apply(data, fake, root)
    steps = [(c.action.value, c.target, c.reason) for c in report.changes if c.action.value == "replace"]
    assert [s[:2] for s in steps] == [("replace", "/data/a"), ("replace", "/data/b")]
    assert steps[1][2] == "its source /data/a is replaced by this plan: built again after it"
    assert mutations(apply(data, fake, root)) == []


def test_mounts_built_from_each_other_are_refused(root):
    """Two overlays each layered on the other's target: no order can mount them; the plan refuses both, no call."""
    fake = fake_host()
    calls = len(fake.calls)
    with pytest.raises(PlanError) as err:
        apply({"name": "p", "mounts": [overlay("/data/b", ["/ovl/l1", "/data/c"], "/ovl/u", "/ovl/w"),
                                       overlay("/data/c", ["/ovl/l2", "/data/b"])]}, fake, root)
    assert [c.reason.split(" (")[0] for c in err.value.conflicts] == [
        "cannot mount /data/b: it is built from itself: /data/b -> /data/c -> /data/b",
        "cannot mount /data/c: it is built from itself: /data/c -> /data/b -> /data/c"]
    assert len(fake.calls) == calls


def test_a_child_overlay_redone_with_other_layers_keeps_its_upper_policy(root):
    """An overlay at /data/a/b whose layers change while its parent /data/a goes: it is unmounted and mounted again
    (a child on a rebuilt parent), and upper_policy fresh (the default) still moves the old upper and work aside:
    the new overlay starts from its layers alone, as for a replace."""
    fake = fake_host()
    apply({"name": "p", "mounts": [tmpfs("/data/a"), overlay("/data/a/b", ["/ovl/l1"], "/ovl/u", "/ovl/w")]},
          fake, root)
    fake.seed_file("/ovl/u/written")  # what a user wrote through the overlay
    data = {"name": "p", "mounts": [overlay("/data/a/b", ["/ovl/l2", "/ovl/l1"], "/ovl/u", "/ovl/w")]}
    report = apply(data, fake, root)
    mount = [c for c in report.changes if (c.action.value, c.target) == ("mount", "/data/a/b")]
    assert [c.upper_policy for c in mount] == ["fresh"]
    asides = sorted(p for p in fs_snapshot(fake) if re.fullmatch(r"/ovl/[uw]\.livemount-\d{8}T\d{6}Z", p))
    assert len(asides) == 2 and asides[0] + "/written" in fs_snapshot(fake)
    assert "/ovl/u/written" not in fs_snapshot(fake)
    assert mutations(apply(data, fake, root)) == []


def test_an_overlay_on_an_overlay_on_an_overlay_is_refused(root):
    """Three overlays each layered on the one before: the third would stack three deep, which overlayfs refuses
    ("maximum fs stacking depth exceeded"); the plan says so and makes no call. Two deep is fine."""
    fake = fake_host()
    two = [overlay("/data/a", ["/ovl/l1", "/ovl/l2"]), overlay("/data/b", ["/data/a", "/ovl/l1"])]
    calls = len(fake.calls)
    with pytest.raises(PlanError) as err:
        apply({"name": "p", "mounts": two + [overlay("/data/c", ["/ovl/l2", "/data/b"])]}, fake, root)
    assert [c.reason for c in err.value.conflicts] == [
        "cannot mount overlay entry 2 (/data/c): lower[1] /data/b lies on an overlay that is itself on an overlay:"
        " overlayfs stacks at most 2 deep (EINVAL, \"maximum fs stacking depth exceeded\"); use a layer outside it"]
    assert len(fake.calls) == calls
    apply({"name": "p", "mounts": two}, fake, root)


@pytest.mark.parametrize("policy", ["fresh", "carry"])
def test_a_mount_point_made_in_a_replaced_overlay_is_made_again(root, policy):
    """A bind at /data/a/b inside the writable overlay /data/a (its mount point made in the upper), then the overlay
    replaced with other layers while /data/a/b stays: with fresh the new upper is empty, with carry the down phase
    removed the point through the old overlay; either way it is made again before the bind goes up."""
    fake = fake_host()
    extra = {"upper_policy": policy} if policy == "carry" else {}
    apply({"name": "p", "mounts": [dict(overlay("/data/a", ["/ovl/l1"], "/ovl/u", "/ovl/w"), **extra),
                                   bind("/srv/a", "/data/a/b")]}, fake, root)
    fake.seed_dir("/ovl/u/b")  # where overlayfs put the mount point made through /data/a (the fake does not)
    data = {"name": "p", "mounts": [dict(overlay("/data/a", ["/ovl/l2", "/ovl/l1"], "/ovl/u", "/ovl/w"), **extra),
                                    bind("/srv/a", "/data/a/b")]}
    report = apply(data, fake, root, check=True)
    steps = [(c.action.value, c.target) for c in report.changes]
    assert steps.index(("replace", "/data/a")) < steps.index(("mkdir", "/data/a/b")) \
        < steps.index(("mount", "/data/a/b"))


def test_a_layer_that_was_a_mount_point_stays_for_the_overlay(root):
    """/data/x was the mount point livemount made for a bind that an overlay used as a layer; the bind leaves the
    profile, the overlay stays: /data/x is kept (it is that overlay's layer now), and the overlay rebuilt on it."""
    fake = fake_host()
    ovl = overlay("/data/o", ["/data/x", "/ovl/l1"])
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/x")]}, fake, root)
    apply({"name": "p", "mounts": [bind("/srv/a", "/data/x"), ovl]}, fake, root)
    report = apply({"name": "p", "mounts": [ovl]}, fake, root)
    assert mutations(report) == [("unmount", "/data/x"), ("replace", "/data/o")]
    assert [c.reason for c in report.changes if c.action.value == "replace"][0].startswith(
        "its layer /data/x is unmounted by this plan: built again after it")
    assert mutations(apply({"name": "p", "mounts": [ovl]}, fake, root)) == []


def test_a_mount_point_below_an_overlay_on_another_target_is_judged_by_that_target(root):
    """/data/b is an overlay layered on /data/c, another overlay this plan mounts first; /data/b/one is a file there
    (from /data/c's layer /ovl/l1), so a tmpfs at /data/b/one is refused before any call, not an EEXIST at mkdir."""
    fake = fake_host()
    calls = len(fake.calls)
    with pytest.raises(PlanError) as err:
        apply({"name": "p", "mounts": [overlay("/data/c", ["/ovl/l1", "/ovl/l2"]),
                                       overlay("/data/b", ["/data/c"], "/ovl/u", "/ovl/w"),
                                       tmpfs("/data/b/one")]}, fake, root)
    assert [c.reason for c in err.value.conflicts] == ["cannot mount /data/b/one: existing regular file in the way"]
    assert len(fake.calls) == calls


def test_a_bind_of_a_target_mounted_first_takes_its_kind_from_that_mount(root):
    """/data/b/one was a file (through an overlay at /data/b); B unmounts the overlay, binds the directory /srv/a at
    /data/b/one and binds /data/b/one at /data/c: /data/c's mount point is a directory, as /data/b/one will be."""
    fake = fake_host()
    apply({"name": "p", "mounts": [overlay("/data/b", ["/ovl/l1", "/ovl/l2"])]}, fake, root)
    data = {"name": "p", "mounts": [bind("/srv/a", "/data/b/one"), bind("/data/b/one", "/data/c")]}
    report = apply(data, fake, root, check=True)
    assert [(c.path, c.file_point) for c in report.changes if c.action.value == "mkdir" and c.path == "/data/c"] \
        == [("/data/c", False)]
    apply(data, fake, root)
    assert mutations(apply(data, fake, root)) == []


def test_two_layers_that_are_one_directory_through_a_bind_are_refused(root):
    """lower [/data/a, /data/b] with /data/b a bind of /data/a: one directory given twice, which overlayfs refuses
    (ELOOP); the plan says so before any call."""
    fake = fake_host()
    calls = len(fake.calls)
    with pytest.raises(PlanError) as err:
        apply({"name": "p", "mounts": [tmpfs("/data/a"), bind("/data/a", "/data/b"),
                                       overlay("/data/c", ["/data/a", "/data/b"])]}, fake, root)
    assert [c.reason.split(": overlayfs")[0] for c in err.value.conflicts] == [
        "cannot mount overlay entry 2 (/data/c): lower[1] /data/b shows /data/a, the same directory as lower[0] /data/a"
        " (or one inside the other) through the binds of this profile"]
    assert len(fake.calls) == calls
