"""The livemount commands as a user sees them: text at a pinned width against golden files, --json against the schema.

Each CLI run is a real subprocess in the test's private namespace. Golden
files (tests/fixtures/cli/session-*.txt) are normalized: the scratch path
and the namespace id are replaced by placeholders of the same length (so
table borders stay aligned), elapsed times and apply ages by fixed words.
LIVEMOUNT_UPDATE_GOLDEN=1 rewrites them.
"""

import json
import os
import re

import jsonschema
import pytest

from tests.integration.helpers import (check_live, cli, cli_json, hand_mount, make_tree, profile_dict, state_dir,
                                       write_profile)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(REPO, "tests", "fixtures", "cli")
BAD = os.path.join(REPO, "tests", "fixtures", "profiles", "bad")
FSTAB = os.path.join(REPO, "tests", "fixtures", "fstab", "sample.fstab")
UPDATE = bool(os.environ.get("LIVEMOUNT_UPDATE_GOLDEN"))

with open(os.path.join(REPO, "schemas", "cli-output.schema.json"), encoding="utf-8") as _f:
    SCHEMA = json.load(_f)

ENTRIES = [
    {"target": "@/app/data", "type": "bind", "source": "@/data/app", "options": ["ro", "nosuid"]},
    {"target": "@/app/cache", "type": "tmpfs", "options": ["size=16m", "mode=0755"]},
    {"target": "@/app/root", "type": "overlay", "lower": ["@/layers/app"], "upper": "@/var/up", "work": "@/var/wk"},
    {"target": "@/app/tool", "type": "symlink", "source": "@/data/tool"},
]


def _setup(scratch, entries=ENTRIES, name="web"):
    """Return (profile dict, its file) with every source made under scratch."""
    make_tree(scratch, ["data/app/f=1", "data/tool=#!/bin/sh", "layers/app/a=1", "var/up/", "var/wk/"])
    data = profile_dict(scratch, entries, name=name)
    return data, write_profile(scratch, data)


def normalize(scratch, text):
    """Return CLI output with run-specific words replaced by same-length placeholders or fixed words."""
    if len(scratch) > 4:  # a random temporary directory (the session's fixed root is left as it is)
        text = text.replace(scratch, ("/scratch" + "~" * len(scratch))[:len(scratch)])
    text = re.sub(r"mnt:\[(\d+)\]", lambda m: "mnt:[%s]" % ("N" * len(m.group(1))), text)
    text = re.sub(r"\d+\.\d s\)", "N.N s)", text)
    return re.sub(r"applied \d{4}-\d\d-\d\dT[\d:+]+ \([^)]*\)", "applied TIME (AGE)", text)


def golden(name, text):
    """Assert `text` equals tests/fixtures/cli/<name> (LIVEMOUNT_UPDATE_GOLDEN=1 writes it)."""
    path = os.path.join(GOLDEN, name)
    if UPDATE:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(path, encoding="utf-8") as f:
        assert text == f.read(), "%s differs; LIVEMOUNT_UPDATE_GOLDEN=1 rewrites it" % name


def _drift(scratch, path):
    hand_mount("-o", "remount,bind,rw", os.path.join(scratch, "app/data"))


def _foreign(scratch, path):
    os.makedirs(os.path.join(scratch, "app/cache"), exist_ok=True)
    hand_mount("-t", "tmpfs", "intruder", os.path.join(scratch, "app/cache"))


def _nothing(scratch, path):
    pass


SESSION = [
    # (golden name, prepare, argv: PROFILE is the file, @ the scratch directory; exit status)
    ("plan-new", _nothing, ["plan", "PROFILE"], 0),
    ("apply", _nothing, ["apply", "--yes", "PROFILE"], 0),
    ("plan-by-name", _nothing, ["plan", "--detailed-exitcode", "web"], 0),
    ("plan-drift", _drift, ["plan", "--diff", "--detailed-exitcode", "PROFILE"], 2),
    ("status-drift", _nothing, ["status"], 1),
    ("apply-repairs", _nothing, ["apply", "--yes", "web"], 0),
    ("show-tree", _nothing, ["show", "--tree", "@"], 0),
    ("plan-conflict", _foreign, ["plan", "PROFILE"], 1),
    ("status-foreign", _nothing, ["status", "web"], 1),
    ("destroy-refused", _nothing, ["destroy", "--yes", "web"], 1),
]


def fixed_root(scratch):
    """Return /srv (or /mnt), where scratch is now bind-mounted too: paths of one length in every run.

    Only this test's private namespace sees the bind; the host's /srv is untouched.
    """
    for root in ("/srv", "/mnt"):
        if os.path.isdir(root) and not os.path.islink(root):
            hand_mount("--bind", scratch, root)
            return root
    pytest.skip("needs a /srv or /mnt directory to bind the scratch directory on")


@pytest.mark.parametrize("columns", [80, 120], ids=["80-columns", "120-columns"])
def test_session(scratch, columns):
    """A session: plan, apply, drift and repair, show, a foreign mount: every screen as the golden file has it."""
    root = fixed_root(scratch)
    data, path = _setup(root)
    for name, prepare, argv, status in SESSION:
        prepare(root, path)
        proc = cli(scratch, *[path if a == "PROFILE" else root if a == "@" else a for a in argv],
                   env={"COLUMNS": str(columns)})
        assert proc.returncode == status, (name, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        # Data fits the width; messages into a pipe are never hard-wrapped (a log gets whole lines).
        assert max([len(line) for line in proc.stdout.splitlines()] + [0]) <= columns, (name, proc.stdout)
        assert not [line for line in proc.stderr.splitlines() if line != line.rstrip()], (name, proc.stderr)
        text = "$ livemount %s\n%s--- stderr ---\n%s" % (" ".join(argv), proc.stdout, proc.stderr)
        golden("session-%s-%d.txt" % (name, columns), normalize(root, text))


# ---- --json against the schema ---------------------------------------------------------------

def _applied(scratch, path):
    assert cli(scratch, "apply", "--yes", path).returncode == 0


def _layers_changed(scratch, path):
    """Apply web, then write @/changed.json: web with one more lower layer on its overlay."""
    _applied(scratch, path)
    make_tree(scratch, ["layers/extra/b=2"])
    entries = [dict(e, lower=["@/layers/extra"] + e["lower"]) if e["type"] == "overlay" else e for e in ENTRIES]
    with open(os.path.join(scratch, "changed.json"), "w") as f:
        json.dump(profile_dict(scratch, entries, name="web"), f)


def _applied_and_changed(scratch, path):
    _applied(scratch, path)
    with open(os.path.join(scratch, "app/root/a"), "w") as f:
        f.write("changed")


def _layers_changed_applied(scratch, path):
    """Apply web, then its overlay with one more lower layer: the old upper and work are kept aside."""
    _layers_changed(scratch, path)
    assert cli(scratch, "apply", "--yes", os.path.join(scratch, "changed.json")).returncode == 0


def _stale_plan(scratch, path):
    """Save a plan of web at @/web.plan, then mount something under one of its targets."""
    assert cli(scratch, "plan", "--out", os.path.join(scratch, "web.plan"), path).returncode == 0
    os.makedirs(os.path.join(scratch, "app/data"))
    hand_mount("-t", "tmpfs", "intruder", os.path.join(scratch, "app/data"))


def _bad_file(scratch, path):
    pass


JSON_RUNS = [
    # (id, prepare, argv, $defs name, exit status)
    ("plan", _nothing, ["plan", "--json", "PROFILE"], "report", 0),
    ("apply-check", _nothing, ["apply", "--check", "--json", "PROFILE"], "report", 0),
    ("apply", _nothing, ["apply", "--yes", "--json", "PROFILE"], "report", 0),
    ("apply-again", _applied, ["apply", "--yes", "--json", "PROFILE"], "report", 0),
    ("plan-by-name", _applied, ["plan", "--json", "web"], "report", 0),
    ("plan-conflict", _foreign, ["plan", "--json", "PROFILE"], "report", 1),
    ("apply-failed", _nothing, ["apply", "--yes", "--json", "PROFILE", "FAIL"], "report", 1),
    ("destroy-check", _applied, ["destroy", "--check", "--json", "web"], "report", 0),
    ("destroy", _applied, ["destroy", "--yes", "--json", "web"], "report", 0),
    ("status", _applied, ["status", "--json"], "status", 0),
    ("status-none", _nothing, ["status", "--json"], "status", 0),
    ("show", _applied, ["show", "--json"], "show", 0),
    ("show-filtered", _applied, ["show", "--json", "--profile", "web", "--type", "tmpfs,overlay", "@"], "show", 0),
    ("validate", _nothing, ["validate", "--json", "PROFILE"], "validate", 0),
    ("validate-bad", _nothing, ["validate", "--json", os.path.join(BAD, "wrong-types.yaml")], "validate", 1),
    ("validate-missing", _nothing, ["validate", "--json", "@/nothing.yaml"], "validate", 1),
    ("plan-missing", _nothing, ["plan", "--json", "@/nothing.yaml"], "failure", 1),
    ("import", _nothing, ["import", "--json", FSTAB], "import", 0),
    ("plan-overlay-layers", _layers_changed, ["plan", "--json", "@/changed.json"], "report", 0),
    ("apply-overlay-layers", _layers_changed, ["apply", "--yes", "--json", "@/changed.json"], "report", 0),
    ("overlay-changes", _applied_and_changed, ["overlay", "changes", "--json", "@/app/root"], "overlay_changes", 0),
    ("overlay-reset-check", _applied_and_changed, ["overlay", "reset", "--check", "--json", "@/app/root", "/a"],
     "overlay_reset", 0),
    ("overlay-reset", _applied_and_changed, ["overlay", "reset", "--json", "--discard", "@/app/root"],
     "overlay_reset", 0),
    ("overlay-reset-foreign", _nothing, ["overlay", "reset", "--json", "@/app"], "failure", 1),
    ("overlay-prune-check", _layers_changed_applied, ["overlay", "prune", "--check", "--json"], "overlay_prune", 0),
    ("overlay-prune", _layers_changed_applied, ["overlay", "prune", "--yes", "--json"], "overlay_prune", 0),
    ("history", _applied, ["history", "--json", "web"], "history", 0),
    ("history-unknown", _applied, ["history", "--json", "nobody"], "failure", 1),
    ("status-with-asides", _layers_changed_applied, ["status", "--json"], "status", 0),
    ("destroy-unknown", _applied, ["destroy", "--yes", "--json", "nobody"], "failure", 1),
    ("plan-saved-stale", _stale_plan, ["apply", "--json", "@/web.plan"], "report", 1),
]


@pytest.mark.parametrize("prepare, argv, kind, status", [r[1:] for r in JSON_RUNS], ids=[r[0] for r in JSON_RUNS])
def test_json_matches_schema(scratch, prepare, argv, kind, status):
    """Every --json output is one JSON object valid against schemas/cli-output.schema.json (its command's part)."""
    data, path = _setup(scratch)
    prepare(scratch, path)
    env = {"LIVEMOUNT_FAILPOINT": "3:EIO"} if "FAIL" in argv else None
    argv = [path if a == "PROFILE" else scratch if a == "@" else a.replace("@", scratch) for a in argv if a != "FAIL"]
    code, doc, err = cli_json(scratch, *argv, env=env)
    assert code == status, err
    assert "Traceback" not in err
    part = {k: v for k, v in SCHEMA.items() if k != "anyOf"}  # the $defs, checked as one command's output
    jsonschema.validate(doc, dict(part, **{"$ref": "#/$defs/" + kind}))
    if kind != "import":
        jsonschema.validate(doc, SCHEMA)
    assert ("error" in doc) == (status == 1 and kind != "status")


def test_json_of_an_overlay_layer_change(scratch):
    """plan/apply --json of an overlay layer change: the replace names its upper_policy; apply lists what it kept."""
    data, path = _setup(scratch)
    _layers_changed(scratch, path)
    code, doc, _ = cli_json(scratch, "plan", "--json", os.path.join(scratch, "changed.json"))
    assert code == 0
    assert [(c["action"], c.get("upper_policy")) for c in doc["changes"] if c["type"] == "overlay"] == [
        ("replace", "fresh")]
    code, doc, _ = cli_json(scratch, "apply", "--yes", "--json", os.path.join(scratch, "changed.json"))
    assert code == 0 and len(doc["kept_aside"]) == 1
    kept = doc["kept_aside"][0]
    assert kept["target"] == os.path.join(scratch, "app/root") and kept["upper"] == os.path.join(scratch, "var/up")
    assert os.path.isdir(kept["upper_aside"]) and os.path.isdir(kept["work_aside"]) and kept["old_gone"] is True


def test_json_details(scratch):
    """show --json is the inventory with ownership; a failed apply names its step, errno and rollback."""
    data, path = _setup(scratch)
    _applied(scratch, path)
    code, doc, _ = cli_json(scratch, "show", "--json", "--profile", "web")
    assert sorted(m["target"] for m in doc["mounts"]) == sorted(
        os.path.join(scratch, p) for p in ("app/cache", "app/data", "app/root"))
    overlay = [m for m in doc["mounts"] if m["fstype"] == "overlay"][0]
    assert overlay["lower"] == [os.path.join(scratch, "layers/app")] and overlay["owner"] == "web"
    cli(scratch, "destroy", "--yes", "web")
    code, doc, _ = cli_json(scratch, "apply", "--yes", "--json", path, env={"LIVEMOUNT_FAILPOINT": "3:EIO"})
    assert doc["error"]["kind"] == "ApplyError" and doc["error"]["errno"] == 5
    assert doc["error"]["step"].startswith("step ") and doc["error"]["rolled_back"]
    assert check_live(scratch, dict(data, mounts=[])) == []


# ---- text details ------------------------------------------------------------------------------

def test_apply_failure_text(scratch):
    """A failed apply: the plan once, then the failed step, the kernel's reason, what was rolled back, a hint."""
    data, path = _setup(scratch)
    proc = cli(scratch, "apply", "--yes", path, env={"LIVEMOUNT_FAILPOINT": "3:EIO", "COLUMNS": "200"})
    assert proc.returncode == 1
    assert proc.stdout.count("Plan for web") == 1
    err = proc.stderr
    for words in ("error: cannot apply step 3 of", "failed step: step 3 of", "kernel said: EIO (Input/output error)",
                  "rolled back:", "hint: "):
        assert words in err, err
    assert "Traceback" not in err and "Applied" not in err


def test_validate_text_names_lines(scratch):
    """validate: every problem as file:line: $.json.path: message on stdout, then one error sentence."""
    bad = os.path.join(BAD, "bad-mode.yaml")
    proc = cli(scratch, "validate", bad)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        bad + ":6: $.mounts[0].mode: must be an octal mode such as '0755' or '1777', not a string ('999')",
        bad + ":7: $.mounts[1].mode: 755 is decimal here (0o1363); write it quoted, as '0755'"]
    assert proc.stderr.startswith("error: cannot validate %s: 2 problems" % bad)


def test_unknown_profile_name(scratch):
    """A name that is neither a file nor an applied profile: one sentence saying both, and a hint."""
    proc = cli(scratch, "plan", "nosuch")
    assert proc.returncode == 1
    assert "cannot read profile nosuch: no such file, and no profile named nosuch was applied in mnt:[" \
        in " ".join(proc.stderr.split())
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr


SHOW_FILTERS = [
    ("path", ["@/app"], [".", "app/cache", "app/data", "app/root"], 0),  # with the mount holding @/app
    ("type", ["--type", "overlay", "@"], ["app/root"], 0),
    ("profile-none", ["--profile", "nobody"], [], 1),
    ("path-inside", ["@/app/cache/sub"], ["app/cache"], 0),
]


@pytest.mark.parametrize("argv, expected, status", [f[1:] for f in SHOW_FILTERS], ids=[f[0] for f in SHOW_FILTERS])
def test_show_filters(scratch, argv, expected, status):
    """show PATH / --type / --profile: the matching mounts; exit 1 when a filter matches nothing."""
    data, path = _setup(scratch)
    _applied(scratch, path)
    os.makedirs(os.path.join(scratch, "app/cache/sub"))
    code, doc, _ = cli_json(scratch, "show", "--json", *[a.replace("@", scratch) for a in argv])
    assert code == status
    assert [os.path.relpath(m["target"], scratch) for m in doc["mounts"]] == expected


def test_help_lists_every_command(scratch):
    """livemount --help lists every command with its one-line description."""
    proc = cli(scratch, "--help", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    from livemount_cli.main import COMMANDS

    for name, text, _module in COMMANDS:
        assert re.search(r"^\s+%s\s+%s$" % (name, re.escape(text)), proc.stdout, re.M), name
    assert state_dir(scratch)  # the help itself needs no state
