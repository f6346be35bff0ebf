"""Simultaneous applies into one namespace, and state files damaged by hand.

Eight `livemount apply` processes start at once. Runs of one profile are
serialized by its lock: exactly one of them changes anything, the others
re-plan under the lock and find nothing to do. Runs of two profiles proceed
side by side and must not trip over each other (they share a parent
directory). A state file that is truncated or overwritten with garbage is
refused with a clear error: never silently trusted, nothing touched.
"""

import json
import os
import subprocess

import jsonschema
import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_linux import LinuxSys
from tests.integration.helpers import (apply, check_live, cli, cli_command, cli_env, cli_fork, load, make_tree,
                                       pending, profile_dict, read_state, snapshot, state_dir, state_path, status,
                                       write_profile)

TREE = ["s1/f=1", "s2/f=2", "s3/f=3"]
ONE = [
    {"target": "@/shared/one/b", "type": "bind", "source": "@/s1", "options": ["ro"]},
    {"target": "@/shared/one/t", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/shared/one/t/x", "type": "bind", "source": "@/s2"},
    {"target": "@/shared/one/ln", "type": "symlink", "source": "@/s1"},
]
TWO = [
    {"target": "@/shared/two/b", "type": "bind", "source": "@/s3"},
    {"target": "@/shared/two/t", "type": "tmpfs"},
    {"target": "@/shared/two/ln", "type": "symlink", "source": "@/s3"},
]


def _run_all(scratch, paths):
    """Return [(exit status, JSON doc or None, stderr)] of `apply --yes --json` started at once on each path."""
    procs = [subprocess.Popen(cli_command(scratch, "apply", "--yes", "--json", p), env=cli_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in paths]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append((proc.returncode, json.loads(stdout) if stdout.strip() else None, stderr))
    return out


MIXES = {"same-profile": ["one"] * 8, "two-profiles": ["one", "two"] * 4}


@pytest.mark.parametrize("mix", list(MIXES), ids=list(MIXES))
def test_simultaneous_applies(scratch, mix):
    """Eight applies at once: all succeed, each profile is applied exactly once, the table is exact."""
    make_tree(scratch, TREE)
    profiles = {"one": profile_dict(scratch, ONE, name="one"), "two": profile_dict(scratch, TWO, name="two")}
    paths = {name: write_profile(scratch, data) for name, data in profiles.items()}
    results = _run_all(scratch, [paths[name] for name in MIXES[mix]])
    assert [(code, err) for code, _, err in results] == [(0, "")] * 8
    for name in set(MIXES[mix]):
        changed = [doc["changed"] for (code, doc, _), n in zip(results, MIXES[mix]) if n == name]
        assert changed.count(True) == 1, "%s was applied %d times" % (name, changed.count(True))
    used = {name: profiles[name] for name in MIXES[mix]}
    everything = dict(name="all", mounts=[m for data in used.values() for m in data["mounts"]])
    assert check_live(scratch, everything) == []
    for name, data in used.items():
        assert pending(scratch, data) == []
        assert json.loads(read_state(scratch, name))["body"]["profile"] == name
    assert [e["health"] for row in status(scratch) for e in row["entries"]] == ["ok"] * len(everything["mounts"])


DAMAGE = {
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "garbage": lambda raw: bytes(range(256)) * 4,
    "edited": lambda raw: raw.replace(b'"size=1m"', b'"size=9m"'),
    "other-json": lambda raw: b'{"format": "livemount-state", "version": 1, "body": {}}',
}
COMMANDS = {"apply": ["apply", "--yes"], "plan": ["plan"], "check": ["apply", "--check"], "status": ["status"],
            "destroy": ["destroy", "--yes", "one"]}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_state_is_refused(scratch, damage):
    """A state file damaged by hand: every command exits 1 naming it, and nothing is touched."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, ONE, name="one")
    path = write_profile(scratch, data)
    assert cli(scratch, "apply", "--yes", path).returncode == 0
    raw = read_state(scratch, "one")
    bad = DAMAGE[damage](raw)
    assert bad != raw
    with open(state_path(scratch, "one"), "wb") as f:
        f.write(bad)
    before = snapshot(scratch)
    for name, argv in COMMANDS.items():
        args = argv + ([path] if name in ("apply", "plan", "check") else [])
        proc = cli_fork(scratch, *args)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        message = " ".join(proc.stderr.split())  # rich wraps long lines
        assert "cannot trust state %s" % state_path(scratch, "one") in message, (name, proc.stderr)
        assert "unexpected error" not in proc.stderr
        assert snapshot(scratch) == before, "%s touched the table" % name
        assert read_state(scratch, "one") == bad, "%s rewrote the damaged state" % name
    os.unlink(state_path(scratch, "one"))
    assert check_live(scratch, data) == []  # still mounted: a damaged state never made anything go away


def test_shared_parent_goes_with_the_last_profile(scratch):
    """Two profiles under one parent that profile one created: destroying both removes the parent."""
    make_tree(scratch, TREE)
    shared = os.path.join(scratch, "shared")
    for name, entries in (("one", ONE), ("two", TWO)):
        assert cli(scratch, "apply", "--yes", write_profile(scratch, profile_dict(scratch, entries, name=name))
                   ).returncode == 0
    first = cli(scratch, "destroy", "--yes", "one")
    assert first.returncode == 0 and "kept %s" % shared in first.stderr
    # Kept, not forgotten: one's state holds only the directory, and status says so.
    rows = {r["profile"]: r for r in status(scratch)}
    assert (rows["one"]["entries"], rows["one"]["leftovers"]) == ([], [shared])
    assert [e["health"] for e in rows["two"]["entries"]] == ["ok"] * len(TWO) and "leftovers" not in rows["two"]
    shown = cli(scratch, "status", "one")
    assert "one: kept %s" % shared in " ".join(shown.stdout.split())
    doc = json.loads(cli(scratch, "status", "--json").stdout)
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "cli-output.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))
    assert cli(scratch, "destroy", "--yes", "two").returncode == 0
    assert not os.path.lexists(shared)
    assert status(scratch) == []


def test_check_mode_racing_the_first_apply(scratch):
    """A plan started before the first apply made the lock file, and looking while it ran, looks again under the lock."""
    make_tree(scratch, TREE)
    one = profile_dict(scratch, ONE, name="test")
    two = profile_dict(scratch, [dict(m, source="@/s3") if m["type"] == "symlink" else m for m in ONE], name="test")

    class Racing(LinuxSys):
        """A Sys whose first look at the table lets a whole apply of profile `one` happen first."""

        raced = False

        def read_mountinfo(self):
            """Return the table, after the racing apply on the first call."""
            if not Racing.raced:
                Racing.raced = True
                apply(scratch, one)
            return super().read_mountinfo()

    assert not os.path.lexists(state_dir(scratch))
    predicted = engine.reconcile(load(two), Racing(), root=state_dir(scratch), check=True)
    assert Racing.raced
    done = apply(scratch, two)
    assert [(c.action, c.target) for c in predicted.changes] == [(c.action, c.target) for c in done.changes]
