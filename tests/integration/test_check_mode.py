"""Check mode writes nothing and predicts exactly what the real run then does.

`plan`, `apply --check` and `destroy --check` on a fresh namespace, after an
apply, after hand-made drift and after a crash: /proc/self/mountinfo is
byte-identical (mount ids included), no path appears or vanishes under
scratch (the would-be mount points stay missing), the state directory is
exactly as it was (missing stays missing: no lock, no journal), and the
(action, target) list predicted equals the one the real apply or destroy
reports afterwards.
"""

import os
import signal

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from tests.integration.helpers import (apply, cli, cli_json, hand_mount, hand_umount, make_tree, profile_dict,
                                       state_dir, write_profile)
from tests.integration.test_faults import A, B, TREE


def _tree(root):
    """Return {path: (kind, bytes or link)} of everything under `root`, mounts entered (what a user sees)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[p] = ("dir", None)
            else:
                with open(p, "rb") as f:
                    out[p] = ("file", f.read())
    return out


def _mountinfo():
    with open("/proc/self/mountinfo", "rb") as f:
        return f.read()


def _fresh(scratch, a_path):
    """Nothing applied yet: the state directory does not even exist."""


def _applied(scratch, a_path):
    assert cli(scratch, "apply", "--yes", a_path).returncode == 0


def _drifted(scratch, a_path):
    _applied(scratch, a_path)
    hand_umount(os.path.join(scratch, "t/b1"))
    hand_mount("-o", "remount,bind,rw", os.path.join(scratch, "t/ro"))


def _interrupted(scratch, a_path):
    _applied(scratch, a_path)
    b_path = os.path.join(scratch, "profiles", "test.json")
    crashed = cli(scratch, "apply", "--yes", b_path, env={failpoint.ENV: "20:crash"})
    assert crashed.returncode == -signal.SIGKILL


STATES = {"fresh": _fresh, "applied": _applied, "drifted": _drifted, "interrupted": _interrupted}
CHECKS = {"plan": ("plan", "--json", "B"), "apply-check": ("apply", "--check", "--json", "B"),
          "destroy-check": ("destroy", "--check", "--json", "test")}
REAL = {"plan": ("apply", "--yes", "--json", "B"), "apply-check": ("apply", "--yes", "--json", "B"),
        "destroy-check": ("destroy", "--yes", "--json", "test")}


def _argv(argv, paths):
    return [paths.get(a, a) for a in argv]


@pytest.mark.parametrize("check", list(CHECKS), ids=list(CHECKS))
@pytest.mark.parametrize("state", list(STATES), ids=list(STATES))
def test_check_mode_writes_nothing_and_predicts(scratch, state, check):
    """From each state, check mode leaves mountinfo, files and state dir as they were and predicts the real run."""
    make_tree(scratch, TREE)
    a = profile_dict(scratch, A, name="test")
    paths = {"B": write_profile(scratch, profile_dict(scratch, B, name="test"))}
    a_path = write_profile(scratch, a, name="a")
    STATES[state](scratch, a_path)
    info, tree, states = _mountinfo(), _tree(scratch), _tree(state_dir(scratch))
    code, predicted, err = cli_json(scratch, *_argv(CHECKS[check], paths))
    unknown = state == "fresh" and check == "destroy-check"  # a name never applied here: an error, nothing written
    assert code == (1 if unknown else 0), err
    assert _mountinfo() == info, "check mode changed the mount table"
    assert _tree(scratch) == tree, "check mode created, removed or changed a file"
    assert _tree(state_dir(scratch)) == states
    if state == "fresh":
        assert not os.path.lexists(state_dir(scratch)), "check mode created the state directory"
    if unknown:
        assert predicted["error"]["kind"] == "UnknownProfileError"
        return
    assert predicted["changed"]
    code, done, err = cli_json(scratch, *_argv(REAL[check], paths))
    assert code == 0, err
    got = [(c["action"], c["target"]) for c in done["changes"]]
    assert [(c["action"], c["target"]) for c in predicted["changes"]] == got
    assert bool(predicted["recovered"]) == bool(done["recovered"]) == (state == "interrupted")


def test_check_mode_in_process_writes_nothing(scratch):
    """The engine's check mode (what the Ansible module's check_mode runs) writes nothing either."""
    make_tree(scratch, TREE)
    info, tree = _mountinfo(), _tree(scratch)
    report = apply(scratch, profile_dict(scratch, B), check=True)
    assert report.changed and report.mode == "check"
    assert (_mountinfo(), _tree(scratch)) == (info, tree)
    assert not os.path.lexists(state_dir(scratch))
