"""playbooks/rollout.yml and playbooks/drift.yml on a small fleet, in the test's private mount namespace.

The fleet is three inventory hosts with `-c local`, each with its own
state directory and its own tree under scratch: the same namespace, but
nothing shared between hosts, so "host h2 was not touched" is checkable.
"""

import json
import os
import re
import sys

import pytest
import yaml

from . import playbook, snapshot

HOSTS = ("h1", "h2", "h3")
PROFILE = {"name": "app", "mounts": [
    {"target": "{{ root }}/mnt/cache", "type": "tmpfs", "options": ["size={{ cache_size }}"]},
    {"target": "{{ root }}/mnt/data", "type": "bind", "source": "{{ root }}/{{ release }}"},
]}


def _fleet(s, **group_vars):
    """Return the inventory path of a three-host fleet under scratch `s`."""
    hosts = {}
    for h in HOSTS:
        root = os.path.join(s, h)
        for release in ("release-1", "release-2"):
            os.makedirs(os.path.join(root, release), exist_ok=True)
            # The canary's release-2 is broken: its smoke test file is missing.
            if not (h == "h1" and release == "release-2"):
                open(os.path.join(root, release, "ready"), "w").close()
        hosts[h] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "root": root, "mounts_state_dir": os.path.join(root, "state"),
                    "mounts_config_dir": os.path.join(root, "etc")}
    inv = {"all": {"hosts": hosts, "vars": dict({"mounts_profiles": [PROFILE], "cache_size": "1m",
                                                  "release": "release-1"}, **group_vars)}}
    path = os.path.join(s, "fleet.yml")
    with open(path, "w") as f:
        yaml.safe_dump(inv, f)
    return path


def _rollout(s, inventory, **extra):
    return playbook.run(os.path.join(playbook.REPO, "playbooks", "rollout.yml"), s, inventory=inventory,
                        extra_vars=extra)


def _release_of(s, host):
    top = playbook.mountinfo_targets().get(os.path.join(s, host, "mnt", "data"), [])
    return top[-1]["root"].rsplit("/", 1)[-1] if top else None


def _state(s, host):
    d = os.path.join(s, host, "state")
    files = [os.path.join(r, n) for r, _, ns in os.walk(d) for n in ns if n.endswith(".state.json")]
    return [json.load(open(p))["body"] for p in files]


def _enabled_release(s, host):
    """Return the release the enabled copy of `host`'s profile mounts at boot (None when not enabled)."""
    path = os.path.join(s, host, "etc", "enabled", "app.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["body"]["profile_data"]["mounts"][1]["source"].rsplit("/", 1)[-1]


def test_rollout_everywhere(scratch):
    """A good profile reaches every host, canary batch first, then the rest; a second rollout changes nothing."""
    inv = _fleet(scratch)
    first = _rollout(scratch, inv, livemount_batch=2)
    assert first.rc == 0, first.stdout
    assert [_release_of(scratch, h) for h in HOSTS] == ["release-1"] * 3
    applied = [r for r in first.records if r["task"].endswith(" : Apply the profiles")]
    hosts = [r["host"] for r in applied]
    # h1 alone first (the canary); h2 and h3 share the next batch and finish in either order.
    assert hosts[0] == "h1" and sorted(hosts[1:]) == ["h2", "h3"], hosts
    assert first.stdout.count("PLAY [Roll out livemount profiles, canary first]") == 2  # two batches
    # Again, with a simulated reboot: every mount goes, the enabled copies bring them back, nothing changed.
    again = _rollout(scratch, inv, livemount_batch=2, livemount_rollout_reboot="simulate")
    assert again.rc == 0 and all(again.recap(h)["changed"] == 0 for h in HOSTS), again.stdout
    assert len([r for r in again.records if r["task"].startswith("Simulate a reboot, apply")]) == 3
    assert [_release_of(scratch, h) for h in HOSTS] == ["release-1"] * 3
    assert [_enabled_release(scratch, h) for h in HOSTS] == ["release-1"] * 3


@pytest.mark.parametrize("rollback", [True, False], ids=["rollback", "no-rollback"])
def test_rollout_stops_after_failed_canary(scratch, rollback):
    """A profile failing verification on the canary stops the rollout there; the canary is rolled back if asked."""
    inv = _fleet(scratch)
    assert _rollout(scratch, inv).rc == 0
    before = {h: _state(scratch, h) for h in ("h2", "h3")}
    bad = _rollout(scratch, inv, release="release-2", livemount_rollback=rollback,
                   livemount_rollout_check="test -e {{ root }}/mnt/data/ready")
    assert bad.rc != 0
    assert {r["host"] for r in bad.records} == {"h1"}, "only the canary may be touched"
    assert "cannot roll out to h1" in bad.stdout
    assert {h: _state(scratch, h) for h in ("h2", "h3")} == before
    assert [_release_of(scratch, h) for h in ("h2", "h3")] == ["release-1"] * 2
    if rollback:
        assert _release_of(scratch, "h1") == "release-1"
        assert _state(scratch, "h1")[0]["profile_data"]["mounts"][1]["source"].endswith("release-1")
        assert _enabled_release(scratch, "h1") == "release-1"  # the next boot applies release-1 too
    else:
        assert _release_of(scratch, "h1") == "release-2"


def test_rollout_rollback_removes_new_profile(scratch):
    """A profile new to the canary is removed again when its verification fails."""
    inv = _fleet(scratch)
    bad = _rollout(scratch, inv, release="release-2", livemount_rollout_check="test -e {{ root }}/mnt/data/ready")
    assert bad.rc != 0
    assert _release_of(scratch, "h1") is None and _state(scratch, "h1") == []
    assert _enabled_release(scratch, "h1") is None  # disabled again: nothing of it at the next boot
    assert not os.path.exists(os.path.join(scratch, "h2", "state"))


def _drift(s, inventory, **extra):
    return playbook.run(os.path.join(playbook.REPO, "playbooks", "drift.yml"), s, inventory=inventory,
                        extra_vars=dict({"cache_size": "1m"}, **extra))


def test_drift_report(scratch, tmp_path):
    """drift.yml changes nothing, prints one line per host, writes the fleet JSON and fails exactly the drifted host."""
    inv = _fleet(scratch)
    assert _rollout(scratch, inv).rc == 0
    in_sync = _drift(scratch, inv)
    assert in_sync.rc == 0, in_sync.stdout
    assert in_sync.result("Summary, one line per host")["msg"] == ["h1: in sync", "h2: in sync", "h3: in sync"]
    cache = os.path.join(scratch, "h2", "mnt", "cache")
    os.system("umount %s" % cache)
    before = snapshot.system(scratch)
    report_file = str(tmp_path / "drift.json")  # outside the snapshot: the controller's only write
    run = _drift(scratch, inv, livemount_drift_report_file=report_file)
    assert run.rc == 2, run.stdout  # ansible-playbook: a host failed
    assert snapshot.system(scratch) == before
    lines = run.result("Summary, one line per host")["msg"]
    assert lines == ["h1: in sync", "h2: drifted: 1 change(s): mount %s; unhealthy: app" % cache, "h3: in sync"]
    assert {h: run.recap(h)["failed"] for h in HOSTS} == {"h1": 0, "h2": 1, "h3": 0}
    failed = [r for r in run.records if r["task"] == "Fail every host that drifted" and r["status"] == "failed"]
    assert [(r["host"], r["result"]["msg"]) for r in failed] == [("h2", lines[1])]
    with open(report_file) as f:
        report = json.load(f)
    assert report["hosts"] == 3 and report["in_sync"] == ["h1", "h3"] and report["not_checked"] == []
    assert list(report["drifted"]) == ["h2"] and report["lines"] == lines
    drifted = report["drifted"]["h2"]
    assert [(c["action"], c["target"]) for c in drifted["changes"]] == [("mount", cache)]
    assert drifted["unhealthy"] == ["app"] and drifted["errors"] == [] and drifted["in_sync"] is False
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", report["generated_at"])
    # Report only: the same drift, exit status 0.
    quiet = _drift(scratch, inv, livemount_drift_fail=False)
    assert quiet.rc == 0 and quiet.result("Summary, one line per host")["msg"] == lines


def test_drift_resolves_as_the_role_does(scratch, tmp_path):
    """drift.yml plans the profiles the role applied: a profile file (templated) and a per-host override,
    resolved as its one task on each host reads them, with no task of their own on any host."""
    profile_file = tmp_path / "app.yml.j2"
    profile_file.write_text(yaml.safe_dump(PROFILE))
    inv = _fleet(scratch, mounts_profiles=[{"src": str(profile_file)}])
    assert _rollout(scratch, inv).rc == 0
    in_sync = _drift(scratch, inv)
    assert in_sync.rc == 0, in_sync.stdout
    assert in_sync.result("Summary, one line per host")["msg"] == ["h1: in sync", "h2: in sync", "h3: in sync"]
    # On each host in sync, the plan is the only task a worker ran for it (run_once tasks run for one host).
    for h in ("h2", "h3"):
        assert [r["task"] for r in in_sync.records if r["host"] == h] == ["Plan every profile (check mode)"]
    # An override for h3 alone (the cache's size) is drift of h3's only.
    overrides = {"app": {"mounts": [dict(PROFILE["mounts"][0], options=["size=2m"]), PROFILE["mounts"][1]]}}
    with open(inv) as f:
        fleet = yaml.safe_load(f)
    fleet["all"]["hosts"]["h3"]["mounts_profile_overrides"] = overrides
    with open(inv, "w") as f:
        yaml.safe_dump(fleet, f)
    drifted = _drift(scratch, inv, livemount_drift_fail=False)
    cache = os.path.join(scratch, "h3", "mnt", "cache")
    assert drifted.result("Summary, one line per host")["msg"] == [
        "h1: in sync", "h2: in sync", "h3: drifted: 1 change(s): remount %s" % cache], drifted.stdout
