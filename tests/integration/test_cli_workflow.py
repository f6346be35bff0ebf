"""The terraform-like workflow of the CLI on the real kernel: saved plans, apply what was shown, history and
rollback, an honest destroy, unknown names, --target.

Each CLI run is a subprocess in the test's private mount namespace; the
terminal cases run in a real pseudo-terminal (pexpect).
"""

import json
import os
import re

import pexpect
import pytest

from tests.integration.helpers import (check_live, cli, cli_command, cli_env, cli_json, hand_mount, hand_umount,
                                       make_tree, mount_points, profile_dict, snapshot, state_dir, write_profile)

V1 = [
    {"target": "@/m/data", "type": "bind", "source": "@/s", "options": ["ro"]},
    {"target": "@/m/cache", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/m/ln", "type": "symlink", "source": "@/s"},
]
# The second version: the cache grows, the link goes, a tmpfs with a bind inside arrives.
V2 = [
    {"target": "@/m/data", "type": "bind", "source": "@/s", "options": ["ro"]},
    {"target": "@/m/cache", "type": "tmpfs", "options": ["size=2m"]},
    {"target": "@/m/run", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/m/run/inner", "type": "bind", "source": "@/s2"},
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _files(scratch, entries=V1, name="test"):
    make_tree(scratch, ["s/f=1", "s2/g=2"])
    data = profile_dict(scratch, entries, name=name)
    return data, write_profile(scratch, data, name=name)


def _spawn(scratch, *argv, columns=80):
    """Return a pexpect child running livemount in a terminal of `columns` columns, colour off."""
    cmd = cli_command(scratch, *argv)
    return pexpect.spawn(cmd[0], cmd[1:], env=cli_env({"COLUMNS": str(columns)}), encoding="utf-8", timeout=60,
                         dimensions=(50, columns))


def _finish(child):
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def _words(text):
    return " ".join(text.split())


# ---- saved plans -------------------------------------------------------------------------------------------------

def test_saved_plan_applies_exactly_what_it_says(scratch):
    """plan --out FILE, then apply FILE (no --yes, no terminal: a saved plan was reviewed): the table is the profile's."""
    data, path = _files(scratch)
    plan_file = os.path.join(scratch, "web.plan")
    proc = cli(scratch, "plan", "--out", plan_file, path)
    assert proc.returncode == 0 and "Saved the plan to %s" % plan_file in proc.stderr
    assert oct(os.stat(plan_file).st_mode & 0o777) == "0o600"
    with open(plan_file, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["format"] == "livemount-plan" and doc["body"]["profile_data"] == data
    assert not os.path.lexists(state_dir(scratch)) or not os.listdir(state_dir(scratch))
    proc = cli(scratch, "apply", plan_file)
    assert proc.returncode == 0, proc.stderr
    assert "Applying the plan for test" in proc.stderr and "Applied: 6 done" in proc.stderr
    assert check_live(scratch, data) == []


CHANGES = [
    # (id, what happens between plan --out and apply FILE, words the refusal has)
    ("foreign-mount-below", lambda s: hand_mount("-t", "tmpfs", "intruder", os.path.join(s, "m/data")),
     "a mount appeared: @/m/data tmpfs intruder"),
    ("unmounted-by-hand", lambda s: hand_umount(os.path.join(s, "m/cache")), "a mount went away: @/m/cache tmpfs"),
    ("remounted-by-hand", lambda s: hand_mount("-o", "remount,bind,rw", os.path.join(s, "m/data")),
     "the mount on @/m/data changed: was "),
]


@pytest.mark.parametrize("change, words", [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_saved_plan_refused_after_the_live_table_changed(scratch, change, words):
    """apply FILE after the live table changed: exit 1 naming the change, nothing touched, the plan not applied."""
    data, path = _files(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    v2 = profile_dict(scratch, V2)
    plan_file = os.path.join(scratch, "v2.plan")
    assert cli(scratch, "plan", "--out", plan_file, write_profile(scratch, v2)).returncode == 0
    change(scratch)
    before, state = snapshot(scratch), os.listdir(state_dir(scratch))
    proc = cli(scratch, "apply", plan_file)
    assert proc.returncode == 1
    err = proc.stderr.replace(scratch, "@")
    assert "error: cannot apply the plan for test: what it was made from changed since: " in err
    assert words in err, err
    assert "hint: nothing was changed; make the plan again" in err
    assert snapshot(scratch) == before and os.listdir(state_dir(scratch)) == state
    code, doc, _ = cli_json(scratch, "apply", "--json", plan_file)
    assert code == 1 and doc["error"]["kind"] == "StalePlanError" and doc["error"]["differences"]


def test_saved_plan_refused_after_a_directory_it_saw_empty_got_a_file(scratch):
    """An apply opens no directory to see whether it is empty; checking a saved plan still does (fingerprint.take):
    a file written into the cache tmpfs since the plan refuses it, naming the directory, and the file stays."""
    data, path = _files(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    plan_file = os.path.join(scratch, "v2.plan")
    assert cli(scratch, "plan", "--out", plan_file, write_profile(scratch, profile_dict(scratch, V2))).returncode == 0
    written = os.path.join(scratch, "m", "cache", "new")
    with open(written, "w") as f:
        f.write("a service wrote this since the plan\n")
    before = snapshot(scratch)
    proc = cli(scratch, "apply", plan_file)
    assert proc.returncode == 1
    err = proc.stderr.replace(scratch, "@")
    assert re.search(r"path @/m/cache changed: was dir \S+ \S+ dev \S+ empty, now dir \S+ \S+ dev \S+ not empty", err), err
    assert snapshot(scratch) == before and os.path.isfile(written)


def test_a_tampered_plan_file_is_refused(scratch):
    """A saved plan edited by hand does not check out: refused whole, nothing applied."""
    data, path = _files(scratch)
    plan_file = os.path.join(scratch, "p.plan")
    cli(scratch, "plan", "--out", plan_file, path)
    with open(plan_file, encoding="utf-8") as f:
        text = f.read()
    with open(plan_file, "w", encoding="utf-8") as f:
        f.write(text.replace("size=1m", "size=9m"))
    proc = cli(scratch, "apply", plan_file)
    assert proc.returncode == 1 and "cannot read plan %s: checksum mismatch" % plan_file in proc.stderr
    assert not os.path.lexists(os.path.join(scratch, "m"))


def test_interactive_apply_applies_the_plan_it_showed(scratch):
    """On a terminal: the plan is shown and confirmed; a change made before the answer is caught, not re-planned."""
    data, path = _files(scratch)
    child = _spawn(scratch, "apply", path)
    child.expect(r"Apply 6 changes to mnt:\[\d+\]\? \[y/N\] ")
    os.makedirs(os.path.join(scratch, "m/data"))
    hand_mount("-t", "tmpfs", "intruder", os.path.join(scratch, "m/data"))  # after the plan, before the answer
    child.sendline("y")
    status = _finish(child)
    text = _words(ANSI.sub("", child.before)).replace(scratch, "@")
    assert status == 1
    assert "what it was made from changed since: a mount appeared: @/m/data tmpfs intruder" in text
    assert not os.path.lexists(os.path.join(scratch, "m/cache")) and not os.path.lexists(os.path.join(scratch, "m/ln"))


# ---- history and rollback ------------------------------------------------------------------------------------------

def test_rollback_restores_the_previous_profiles_table(scratch):
    """apply v1, apply v2, rollback: the table is v1's again exactly; history lists the three applies."""
    v1, path = _files(scratch)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    table_v1 = snapshot(scratch)
    v2 = profile_dict(scratch, V2)
    assert cli(scratch, "apply", "--yes", write_profile(scratch, v2)).returncode == 0
    assert check_live(scratch, v2) == []
    code, doc, _ = cli_json(scratch, "history", "--json", "test")
    assert code == 0 and [r["number"] for r in doc["records"]] == [1, 2]
    assert doc["records"][0]["profile"] == v1 and doc["records"][1]["profile"] == v2
    proc = cli(scratch, "rollback", "test")
    assert proc.returncode == 1 and "pass --yes to roll back" in proc.stderr  # no terminal, no --yes
    proc = cli(scratch, "rollback", "--yes", "test")
    assert proc.returncode == 0, proc.stderr
    assert "Rolling test back to record 1" in proc.stderr and "Rolled back:" in proc.stderr
    assert check_live(scratch, v1) == [] and snapshot(scratch) == table_v1
    history = cli(scratch, "history", "test", env={"COLUMNS": "200"}).stdout
    assert "3 records" in history and "goes back to record 2" in history
    proc = cli(scratch, "rollback", "--yes", "--to", "7", "test")
    assert proc.returncode == 1 and "the history has no record 7 (it has 1, 2, 3)" in proc.stderr


def test_rollback_of_a_destroyed_profile(scratch):
    """After destroy, status says the name is gone and rollback applies its last profile again."""
    v1, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    v2 = profile_dict(scratch, V2)
    cli(scratch, "apply", "--yes", write_profile(scratch, v2))
    assert cli(scratch, "destroy", "--yes", "test").returncode == 0
    proc = cli(scratch, "status", "test")
    assert proc.returncode == 1 and "it was destroyed: `livemount rollback test`" in _words(proc.stderr)
    assert "No profile has state" in cli(scratch, "status").stdout
    assert cli(scratch, "rollback", "--yes", "--to", "2", "test").returncode == 0
    assert check_live(scratch, v2) == []


# ---- destroy --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, status", [("n", 1), ("y", 0)], ids=["no", "yes"])
def test_destroy_shows_and_asks_on_a_terminal(scratch, answer, status):
    """destroy on a terminal: the plan titled Destroy, then `Destroy test in mnt:[...]: ...? [y/N]`."""
    data, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    before = snapshot(scratch)
    child = _spawn(scratch, "destroy", "test")
    child.expect(r"Destroy test in mnt:\[\d+\]")
    child.expect(r"Destroy test in mnt:\[\d+\]: 2 to unmount, 1 to unlink, 3 to remove\? \[y/N\] ")
    child.sendline(answer)
    assert _finish(child) == status
    text = ANSI.sub("", child.before)
    if status:
        assert "nothing changed" in text and snapshot(scratch) == before
    else:
        assert "Destroyed: 6 done" in text and not os.path.lexists(os.path.join(scratch, "m"))


def test_destroy_without_a_terminal_needs_yes(scratch):
    """destroy with no terminal and no --yes: refused, nothing changed."""
    data, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    before = snapshot(scratch)
    proc = cli(scratch, "destroy", "test")
    assert proc.returncode == 1 and "stdin is not a terminal; pass --yes to destroy" in proc.stderr
    assert snapshot(scratch) == before


def test_destroy_that_fails_says_what_was_done(scratch):
    """A busy mount stops destroy: nothing is claimed done, what was rolled back is listed, the hint says destroy."""
    data, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    before = snapshot(scratch)
    proc = cli(scratch, "destroy", "--yes", "test", env={"LIVEMOUNT_FAILPOINT": "3:EBUSY"})
    assert proc.returncode == 1
    out, err = proc.stdout, proc.stderr
    assert out.count("Destroy test in") == 1 and "Done" not in out + err and "Destroyed" not in err
    assert "operation(s), nothing changed" in err and "rolled back:" in err
    assert "then destroy again" in err or "and destroy again" in err
    assert snapshot(scratch) == before


def test_destroy_of_a_child_inside_a_tmpfs_says_cleanup(scratch):
    """The directory made inside a tmpfs that goes: labelled cleanup, not `parent rebuilt`, and not cut off."""
    data, path = _files(scratch, V2)
    cli(scratch, "apply", "--yes", path)
    proc = cli(scratch, "destroy", "--check", "test", env={"COLUMNS": "200"})
    text = proc.stdout.replace(scratch, "@")
    assert "parent rebuilt" not in text
    assert re.search(r"│ @/m/run/inner\s+│ directory\s+│ cleanup\s+│", text), text


# ---- names ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["destroy", "--yes", "yyy"], ["destroy", "--check", "yyy"], ["status", "yyy"],
                                  ["history", "yyy"], ["rollback", "--yes", "yyy"]],
                         ids=["destroy", "destroy-check", "status", "history", "rollback"])
def test_unknown_names_are_errors(scratch, argv):
    """A typo of a profile name: exit 1, `no profile named yyy in mnt:[...] (known: test)`, no file written."""
    data, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    key = os.listdir(state_dir(scratch))[0]
    files = sorted(os.listdir(os.path.join(state_dir(scratch), key)))
    proc = cli(scratch, *argv)
    assert proc.returncode == 1
    assert re.search(r"no profile named yyy in mnt:\[\d+\] \(known: test\)", _words(proc.stderr)), proc.stderr
    assert sorted(os.listdir(os.path.join(state_dir(scratch), key))) == files  # no yyy.lock


# ---- --target -------------------------------------------------------------------------------------------------------

def test_target_applies_and_destroys_part_of_a_profile(scratch):
    """--target @/m/run on apply: the tmpfs and its bind only; destroy --target @/m/cache: that entry only."""
    v1, path = _files(scratch)
    cli(scratch, "apply", "--yes", path)
    v2 = profile_dict(scratch, V2)
    v2_path = write_profile(scratch, v2)
    code, doc, _ = cli_json(scratch, "plan", "--json", "--target", os.path.join(scratch, "m/run"), v2_path)
    assert {c["target"].replace(scratch, "@") for c in doc["changes"] if c["action"] != "keep"} == {
        "@/m/run", "@/m/run/inner"}
    assert cli(scratch, "apply", "--yes", "--target", os.path.join(scratch, "m/run"), v2_path).returncode == 0
    points = [p.replace(scratch, "@") for p in mount_points(scratch)]
    assert points == ["@/m/cache", "@/m/data", "@/m/run", "@/m/run/inner"]
    assert os.path.islink(os.path.join(scratch, "m/ln"))  # not targeted: still there
    assert cli(scratch, "destroy", "--yes", "--target", os.path.join(scratch, "m/cache"), "test").returncode == 0
    assert [p.replace(scratch, "@") for p in mount_points(scratch)] == ["@/m/data", "@/m/run", "@/m/run/inner"]
    proc = cli(scratch, "plan", "--target", os.path.join(scratch, "nowhere"), v2_path)
    assert proc.returncode == 1 and "no entry of profile test is at, above or below it" in _words(proc.stderr)


# ---- overlay asides ---------------------------------------------------------------------------------------------------

def test_overlay_asides_are_listed_and_pruned_once_unused(scratch):
    """A layer change keeps the old upper/work aside: the confirmation says so, status lists them with sizes,
    prune keeps them while the old overlay is still mounted somewhere and removes them after."""
    make_tree(scratch, ["l1/a=1", "l2/b=2", "up/", "wk/"])
    ov = {"target": "@/m/root", "type": "overlay", "lower": ["@/l1"], "upper": "@/up", "work": "@/wk"}
    v1 = profile_dict(scratch, [ov])
    assert cli(scratch, "apply", "--yes", write_profile(scratch, v1)).returncode == 0
    with open(os.path.join(scratch, "m/root/written"), "w") as f:
        f.write("x" * 10000)  # lands in the upper: the aside weighs it
    keep = os.path.join(scratch, "keep")
    os.makedirs(keep)
    hand_mount("--bind", os.path.join(scratch, "m/root"), keep)  # the old overlay stays mounted here
    v2 = profile_dict(scratch, [dict(ov, lower=["@/l2", "@/l1"])])
    v2_path = write_profile(scratch, v2)
    child = _spawn(scratch, "apply", v2_path, columns=200)
    child.expect(r"note: replacing overlay \S+/m/root keeps its old upper and work aside")
    child.expect(r"\[y/N\] ")
    child.sendline("y")
    assert _finish(child) == 0
    code, doc, _ = cli_json(scratch, "status", "--json")
    asides = doc["profiles"][0]["asides"]
    assert sorted(a["role"] for a in asides) == ["upper", "work"]
    upper = [a for a in asides if a["role"] == "upper"][0]
    assert upper["origin"] == os.path.join(scratch, "up") and upper["bytes"] >= 10000
    assert "kept aside" in cli(scratch, "status", env={"COLUMNS": "200"}).stdout
    code, doc, _ = cli_json(scratch, "overlay", "prune", "--check", "--json")
    assert doc["removed"] == [] and len(doc["kept"]) == 2
    assert all("still mounted: %s in mnt:[" % keep in k["why"] for k in doc["kept"])
    hand_umount(keep)
    proc = cli(scratch, "overlay", "prune")
    assert proc.returncode == 1 and "pass --yes to prune" in proc.stderr
    proc = cli(scratch, "overlay", "prune", "--yes")
    assert proc.returncode == 0 and "Pruned: 2 directories removed" in proc.stderr
    assert not os.path.exists(upper["path"]) and sorted(os.listdir(scratch)).count("up") == 1
    assert check_live(scratch, v2) == []
    assert "No old upper or work is kept aside" in cli(scratch, "overlay", "prune", "--check").stdout
