"""The `livemount` command end to end, as a subprocess in the test's namespace.

Exit statuses (0 ok, 1 error, 2 changes pending with plan
--detailed-exitcode), the --json shapes, the refusal to apply without --yes
when nobody can answer, validate's problem reports, status health, fstab
import, schema, and the demo.
"""

import json
import os
import re
import sys

import pexpect
import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from tests.integration.helpers import (check_live, cli, cli_command, cli_env, cli_json, hand_mount, hand_umount,
                                       make_tree, profile_dict, read_table, snapshot, state_dir, write_profile)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BAD = os.path.join(REPO, "tests", "fixtures", "profiles", "bad")
FSTAB = os.path.join(REPO, "tests", "fixtures", "fstab", "sample.fstab")

ENTRIES = [
    {"target": "@/m/b", "type": "bind", "source": "@/s", "options": ["ro"]},
    {"target": "@/m/t", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/m/ln", "type": "symlink", "source": "@/s"},
]


def _setup(scratch, entries=ENTRIES):
    """Return (profile dict, profile path) with the source tree made."""
    make_tree(scratch, ["s/f=1", "s2/"])
    data = profile_dict(scratch, entries)
    return data, write_profile(scratch, data)


def _words(text):
    """Return `text` with every run of blanks (rich wraps long lines) made one space."""
    return " ".join(text.split())


# ---- exit statuses ----------------------------------------------------------------

def _foreign(scratch, path):
    hand_mount("-t", "tmpfs", "other", os.path.join(scratch, "m/b"))


def _applied(scratch, path):
    assert cli(scratch, "apply", "--yes", path).returncode == 0


def _nothing(scratch, path):
    pass


def _make_target_dir(scratch, path):
    os.makedirs(os.path.join(scratch, "m/b"))
    _foreign(scratch, path)


EXITS = [
    # (id, prepare, argv (PROFILE is replaced), env, exit status)
    ("validate-ok", _nothing, ["validate", "PROFILE"], None, 0),
    ("plan-pending", _nothing, ["plan", "PROFILE"], None, 0),
    ("plan-detailed-pending", _nothing, ["plan", "--detailed-exitcode", "PROFILE"], None, 2),
    ("plan-detailed-none", _applied, ["plan", "--detailed-exitcode", "PROFILE"], None, 0),
    ("apply", _nothing, ["apply", "--yes", "PROFILE"], None, 0),
    ("apply-again", _applied, ["apply", "--yes", "PROFILE"], None, 0),
    ("apply-conflict", _make_target_dir, ["apply", "--yes", "PROFILE"], None, 1),
    ("plan-conflict", _make_target_dir, ["plan", "--detailed-exitcode", "PROFILE"], None, 1),
    ("apply-failed", _nothing, ["apply", "--yes", "PROFILE"], {failpoint.ENV: "3:EIO"}, 1),
    ("destroy", _applied, ["destroy", "--yes", "test"], None, 0),
    ("destroy-unknown", _nothing, ["destroy", "--yes", "nobody"], None, 1),
    ("destroy-without-yes", _applied, ["destroy", "test"], None, 1),
    ("status-unknown", _applied, ["status", "nobody"], None, 1),
    ("status-ok", _applied, ["status"], None, 0),
    ("usage-error", _nothing, ["frobnicate"], None, 1),
    ("missing-file", _nothing, ["plan", "/nonexistent/profile.yaml"], None, 1),
]


@pytest.mark.parametrize("prepare, argv, env, status", [e[1:] for e in EXITS], ids=[e[0] for e in EXITS])
def test_exit_status(scratch, prepare, argv, env, status):
    """Each command exits 0 when fine, 1 on any error, 2 only for plan --detailed-exitcode with changes."""
    data, path = _setup(scratch)
    prepare(scratch, path)
    proc = cli(scratch, *[path if a == "PROFILE" else a for a in argv], env=env)
    assert proc.returncode == status, proc.stderr
    if status == 1:
        assert re.search(r"error: (cannot |entry |argument )", proc.stderr), proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", sorted(os.listdir(BAD)), ids=[n.rsplit(".", 1)[0] for n in sorted(os.listdir(BAD))])
def test_invalid_profile(scratch, name):
    """apply of a bad fixture exits 1 touching nothing; validate --json names index, target, field and message."""
    path = os.path.join(BAD, name)
    with open(path, encoding="utf-8") as f:
        expected = [[x.strip() for x in line[len("# expect:"):].split("|")]
                    for line in f if line.startswith("# expect:")]
    proc = cli(scratch, "apply", "--yes", path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    code, doc, err = cli_json(scratch, "validate", "--json", path)
    assert code == 1
    problems = doc["error"]["problems"]
    for index, target, field, message in expected:
        assert any(str(p["index"]) == index.replace("-", "None") and (target == "-" or _show(p["target"]) == target)
                   and (field == "-" or p["field"] == field) and message in p["message"] for p in problems), \
            (index, target, field, message, problems)
    assert not os.path.lexists(state_dir(scratch))


def _show(text):
    """Return `text` with control characters written \\xNN, as the fixtures' expect lines do."""
    return re.sub("[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), text)


# ---- JSON --------------------------------------------------------------------------

def test_json_shapes(scratch):
    """plan, apply and destroy --json: changed, changes[action, target, reason]; errors add an error object."""
    data, path = _setup(scratch)
    for argv, changed in ((["plan", "--json", path], True), (["apply", "--yes", "--json", path], True),
                          (["plan", "--json", path], False), (["destroy", "--yes", "--json", "test"], True)):
        code, doc, err = cli_json(scratch, *argv)
        assert code == 0, err
        assert doc["changed"] is changed
        assert doc["changes"], argv
        for c in doc["changes"]:
            assert {"action", "target", "reason"} <= set(c)
            assert all(isinstance(c[k], str) for k in c if k not in ("adopt", "before", "after"))
            if c["action"] in ("mount", "link", "unmount", "unlink", "remount", "replace"):  # what the step changes
                assert set(c) >= {"before", "after"} and (c["before"] or c["after"])["target"] == c["target"]
    _make_target_dir(scratch, path)
    code, doc, err = cli_json(scratch, "apply", "--yes", "--json", path)
    assert code == 1
    assert doc["error"]["kind"] == "PlanError" and doc["error"]["message"].startswith("cannot ")
    assert [c["target"] for c in doc["conflicts"]] == [os.path.join(scratch, "m/b")]


# ---- confirmation --------------------------------------------------------------------

def test_apply_without_yes_and_no_terminal_changes_nothing(scratch):
    """apply without --yes, stdin not a terminal: exit 1 saying to pass --yes; no mount, no file, no state."""
    data, path = _setup(scratch)
    before, files = snapshot(scratch), sorted(os.listdir(scratch))
    proc = cli(scratch, "apply", path)
    assert proc.returncode == 1
    assert "--yes" in proc.stderr and "not a terminal" in proc.stderr
    assert (snapshot(scratch), sorted(os.listdir(scratch))) == (before, files)
    assert not os.path.lexists(state_dir(scratch))


@pytest.mark.parametrize("answer, status", [("n", 1), ("", 1), ("y", 0)], ids=["no", "default-no", "yes"])
def test_apply_asks_on_a_terminal(scratch, answer, status):
    """On a terminal apply shows the plan and asks; only y applies."""
    data, path = _setup(scratch)
    child = pexpect.spawn(sys.executable, cli_command(scratch, "apply", path)[1:], env=cli_env(), encoding="utf-8",
                          timeout=60)
    child.expect(r"\[y/N\]")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == status
    assert (check_live(scratch, data) == []) == (status == 0)


# ---- status --------------------------------------------------------------------------

def test_status_health(scratch):
    """status --json: ok, missing (unmounted or link removed by hand), drifted (remounted rw, link changed)."""
    entries = ENTRIES + [{"target": "@/m/b2", "type": "bind", "source": "@/s", "options": ["ro"]},
                         {"target": "@/m/ln2", "type": "symlink", "source": "@/s"}]
    data, path = _setup(scratch, entries)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    code, doc, _ = cli_json(scratch, "status", "--json")
    assert code == 0 and {e["health"] for e in doc["profiles"][0]["entries"]} == {"ok"}
    hand_umount(os.path.join(scratch, "m/t"))
    hand_mount("-o", "remount,bind,rw", os.path.join(scratch, "m/b2"))
    os.unlink(os.path.join(scratch, "m/ln"))
    os.unlink(os.path.join(scratch, "m/ln2"))
    os.symlink("/elsewhere", os.path.join(scratch, "m/ln2"))
    code, doc, _ = cli_json(scratch, "status", "--json")
    assert code == 1
    health = {os.path.basename(e["target"]): e["health"] for e in doc["profiles"][0]["entries"]}
    assert health == {"b": "ok", "t": "missing", "b2": "drifted", "ln": "missing", "ln2": "drifted"}
    text = cli(scratch, "status")
    assert text.returncode == 1
    for word in ("ok", "missing", "drifted"):
        assert word in text.stdout


# ---- import and schema ----------------------------------------------------------------

def test_import_sample_fstab(scratch):
    """import of a realistic fstab: a valid profile of every mount it can manage; the others skipped with a reason."""
    code, doc, err = cli_json(scratch, "import", "--json", "--name", "host", FSTAB)
    assert code == 0, err
    targets = [m["target"] for m in doc["mounts"]]
    assert "/var/www" in targets and "/merged" in targets and "/tmp" in targets
    assert "/" not in targets
    assert ":4: skipped: target: cannot be / itself" in _words(err), err
    assert ":6: skipped: swap is not a mount" in _words(err), err
    again = write_profile(scratch, doc, name="host")
    assert cli(scratch, "validate", again).returncode == 0


def test_import_then_apply(scratch):
    """An fstab with odd characters imports (YAML by default) to a profile that applies exactly."""
    make_tree(scratch, ["my data/f=1", "lower/f=2", "up/", "wk/"])
    fstab = os.path.join(scratch, "fstab")
    s = scratch
    with open(fstab, "w", encoding="utf-8") as f:
        f.write("# test fstab\n"
                "%s/my\\040data %s/mnt/in\\011tab none bind,ro 0 0\n"
                "tmpfs %s/mnt/tmp tmpfs defaults,size=1m,mode=1777 0 0\n"
                "overlay %s/mnt/ov overlay lowerdir=%s/lower,upperdir=%s/up,workdir=%s/wk 0 0\n"
                "/dev/sda9 none swap sw 0 0\n" % (s, s, s, s, s, s, s))
    proc = cli(scratch, "import", "--name", "fromfstab", fstab)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("name: fromfstab")
    path = os.path.join(scratch, "fromfstab.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(proc.stdout)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    code, doc, _ = cli_json(scratch, "import", "--json", "--name", "fromfstab", fstab)
    assert check_live(scratch, doc) == []
    assert cli(scratch, "plan", "--detailed-exitcode", path).returncode == 0


def test_schema(scratch):
    """schema prints the profile JSON Schema, the same document as schemas/profile.schema.json."""
    proc = cli(scratch, "schema")
    assert proc.returncode == 0
    with open(os.path.join(REPO, "schemas", "profile.schema.json"), encoding="utf-8") as f:
        assert json.loads(proc.stdout) == json.load(f)


# ---- the demo ---------------------------------------------------------------------

@pytest.mark.ns_timeout(300)
def test_demo(scratch):
    """`livemount demo` exits 0 and leaves this namespace's table (and /tmp) exactly as it was."""
    before = sorted(read_table())
    proc = cli(scratch, "demo", timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Demo complete" in _words(proc.stdout)
    assert sorted(read_table()) == before
    assert not os.path.lexists("/tmp/livemount-demo")
