"""livemount watch's decisions on the fake Sys (durable/watch.py): what is reported, repaired, left alone, rate-limited."""

import os
import shutil

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable, watch
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from tests.unit.engine_runs import apply, root  # noqa: F401 (fixtures)
from tests.unit.planner_world import bind, fake_host, fast_tmpdir, snapshot, tmpfs

WEB = {"name": "web", "mounts": [tmpfs("/data/t", "size=1m"), bind("/srv/a", "/data/m")]}


@pytest.fixture
def config(monkeypatch):
    """Return a configuration directory with WEB enabled (no fstab, no systemd around)."""
    path = fast_tmpdir()
    monkeypatch.setenv("LIVEMOUNT_FSTAB", os.path.join(path, "fstab"))
    monkeypatch.setattr(enable, "_systemd_side", lambda changed, enabling: [])
    enable.enable(load_profile(WEB), WEB, config=path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _kinds(events):
    return [(e.profile, e.kind) for e in events]


def test_reports_drift_once_and_in_sync_again(root, config):
    """In sync at start (one line), silent while nothing changes, one drift line, one in-sync line when fixed."""
    fake = fake_host()
    apply(WEB, fake, root, profile_data=WEB)
    w = watch.Watcher(fake, config=config, root=root)
    first = w.check()
    assert _kinds(first) == [("web", "watching")] and first[0].line() == "web: watching: 2 entries (as last applied), " \
                                                                         "in sync"
    assert w.check() == []
    fake.umount("/data/t")
    (drift,) = w.check()
    assert drift.line() == "web: drift: mount /data/t: recorded but not mounted (drift)"
    assert drift.to_dict()["changes"] == [{"action": "mount", "target": "/data/t", "reason":
                                           "recorded but not mounted (drift)", "type": "tmpfs"}]
    assert w.check() == []  # the same drift is not said twice
    apply(WEB, fake, root, profile_data=WEB)
    assert _kinds(w.check()) == [("web", "in_sync")]


def test_repair_puts_it_back(root, config):
    """--repair: a drifted profile is applied again; the table is as after the first apply, the next check is silent."""
    fake = fake_host()
    apply(WEB, fake, root, profile_data=WEB)
    good = snapshot(fake)
    w = watch.Watcher(fake, config=config, root=root, repair=True)
    w.check()
    fake.umount("/data/m")
    events = w.check()
    assert _kinds(events) == [("web", "drift"), ("web", "repaired")]
    assert events[1].message == "mount /data/m" and events[1].elapsed is not None
    assert snapshot(fake) == good
    assert w.check() == []


def test_conflict_is_reported_and_never_fought(root, config):
    """A foreign mount on top of an owned one: one conflict line, no system call at all, even with --repair."""
    fake = fake_host()
    apply(WEB, fake, root, profile_data=WEB)
    w = watch.Watcher(fake, config=config, root=root, repair=True)
    w.check()
    fake.seed_mount("tmpfs", "/data/t", source="intruder")
    calls = len(fake.calls)
    (event,) = w.check()
    assert event.kind == "conflict" and "/data/t" in event.message
    assert w.check() == [] and len(fake.calls) == calls


def test_repairs_are_rate_limited(root, config):
    """Something that keeps undoing the profile: `burst` repairs, then one suspended line, then a repair after the window."""
    fake = fake_host()
    apply(WEB, fake, root, profile_data=WEB)
    clock = Clock()
    w = watch.Watcher(fake, config=config, root=root, repair=True, limit=watch.RepairLimit(2, 60.0), clock=clock)
    w.check()
    seen = []
    for _ in range(3):
        clock.t += 1
        fake.umount("/data/t")
        seen.append([e.kind for e in w.check()])
    clock.t += 1
    seen.append([e.kind for e in w.check()])
    assert seen == [["drift", "repaired"], ["drift", "repaired"], ["drift", "suspended"], []]
    assert w.next_deadline() == 1001.0 + 60
    clock.t = 1062.0
    assert [e.kind for e in w.check()] == ["repaired"]  # the drift was said already
    assert w.next_deadline() is None


def test_watch_set_follows_enable_and_disable(root, config):
    """An enabled profile never applied is watched as its enabled copy; disabling it ends its watch with one line."""
    fake = fake_host()
    w = watch.Watcher(fake, config=config, root=root)
    events = w.check()
    assert _kinds(events) == [("web", "watching"), ("web", "drift")]
    assert events[0].message == "2 entries (enabled copy, not applied yet)"
    enable.disable("web", config)
    assert [e.line() for e in w.check()] == ["web: no longer watched: it is no longer enabled"]


def test_unknown_name_is_an_error_line(root, config):
    """A name that is neither enabled nor applied: one `cannot check` line, said once."""
    w = watch.Watcher(fake_host(), names=["nope"], config=config, root=root)
    (event,) = w.check()
    assert event.line() == "nope: cannot check: cannot watch profile nope: it is not enabled and was never applied " \
                           "in mnt:[4026531841]"
    assert w.check() == []


class ScriptedWaiter:
    """wait() answers from a list: True (the table changed), False (timeout); it stops the run when done."""

    def __init__(self, answers, clock):
        self.answers = list(answers)
        self.clock = clock
        self.timeouts = []

    def wait(self, timeout):
        self.timeouts.append(timeout)
        answer = self.answers.pop(0) if self.answers else False
        if not answer:
            self.clock.t += timeout
        return answer


def test_run_checks_on_change_and_on_interval(root, config):
    """run(): a check at start, one per burst of changes (settled), one per interval, none otherwise; stop ends it."""
    fake = fake_host()
    apply(WEB, fake, root, profile_data=WEB)
    clock = Clock()
    w = watch.Watcher(fake, config=config, root=root, clock=clock)
    checks = []
    real = w.check
    w.check = lambda: checks.append(clock.t) or real()
    waiter = ScriptedWaiter([True, True, False, False], clock)
    emitted = []
    watch.run(w, waiter, emitted.append, stop=lambda: len(waiter.timeouts) >= 5, interval=30.0, settle=0.05)
    # start; the change (two events settled into one check); the interval passing
    assert len(checks) == 3 and checks[0] == 1000.0
    assert waiter.timeouts[:3] == [30.0, 0.05, 0.05]
    assert _kinds(emitted) == [("web", "watching")]
