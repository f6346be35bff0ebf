"""The writable mimic (scenario 28) on the fake Sys: plan, transcript, idempotence, removal, undo at every step."""

import errno
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import ApplyError, PlanError
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import mutating
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load_profile
from tests.unit.planner_world import bind, fake_host, fast_tmpdir, snapshot


@pytest.fixture(autouse=True)
def _beneath(monkeypatch):
    """Pin MOVE_MOUNT_BENEATH on, whatever kernel runs the unit tests."""
    monkeypatch.setattr(engine, "has_beneath", lambda: True)


@pytest.fixture
def root():
    """Return a fresh, empty state root (removed afterwards)."""
    path = fast_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ro_host():
    """Return a fake host whose /ro (a read-only bind of /srv/ro) holds a file, a directory and a symlink."""
    fake = fake_host()
    fake.seed_dir("/srv/ro/sub")
    fake.seed_file("/srv/ro/keep")
    fake.seed_symlink("/srv/ro/ln", "keep")
    fake.seed_dir("/ro")
    fake.seed_bind("/srv/ro", "/ro", recursive=True, flags={"ro"})
    fake.calls.clear()
    return fake


def profile(mimic=True, target="/ro/new"):
    """Return the one-entry profile binding /srv/a at `target`."""
    return {"name": "p", "mounts": [dict(bind("/srv/a", target), mimic=mimic)] if target else []}


def apply(data, fake, root):
    """Return the Report of reconciling profile mapping `data`."""
    return engine.reconcile(load_profile(data), fake, root=root)


def mutations(report):
    """Return [(action, target)] of the mutating changes of a report."""
    return [(c.action.value, c.target) for c in mutating(report.changes)]


@pytest.mark.parametrize("mimic,expect", [
    (True, [("mimic", "/ro"), ("mkdir", "/ro/new"), ("mount", "/ro/new")]),
    (False, "cannot mount /ro/new: /ro is read-only, so /ro/new cannot be created there"),
], ids=["mimic", "no-mimic"])
def test_plan(root, mimic, expect):
    """The plan mimics /ro first when the entry allows it, else refuses."""
    fake = ro_host()
    if isinstance(expect, str):
        with pytest.raises(PlanError, match=expect):
            engine.reconcile(load_profile(profile(mimic)), fake, root=root, check=True)
        return
    report = engine.reconcile(load_profile(profile(mimic)), fake, root=root, check=True)
    assert mutations(report) == expect
    (change,) = [c for c in report.changes if c.action.value == "mimic"]
    assert [(e.type, e.target, e.recursive) for e in change.synthetic] == [
        ("bind", "/ro/keep", False), ("symlink", "/ro/ln", False), ("bind", "/ro/sub", True)]
    assert change.synthetic_for == "/ro/new"


def test_transcript_idempotence_and_removal(root):
    """Apply copies the children, mounts the tmpfs, puts them back; a rerun does nothing; removal restores all."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    assert fake.calls[:9] == [
        'clone "/ro/keep" False', 'clone "/ro/sub" True',
        'create_fs "tmpfs" "tmpfs" [mode=755]', 'setattr <mount tmpfs> -', 'attach <mount tmpfs> "/ro"',
        'mkfile "/ro/keep" 0o644 0 0', 'attach <mount bind /ro/keep> "/ro/keep"',
        'symlink "keep" "/ro/ln"', 'mkdir "/ro/sub" 0o755 0 0',
    ]
    assert fake.lstat("/ro/ln").link == "keep"
    assert mutations(apply(profile(), fake, root)) == []
    report = apply(profile(target=None), fake, root)
    assert mutations(report)[-1] == ("unmount", "/ro")
    assert snapshot(fake) == before


def test_mimic_turned_off_keeps_it_while_the_entry_stays(root):
    """Turning mimic off for an applied entry keeps the mimic its mount point lives in; removal still restores all."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    assert mutations(apply(profile(mimic=False), fake, root)) == []
    apply(profile(target=None), fake, root)
    assert snapshot(fake) == before


def test_every_failed_step_is_undone(root):
    """A step of the mimic apply fails, for every step: the fake table and files are exactly as before."""
    fake = ro_host()
    before = snapshot(fake)
    apply(profile(), fake, root)
    n = len([c for c in fake.calls if not c.startswith("close")])
    apply(profile(target=None), fake, root)
    assert snapshot(fake) == before
    for k in range(1, n + 1):
        fake = ro_host()
        fake.fail_at(k, errno.EIO)
        with pytest.raises(ApplyError):
            apply(profile(), fake, root)
        assert snapshot(fake) == before, "step %d" % k


def test_killed_during_a_mimic_is_recovered_at_every_step(root):
    """Killed at each step of an apply that mimics /ro: the next run recovers, converges; destroy restores all."""
    from tests.unit.planner_world import Crash, CrashAt

    probe = ro_host()
    apply(profile(), probe, root)
    steps = probe.count
    shutil.rmtree(root)
    assert steps > 5
    for n in range(1, steps + 1):
        fake = ro_host()
        before = snapshot(fake)
        with pytest.raises(Crash):
            engine.reconcile(load_profile(profile()), CrashAt(fake, n), root=root)
        rerun = apply(profile(), fake, root)
        assert rerun.recovered, "step %d: the rerun did not say it recovered" % n
        assert not mutating(apply(profile(), fake, root).changes), "step %d: not converged" % n
        engine.destroy("p", fake, root=root)
        assert snapshot(fake) == before, "step %d: destroy did not restore the table and files" % n
        shutil.rmtree(root)
