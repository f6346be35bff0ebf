"""mount_profile `enabled:` through real ansible-playbook runs: the copy systemd applies at boot, with check and diff.

The enabled copies go to <scratch>/etc (LIVEMOUNT_CONFIG_DIR, set by
playbook.run), the fstab checked is <scratch>/fstab (LIVEMOUNT_FSTAB).
"""

import json
import os

from . import playbook


def _profile(s):
    os.makedirs(os.path.join(s, "src"), exist_ok=True)
    return {"name": "durable", "mounts": [
        {"target": s + "/mnt/cache", "type": "tmpfs", "options": ["size=1m"]},
        {"target": s + "/mnt/data", "type": "bind", "source": s + "/src"}]}


def _task(title, **args):
    return {"name": title, "livemount.core.mount_profile": args, "register": "out"}


def _copy(s):
    path = os.path.join(s, "etc", "enabled", "durable.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["body"]["profile_data"]


def test_enabled_check_diff_apply_idempotent(scratch):
    """--check --diff predicts mounts and the enabled copy and writes neither; the real run does both; again: ok."""
    prof = _profile(scratch)
    check = playbook.run(playbook.play([_task("enable", profile=prof, enabled=True)]), scratch, check=True, diff=True)
    assert check.rc == 0, check.stdout
    res = check.result("enable")
    assert res["changed"] and res["enabled_copy"]["changed"] and res["enabled_copy"]["mode"] == "check"
    assert "enabled copy of durable (after)" in check.stdout and "+tmpfs %s/mnt/cache tmpfs" % scratch in check.stdout
    assert _copy(scratch) is None and scratch + "/mnt/cache" not in playbook.mountinfo_targets()
    run = playbook.run(playbook.play([_task("enable", profile=prof, enabled=True),
                                      _task("again", profile=prof, enabled=True)]), scratch)
    assert run.rc == 0, run.stdout
    assert run.result("enable")["enabled_copy"]["changed"] and not run.result("again")["changed"]
    assert _copy(scratch) == prof and scratch + "/mnt/cache" in playbook.mountinfo_targets()
    assert any("boot units are not installed" in w for w in run.result("enable").get("warnings", []))


def test_fstab_line_fails_the_task_before_anything_is_mounted(scratch):
    """An fstab line for a target: the task fails naming it, nothing mounted, nothing enabled."""
    prof = _profile(scratch)
    with open(os.path.join(scratch, "fstab"), "w") as f:
        f.write("tmpfs %s/mnt/cache tmpfs defaults 0 0\n" % scratch)
    run = playbook.run(playbook.play([_task("enable", profile=prof, enabled=True)]), scratch)
    res = run.result("enable")
    assert run.rc != 0, res
    assert "line 1 also mounts %s/mnt/cache" % scratch in res["msg"]
    assert res["fstab"][0]["line"] == 1
    assert _copy(scratch) is None and scratch + "/mnt/cache" not in playbook.mountinfo_targets()


def test_simulated_reboot_and_absent(scratch):
    """absent + enabled keeps the copy (a simulated reboot's first half); from_enabled puts it back; absent disables."""
    prof = _profile(scratch)
    run = playbook.run(playbook.play([
        _task("enable", profile=prof, enabled=True),
        _task("unmount, keep enabled", name="durable", state="absent", enabled=True),
        _task("as at boot", name="durable", from_enabled=True),
        {"name": "info", "livemount.core.mount_profile_info": {"name": "durable"}, "register": "info"},
        _task("gone", name="durable", state="absent"),
    ]), scratch)
    assert run.rc == 0, run.stdout
    kept = run.result("unmount, keep enabled")
    assert kept["changed"] and "enabled_copy" not in kept
    assert run.result("as at boot")["changed"]
    (info,) = run.result("info")["profiles"]
    assert info["healthy"] and info["profile_data"] == prof
    gone = run.result("gone")
    assert gone["changed"] and gone["enabled_copy"] == {"action": "disable", "changed": True, "mode": "apply",
                                                        "path": os.path.join(scratch, "etc/enabled/durable.json"),
                                                        "profile": "durable"}
    assert _copy(scratch) is None and scratch + "/mnt/cache" not in playbook.mountinfo_targets()
