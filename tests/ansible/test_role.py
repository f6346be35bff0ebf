"""Role livemount.core.mounts and module mount_profile_info through real ansible-playbook runs."""

import os
import subprocess
import sys

import pytest
import yaml

from . import playbook


def _role_play(s, handlers=True, **role_vars):
    tasks = [{"name": "role", "ansible.builtin.include_role": {"name": "livemount.core.mounts"}, "vars": role_vars}]
    hs = [{"name": "restart app", "ansible.builtin.file": {"path": s + "/restarted", "state": "touch"}}]
    return playbook.play(tasks, handlers=hs if handlers else ())


def _profile_file(s):
    path = os.path.join(s, "db.yml")
    with open(path, "w") as f:
        yaml.safe_dump({"name": "db", "mounts": [
            {"target": "{{ db_root }}/run", "type": "tmpfs", "options": ["size=1m"]}]}, f)
    return path


def _verify_play(prof):
    """Return a play that runs only the role's resolve and verify tasks (tasks_from) for profile `prof`."""
    return playbook.play([{"name": step, "ansible.builtin.include_role": {
        "name": "livemount.core.mounts", "tasks_from": step}, "vars": {"mounts_profiles": [prof]}}
        for step in ("resolve", "verify")])


def test_role_resolves_validates_applies_verifies_notifies(scratch):
    """Inline, file and extra profiles with an override are applied; the handler runs only on change."""
    s = scratch
    role_vars = {
        "mounts_profiles": [{"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs",
                                                           "options": ["size=1m"]}]},
                               {"src": _profile_file(s)}],
        "mounts_profiles_extra": [{"name": "logs", "mounts": [{"target": s + "/logs", "type": "tmpfs"}]}],
        "mounts_profile_overrides": {"web": {"mounts": [{"target": s + "/web", "type": "tmpfs",
                                                            "options": ["size=2m"]}]}},
        "mounts_notify": ["restart app"],
        "db_root": s + "/db",
    }
    run = playbook.run(_role_play(s, **role_vars), s)
    assert run.rc == 0, run.stdout
    table = playbook.mountinfo_targets()
    assert "size=2048k" in table[s + "/web"][-1]["super"]  # the override won
    assert s + "/db/run" in table and s + "/logs" in table
    assert os.path.exists(s + "/restarted")
    # Verified from each apply's own result (verify): healthy; enabled from the very profile applied.
    applied = run.results("livemount.core.mounts : Apply the profiles")
    assert [(r["item"]["name"], r["health"]["healthy"], r["enabled_copy"]["action"]) for r in applied] == [
        ("web", True, "enable"), ("db", True, "enable"), ("logs", True, "enable")], run.stdout[-4000:]
    assert sorted(os.listdir(os.path.join(s, "etc", "enabled"))) == ["db.json", "logs.json", "web.json"]
    os.unlink(s + "/restarted")
    again = playbook.run(_role_play(s, **role_vars), s)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.stdout
    assert not os.path.exists(s + "/restarted"), "the handler ran without a change"


@pytest.mark.parametrize("bad, why", [
    ({"name": "bad", "mounts": [{"target": "relative", "type": "tmpfs"}]}, "target"),
    ({"name": "bad", "mounts": [{"target": "/x", "type": "rbind", "source": "/y"}]}, "type"),
    ({"mounts": []}, "without a name"),
], ids=["relative-target", "not-a-type", "no-name"])
def test_role_validates_every_profile_before_applying_any(scratch, bad, why):
    """One invalid profile stops the role before the valid one before it is applied."""
    good = {"name": "good", "mounts": [{"target": scratch + "/good", "type": "tmpfs"}]}
    run = playbook.run(_role_play(scratch, mounts_profiles=[good, bad]), scratch)
    assert run.rc != 0
    assert why in run.stdout
    assert scratch + "/good" not in playbook.mountinfo_targets()
    # Every item failed on the controller (validate_all): none reached the host, so none has a plan.
    applied = run.results("livemount.core.mounts : Apply the profiles")
    assert len(applied) == 2 and all(r["failed"] and "changes" not in r for r in applied), run.stdout[-3000:]


def test_role_fails_host_when_verification_fails(scratch):
    """An owned mount removed behind livemount's back fails verification on a verify-only run."""
    s = scratch
    prof = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs"}]}
    assert playbook.run(_role_play(s, handlers=False, mounts_profiles=[prof]), s).rc == 0
    subprocess.run(["umount", s + "/web"], check=True)
    info = playbook.play([{"name": "info", "livemount.core.mount_profile_info": {"name": "web"}, "register": "i"}])
    health = playbook.run(info, s, check=True).result("info")
    assert health["changed"] is False
    assert health["profiles"][0]["healthy"] is False
    assert health["profiles"][0]["entries"][0]["health"] == "missing"
    assert health["profiles"][0]["profile_data"] == prof
    # The role's verify step alone (tasks_from) reports it and fails the host.
    verify = _verify_play(prof)
    run = playbook.run(verify, s)
    assert run.rc != 0
    assert "cannot verify profile web: %s/web missing" % s in run.stdout


def test_role_fails_host_when_the_enabled_copy_would_not_come_back(scratch):
    """An enabled copy that differs from the live table (enabled by hand since): the reboot check fails the host."""
    s = scratch
    prof = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs"}]}
    assert playbook.run(_role_play(s, handlers=False, mounts_profiles=[prof]), s).rc == 0
    other = os.path.join(s, "other.yml")
    with open(other, "w") as f:
        yaml.safe_dump(dict(prof, mounts=prof["mounts"] + [{"target": s + "/web2", "type": "tmpfs"}]), f)
    done = subprocess.run([sys.executable, "-m", "livemount_cli.main", "--config-dir", os.path.join(s, "etc"),
                           "enable", other], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    verify = _verify_play(prof)
    run = playbook.run(verify, s)
    assert run.rc != 0
    assert "cannot verify that the profiles come back after a reboot: profile web: the enabled copy differs from " \
           "the live table: 2 pending changes, 0 conflicts, 0 fstab lines;" in " ".join(run.stdout.split()), run.stdout[-3000:]


@pytest.mark.parametrize("path, expect_targets", [
    (None, True), ("/nonexistent", False)], ids=["all-mounts", "path-filter"])
def test_info_lists_mounts_with_owner(scratch, path, expect_targets):
    """mount_profile_info returns every live mount with its owning profile, optionally under a path."""
    s = scratch
    prof = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs", "options": ["size=1m"]}]}
    args = {"path": path} if path else {}
    run = playbook.run(playbook.play([
        {"name": "apply", "livemount.core.mount_profile": prof},
        {"name": "info", "livemount.core.mount_profile_info": args}]), s)
    assert run.rc == 0, run.stdout
    info = run.result("info")
    ours = [m for m in info["mounts"] if m["target"] == s + "/web"]
    assert bool(ours) is expect_targets
    if ours:
        assert ours[0]["owner"] == "web" and ours[0]["fstype"] == "tmpfs"
        assert ours[0]["fs_options"]["size"] in ("1048576", "1024k", "1m")
    assert info["namespace"].startswith("mnt:[")
    assert info["profiles"][0]["healthy"] is True


def test_role_removes_profile_marked_absent(scratch):
    """A profile item with state absent is removed and not verified; the others stay."""
    s = scratch
    web = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs"}]}
    logs = {"name": "logs", "mounts": [{"target": s + "/logs", "type": "tmpfs"}]}
    assert playbook.run(_role_play(s, handlers=False, mounts_profiles=[web, logs]), s).rc == 0
    run = playbook.run(_role_play(s, handlers=False, mounts_profiles=[{"name": "web", "state": "absent"}, logs]), s)
    assert run.rc == 0, run.stdout
    table = playbook.mountinfo_targets()
    assert s + "/web" not in table and s + "/logs" in table
    applied = run.results("livemount.core.mounts : Apply the profiles")
    assert [(r["item"]["name"], r["health"]["healthy"]) for r in applied] == [("web", True), ("logs", True)]


def test_role_reads_deprecated_livemount_names(scratch):
    """The pre-0.2.0 names (livemount_profiles...) still drive the role, with one [DEPRECATED] line naming them."""
    s = scratch
    prof = {"name": "web", "mounts": [{"target": s + "/web", "type": "tmpfs"}]}
    run = playbook.run(_role_play(s, livemount_profiles=[prof], livemount_notify=["restart app"]), s)
    assert run.rc == 0, run.stdout
    assert s + "/web" in playbook.mountinfo_targets()
    assert os.path.exists(s + "/restarted")
    warned = [line for line in run.stdout.splitlines() if "[DEPRECATED]" in line]
    assert len(warned) == 1 and "livemount_notify, livemount_profiles" in warned[0], run.stdout
    assert "mounts_notify, mounts_profiles" in warned[0]
    # The new name wins over the old one; no deprecation line without an old name.
    new = playbook.run(_role_play(s, mounts_profiles=[prof], livemount_profiles=[]), s)
    assert new.rc == 0 and s + "/web" in playbook.mountinfo_targets()
    clean = playbook.run(_role_play(s, mounts_profiles=[prof]), s)
    assert clean.rc == 0 and "[DEPRECATED]" not in clean.stdout
