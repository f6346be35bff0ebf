"""Directories livemount created that someone else's mount still uses: kept in state, removed once unused.

Profile `one` creates /data/shared for its mount; profile `two` (or a mount
made by hand) later sits in /data/shared too. Destroying `one` cannot remove
the directory: it stays in one's state as a leftover (status shows it) and
the first run in the namespace that finds it unused removes it.
"""

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import StateStore, list_profiles

from tests.unit.fakesys import NAMESPACE_ID
from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import bind, fake_host, fs_snapshot, snapshot, tmpfs, tree_bytes

SHARED = "/data/shared"
ONE = {"name": "one", "mounts": [bind("/srv/a", "/data/shared/one/b"), tmpfs("/data/shared/one/t")]}
TWO = {"name": "two", "mounts": [tmpfs("/data/shared/two")]}
THREE = {"name": "three", "mounts": [tmpfs("/data/three")]}


def shared_by_two(root):
    """Return a fake where `one` (which created /data/shared) is destroyed while `two` still mounts in it."""
    fake = fake_host()
    apply(ONE, fake, root)
    apply(TWO, fake, root)
    engine.destroy("one", fake, root=root)
    return fake


def test_destroy_keeps_a_directory_another_profile_uses(root):
    """Destroying one keeps /data/shared (no rmdir tried), warns, and keeps it in a state owning nothing else."""
    fake = fake_host()
    apply(ONE, fake, root)
    apply(TWO, fake, root)
    report = engine.destroy("one", fake, root=root)
    assert ("rmdir", SHARED) not in mutations(report) and ("rmdir", "/data/shared/one") in mutations(report)
    assert [w for w in report.warnings if w.startswith("kept %s:" % SHARED)]
    assert not [c for c in fake.calls if c.startswith("rmdir") and SHARED + '"' in c]
    state = StateStore(root, NAMESPACE_ID, "one").load()
    assert (state.owned, state.created, state.leftovers()) == ((), (SHARED,), (SHARED,))
    assert fs_snapshot(fake)[SHARED] is not None


def test_destroy_again_while_in_use_changes_nothing(root):
    """A second destroy of one while two still uses the directory: unchanged, no call, the same warning."""
    fake = shared_by_two(root)
    calls = len(fake.calls)
    again = engine.destroy("one", fake, root=root)
    assert not again.changed and len(fake.calls) == calls
    assert [w for w in again.warnings if w.startswith("kept %s:" % SHARED)]


def test_status_shows_a_profile_holding_only_leftovers(root):
    """status lists one with no entry and its leftover directory, two with its entries and none."""
    fake = shared_by_two(root)
    rows = {r["profile"]: r for r in engine.status(fake, root=root)}
    assert (rows["one"]["entries"], rows["one"]["leftovers"]) == ([], [SHARED])
    assert [e["health"] for e in rows["two"]["entries"]] == ["ok"] and "leftovers" not in rows["two"]


def test_runs_of_the_user_do_not_touch_the_leftover(root):
    """Re-applying two while it uses the directory: unchanged, no call, one's state untouched."""
    fake = shared_by_two(root)
    calls, states = len(fake.calls), tree_bytes(root)
    again = apply(TWO, fake, root)
    assert not again.changed and len(fake.calls) == calls and tree_bytes(root) == states


HAND = "/data/shared/hand"


def shared_by_hand(root):
    """Return a fake where `one` is destroyed while a tmpfs mounted by hand sits in /data/shared."""
    fake = fake_host()
    apply(ONE, fake, root)
    fake.seed_mount("tmpfs", HAND, source="hand")
    engine.destroy("one", fake, root=root)
    return fake


def let_go_by_hand(fake):
    """Unmount the hand-made tmpfs and remove its mount point: /data/shared is empty again."""
    fake.umount(HAND)
    fake.rmdir(HAND)


SWEEPS = [
    ("destroy-of-the-last-user", shared_by_two, lambda fake, root: engine.destroy("two", fake, root=root)),
    ("apply-of-another-profile", shared_by_hand, lambda fake, root: let_go_by_hand(fake) or apply(THREE, fake, root)),
]


@pytest.mark.parametrize("setup, run", [s[1:] for s in SWEEPS], ids=[s[0] for s in SWEEPS])
def test_the_first_run_finding_it_unused_removes_it(root, setup, run):
    """Once nothing uses it, the next run here removes the directory and one's state: nothing of one is left."""
    fake = setup(root)
    assert "one" in list_profiles(root, NAMESPACE_ID)
    report = run(fake, root)
    assert ("rmdir", SHARED) in mutations(report) and report.changed
    assert [c.reason for c in report.changes if c.target == SHARED] == ["left by profile one, no longer in use"]
    assert SHARED not in fs_snapshot(fake)
    assert "one" not in list_profiles(root, NAMESPACE_ID)


def test_check_mode_predicts_the_sweep_and_writes_nothing(root):
    """Check mode of a run that would sweep: the same changes as the apply, no call, no byte written."""
    fake = shared_by_hand(root)
    let_go_by_hand(fake)
    calls, state, files = list(fake.calls), tree_bytes(root), snapshot(fake)
    predicted = apply(THREE, fake, root, check=True)
    assert (fake.calls, tree_bytes(root), snapshot(fake)) == (calls, state, files)
    real = apply(THREE, fake, root)
    assert mutations(predicted) == mutations(real) and ("rmdir", SHARED) in mutations(real)


def test_a_leftover_profile_applied_again_is_not_swept(root):
    """one applied again owns entries: another profile's run leaves it alone, its directory is needed again."""
    fake = shared_by_two(root)
    apply(ONE, fake, root)
    engine.destroy("two", fake, root=root)
    report = apply(THREE, fake, root)
    assert ("rmdir", SHARED) not in mutations(report) and SHARED in fs_snapshot(fake)
    assert [r["health"] for r in engine.status(fake, root=root, name="one")[0]["entries"]] == ["ok", "ok"]


def test_a_mount_arriving_before_the_rmdir_keeps_the_directory_recorded(root):
    """The plan finds the directory unused, a mount lands in it before rmdir: kept in state, not forgotten."""
    fake = fake_host()
    apply(ONE, fake, root)
    rmdir = fake.rmdir

    def racing_rmdir(path, writable_view=False):
        """Let someone mount in /data/shared just before livemount removes it."""
        if path == SHARED:
            fake.seed_dir("/data/shared/late")
            fake.seed_mount("tmpfs", "/data/shared/late", source="late")
        return rmdir(path, writable_view)

    fake.rmdir = racing_rmdir
    report = engine.destroy("one", fake, root=root)
    assert [w for w in report.warnings if w.startswith("kept %s:" % SHARED)]
    assert StateStore(root, NAMESPACE_ID, "one").load().created == (SHARED,)


def test_a_destroy_that_frees_its_own_leftover_by_sweeping_removes_it(root):
    """The last destroy keeps its directory for another profile's leftover inside, sweeps that, then removes its own.

    `outer` made /data/s; `inner` made /data/s/x, kept by its destroy while
    outer's entry was in it. Destroying outer keeps /data/s (inner's
    directory is in it), then sweeps inner's /data/s/x, now unused: /data/s
    is unused too, and nothing is left behind. Eight destroys at once over
    shared parents met this in tests/reliability/test_concurrency_stress.py.
    """
    fake = fake_host()
    outer = {"name": "outer", "mounts": [tmpfs("/data/s/y")]}
    inner = {"name": "inner", "mounts": [tmpfs("/data/s/x/b")]}
    apply(outer, fake, root)
    apply(inner, fake, root)
    apply(dict(outer, mounts=outer["mounts"] + [tmpfs("/data/s/x/a")]), fake, root)
    engine.destroy("inner", fake, root=root)
    assert StateStore(root, NAMESPACE_ID, "inner").load().created == ("/data/s/x",)
    report = engine.destroy("outer", fake, root=root)
    assert fs_snapshot(fake).get("/data/s") is None
    assert list_profiles(root, NAMESPACE_ID) == []
    assert [m for m in mutations(report) if m[0] == "rmdir"][-2:] == [("rmdir", "/data/s/x"), ("rmdir", "/data/s")]
    assert not [w for w in report.warnings if w.startswith("kept /data/s:")]  # it did not stay after all
