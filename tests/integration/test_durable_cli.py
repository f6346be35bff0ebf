"""enable, disable, apply --enable, status and systemd install as a user runs them: real CLI runs, real mounts.

Each run is a subprocess in the test's private namespace, with the
configuration directory and the fstab under scratch (LIVEMOUNT_CONFIG_DIR,
LIVEMOUNT_FSTAB). The units are checked with the real `systemd-analyze
verify`, the way systemd will read them.
"""

import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest

from tests.integration.helpers import cli, cli_json, hand_umount, make_tree, profile_dict, write_profile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "schemas", "cli-output.schema.json"), encoding="utf-8") as _f:
    SCHEMA = json.load(_f)

ENTRIES = [
    {"target": "@/app/data", "type": "bind", "source": "@/data/app", "options": ["ro"]},
    {"target": "@/app/cache", "type": "tmpfs", "options": ["size=1m"]},
]


def _env(scratch):
    return {"LIVEMOUNT_CONFIG_DIR": os.path.join(scratch, "etc"), "LIVEMOUNT_FSTAB": os.path.join(scratch, "fstab")}


def _setup(scratch, **extra):
    make_tree(scratch, ["data/app/f=1"])
    data = profile_dict(scratch, ENTRIES, name="web", **extra)
    return data, write_profile(scratch, data)


def _valid(doc, kind):
    part = {k: v for k, v in SCHEMA.items() if k != "anyOf"}
    jsonschema.validate(doc, dict(part, **{"$ref": "#/$defs/" + kind}))


def test_apply_enable_then_status_then_disable_now(scratch):
    """apply --enable mounts and enables; status says the copy is live, then that it drifted; disable --now removes all."""
    data, path = _setup(scratch)
    env = _env(scratch)
    code, doc, err = cli_json(scratch, "apply", "--yes", "--enable", "--json", path, env=env)
    assert code == 0, err
    _valid(doc, "report")
    assert doc["changed"] and doc["enable"]["changed"] and doc["enable"]["action"] == "enable"
    assert os.path.exists(os.path.join(scratch, "etc", "enabled", "web.json"))
    code, doc, err = cli_json(scratch, "status", "--json", env=env)
    assert code == 0, err
    _valid(doc, "status")
    (row,) = doc["profiles"]
    assert row["enabled"] and row["enabled_copy"]["matches_live"]
    hand_umount(os.path.join(scratch, "app/cache"))
    done = cli(scratch, "status", env=env)
    assert done.returncode == 1
    assert "web: enabled; the enabled copy differs from the live table: 1 change pending (mount %s/app/cache)" % \
        scratch in done.stdout
    code, doc, err = cli_json(scratch, "disable", "--now", "--json", "web", env=env)
    assert code == 0, err
    _valid(doc, "enable")
    assert doc["changed"] and doc["destroy"]["changed"]
    assert not os.path.exists(os.path.join(scratch, "etc", "enabled", "web.json"))
    assert not os.path.ismount(os.path.join(scratch, "app/data"))
    assert cli_json(scratch, "status", "--json", env=env)[1] == {"profiles": []}


def test_enable_check_and_diff_write_nothing(scratch):
    """enable --check --diff shows what boot would mount and writes nothing; enable writes; again is unchanged."""
    data, path = _setup(scratch, boot={"timeout": 20})
    env = _env(scratch)
    done = cli(scratch, "enable", "--check", "--diff", path, env=env)
    assert done.returncode == 0, done.stderr
    assert "+%s/data/app %s/app/data none bind,ro 0 0" % (scratch, scratch) in done.stdout
    assert "+# boot: timeout=20" in done.stdout and "Would enable web" in done.stderr
    assert not os.path.exists(os.path.join(scratch, "etc"))
    assert "Enabled web" in cli(scratch, "enable", path, env=env).stderr
    again = cli(scratch, "enable", path, env=env)
    assert again.returncode == 0 and "Already enabled, unchanged: web" in again.stderr


def test_enable_refuses_an_fstab_line_for_the_same_target(scratch):
    """An fstab line for a target of the profile: exit 1, nothing enabled, the message names the line and the fix."""
    data, path = _setup(scratch)
    env = _env(scratch)
    with open(env["LIVEMOUNT_FSTAB"], "w") as f:
        f.write("tmpfs %s/app/cache tmpfs size=1m 0 0\n" % scratch)
    done = cli(scratch, "enable", path, env=env)
    assert done.returncode == 1 and not os.path.exists(os.path.join(scratch, "etc", "enabled"))
    assert "error: cannot enable profile web: %s line 1 also mounts %s/app/cache" % (env["LIVEMOUNT_FSTAB"], scratch) \
        in " ".join(done.stderr.split())
    assert "comment that line out" in done.stderr
    code, doc, _ = cli_json(scratch, "apply", "--yes", "--enable", "--json", path, env=env)
    assert code == 1 and doc["error"]["fstab"][0]["line"] == 1
    assert not os.path.ismount(os.path.join(scratch, "app/cache"))  # refused before anything was mounted


def test_status_reports_an_fstab_line_added_after_enable(scratch):
    """An fstab line added after enable: status shows the conflict with the fix and exits 1."""
    data, path = _setup(scratch)
    env = _env(scratch)
    assert cli(scratch, "apply", "--yes", "--enable", path, env=env).returncode == 0
    with open(env["LIVEMOUNT_FSTAB"], "w") as f:
        f.write("/dev/vdb %s/app/data ext4 defaults 0 2\n" % scratch)
    code, doc, _ = cli_json(scratch, "status", "--json", env=env)
    assert code == 1
    (clash,) = doc["profiles"][0]["enabled_copy"]["fstab_conflicts"]
    assert clash["line"] == 1 and "comment that line out" in clash["message"]


def test_enable_in_another_namespace_is_refused(scratch):
    """enable --pid: refused with the reason (enabled profiles are applied in systemd's namespace)."""
    data, path = _setup(scratch)
    done = cli(scratch, "--pid", "1", "enable", path, env=_env(scratch))
    assert done.returncode == 1 and "cannot enable profile %s in another mount namespace" % path in done.stderr


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="no systemd-analyze")
def test_every_unit_shipped_or_generated_passes_systemd_analyze_verify(scratch):
    """systemd install --root, then the generator: systemd-analyze verify reads every unit without a word."""
    data, path = _setup(scratch, boot={"required_by": ["lmtest.service"], "after": ["lmtest-pre.service"]})
    other = profile_dict(scratch, [{"target": "@/view", "type": "bind", "source": "@/app/data"}], name="view",
                         boot={"stage": "remote", "timeout": 5})
    root = os.path.join(scratch, "root")
    env = dict(_env(scratch))
    for p in (path, write_profile(scratch, other)):
        assert cli(scratch, "enable", p, env=env).returncode == 0
    exe = os.path.join(scratch, "bin", "livemount")
    make_tree(scratch, ["bin/livemount=#!/bin/sh\nexec %s -m livemount_cli.main \"$@\"\n" % sys.executable])
    os.chmod(exe, 0o755)
    code, doc, err = cli_json(scratch, "systemd", "install", "--json", "--root", root, "--exec", exe, env=env)
    assert code == 0, err
    _valid(doc, "systemd_install")
    assert [f["action"] for f in doc["files"]] == ["create"] * 3
    again = cli_json(scratch, "systemd", "install", "--json", "--root", root, "--exec", exe, env=env)[1]
    assert [f["action"] for f in again["files"]] == ["keep"] * 3
    gen = os.path.join(scratch, "generated")
    os.mkdir(gen)
    units = os.path.join(root, "etc/systemd/system")
    done = subprocess.run([os.path.join(root, "etc/systemd/system-generators/livemount-generator"), gen, gen, gen],
                          capture_output=True, text=True, env=dict(os.environ, **env))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for name, deps in (("lmtest.service", ""), ("lmtest-pre.service", "[Unit]\nDefaultDependencies=no\n")):
        # A unit a local-stage profile starts after must itself be early: an ordinary service is after
        # sysinit.target, which is after local-fs.target, and verify reports that ordering cycle.
        with open(os.path.join(units, name), "w") as f:
            f.write(deps + "[Service]\nType=oneshot\nExecStart=/bin/true\n")
    verify_env = dict(os.environ, SYSTEMD_UNIT_PATH="%s:%s:" % (gen, units))
    for unit in ("livemount@web.service", "livemount@view.service", "livemount-watch.service"):
        done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit], capture_output=True, text=True,
                              env=verify_env)
        assert (done.returncode, done.stderr) == (0, ""), unit
    with open(os.path.join(gen, "livemount@view.service.d", "50-profile.conf")) as f:
        view = f.read()
    assert "Requires=livemount@web.service" in view and "Before=remote-fs.target" in view
    code, doc, err = cli_json(scratch, "systemd", "uninstall", "--json", "--root", root, env=env)
    assert code == 0 and [f["action"] for f in doc["files"]] == ["remove"] * 3
    assert set(os.listdir(units)) == {"lmtest.service", "lmtest-pre.service"}
