"""A first apply looks (check mode, no lock file yet) before it locks: its plan is reused only from equal inputs.

engine._reconcile_locked plans once without the lock so that a refused first
apply leaves no state directory behind, then observes again under the lock.
plan() is pure: when the state and the world seen under the lock equal what
the look saw, the look's plan is applied as it is; anything different, and
the plan is made again from what is there now.
"""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine

from tests.unit.engine_runs import apply, mutations, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import fake_host, tmpfs

PROFILE = {"name": "p", "mounts": [tmpfs("/data/new/t1", "size=1m"), tmpfs("/data/new/t2", "size=1m")]}


@pytest.fixture
def plans(monkeypatch):
    """Count engine.plan() calls."""
    calls = []
    real = engine.plan

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "plan", counting)
    return calls


def _between(monkeypatch, action):
    """Run `action` once, after the first apply's look and before it takes the lock."""
    real = engine._reconcile

    def wrapped(store, run, *args, **kwargs):
        report = real(store, run, *args, **kwargs)
        if run.preflight:
            action()
        return report

    monkeypatch.setattr(engine, "_reconcile", wrapped)


def test_nothing_changed_since_the_look_plans_once(root, plans):
    """The first apply plans once: the look's plan, applied under the lock; a second apply plans (once) again."""
    fake = fake_host()
    report = apply(PROFILE, fake, root)
    assert len(plans) == 1
    assert ("mount", "/data/new/t1") in mutations(report) and not report.failed
    again = apply(PROFILE, fake, root)
    assert len(plans) == 2 and mutations(again) == []


def test_a_directory_made_since_the_look_is_planned_again(root, plans, monkeypatch):
    """Someone makes /data/new between the look and the lock: the apply plans again and does not make it."""
    fake = fake_host()
    _between(monkeypatch, lambda: fake.seed_dir("/data/new"))
    report = apply(PROFILE, fake, root)
    assert len(plans) == 2
    assert ("mkdir", "/data/new") not in mutations(report)
    assert ("mount", "/data/new/t2") in mutations(report) and not report.failed


def test_a_mount_made_since_the_look_is_planned_again(root, plans, monkeypatch):
    """A foreign tmpfs lands on /data between the look and the lock: planned again, on top of it."""
    fake = fake_host()
    _between(monkeypatch, lambda: fake.attach(fake.create_fs("tmpfs", "intruder", ()), "/data"))
    report = apply(PROFILE, fake, root)
    assert len(plans) == 2
    assert not report.failed
    made = [c[1] for c in mutations(report) if c[0] == "mkdir"]
    assert made == ["/data/new", "/data/new/t1", "/data/new/t2"]  # on the intruder, as seen under the lock


def test_the_look_is_not_reused_in_check_mode(root, plans):
    """Check mode takes no look first: one plan, nothing written."""
    fake = fake_host()
    report = apply(PROFILE, fake, root, check=True)
    assert len(plans) == 1 and report.changed


def test_a_conflict_seen_while_another_first_apply_ran_is_decided_under_the_lock(root, monkeypatch):
    """The look meets a link another first apply made and had not recorded yet: no refusal, the lock decides.

    Eight first applies of two versions of one profile start at once: the
    look of one can see the other's link before that run's state records it
    (a foreign link in the way). The other run holds the lock file by then,
    so the refusal waits for the plan made under the lock.
    """
    fake = fake_host()
    fake.seed_dir("/data/a")
    fake.seed_dir("/data/b")
    fake.seed_symlink("/data/ln", "/data/b")  # the other run's link, not recorded yet
    prof = {"name": "p", "mounts": [{"target": "/data/ln", "type": "symlink", "source": "/data/a"}]}
    real = engine._reconcile
    looked = []

    def racing(store, run, *args, **kwargs):
        try:
            return real(store, run, *args, **kwargs)
        except engine.PlanError:
            if run.preflight:  # the other run: it has the lock file, and finishes by destroying its link
                looked.append(True)
                os.makedirs(os.path.dirname(store.lock_path), exist_ok=True)
                open(store.lock_path, "w").close()
                fake.unlink("/data/ln")
            raise

    monkeypatch.setattr(engine, "_reconcile", racing)
    report = apply(prof, fake, root)
    assert looked == [True]
    assert ("link", "/data/ln") in mutations(report) and not report.failed
    assert fake.lstat("/data/ln").link == "/data/a"


def test_a_conflict_with_no_other_run_is_refused_before_anything_exists(root, monkeypatch):
    """The same conflict with nobody else running: refused by the look, no state directory made."""
    fake = fake_host()
    fake.seed_dir("/data/a")
    fake.seed_symlink("/data/ln", "/data/b")
    prof = {"name": "p", "mounts": [{"target": "/data/ln", "type": "symlink", "source": "/data/a"}]}
    with pytest.raises(engine.PlanError, match="/data/ln"):
        apply(prof, fake, root)
    assert not any(os.scandir(root))
