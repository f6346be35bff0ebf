"""livemount.core.mount_profile through real ansible-playbook runs, in a private mount namespace.

Each case walks one profile through the whole life: apply, apply again
(changed=false), a changed profile in --check (nothing moves, the prediction
equals the real run), --diff, then state=absent.
"""

import os

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount import diff
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile

from . import playbook, snapshot


def _tmpfs_size(s):
    return ([{"target": s + "/mnt/cache", "type": "tmpfs", "options": ["size=1m", "mode=0755"]}],
            [{"target": s + "/mnt/cache", "type": "tmpfs", "options": ["size=2m", "mode=0755"]}])


def _bind_source(s):
    return ([{"target": s + "/mnt/data", "type": "bind", "source": s + "/src/a"}],
            [{"target": s + "/mnt/data", "type": "bind", "source": s + "/src/b"}])


def _symlink(s):
    return ([{"target": s + "/mnt/tool", "type": "symlink", "source": s + "/src/a"}],
            [{"target": s + "/mnt/tool", "type": "symlink", "source": "../src/b"}])


def _add_remove(s):
    a = {"target": s + "/mnt/a", "type": "tmpfs", "options": ["size=1m"]}
    b = {"target": s + "/mnt/b", "type": "bind", "source": s + "/src/a", "options": ["nodev"]}
    c = {"target": s + "/mnt/b/c", "type": "tmpfs", "options": ["size=1m"]}
    return [a, b], [b, c]


def _overlay(s):
    layer = {"target": s + "/mnt/merged", "type": "overlay", "lower": [s + "/src/a"],
             "upper": s + "/ovl/upper", "work": s + "/ovl/work"}
    return [layer], [dict(layer, lower=[s + "/src/b", s + "/src/a"])]


# A live bind option change is a posix regression case (test_posix_regressions.py),
# so it is not repeated here; tmpfs size stays as the simplest full lifecycle.
CASES = [_tmpfs_size, _bind_source, _symlink, _add_remove, _overlay]


def _prepare(s):
    for d in ("src/a", "src/b", "ovl/upper", "ovl/work"):
        os.makedirs(os.path.join(s, d))
    for d in ("a", "b"):
        with open(os.path.join(s, "src", d, "marker"), "w") as f:
            f.write(d)


def _task(mounts, **kw):
    return {"name": "apply", "livemount.core.mount_profile": dict({"name": "lifecycle", "mounts": mounts}, **kw),
            "register": "out"}


def _expected_lines(mounts):
    return diff.table_text(profile.load_profile({"name": "x", "mounts": mounts}).entries)


def _top_targets(mounts):
    table = playbook.mountinfo_targets()
    return {m["target"] for m in mounts if m["type"] != "symlink" and m["target"] in table}


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_lifecycle(scratch, case):
    """Apply, re-apply unchanged, predict a change in --check exactly, show it in --diff, remove with absent."""
    _prepare(scratch)
    first, second = case(scratch)
    # Each run has the task twice: the second one must find nothing to do.
    one = playbook.run(playbook.play([_task(first), _task(first)]), scratch)
    assert one.rc == 0, one.stdout
    applied, again = one.results("apply")
    assert applied["changed"] is True
    assert again["changed"] is False, again["changes"]
    assert one.recap()["changed"] == 1
    # What a rollout verifies and rolls back from, with no mount_profile_info run: health after, profile before.
    assert applied["health"]["healthy"] is True and len(applied["health"]["entries"]) == len(first)
    assert applied["previous_profile"] is None and again["previous_profile"]["mounts"] == first
    assert _top_targets(first) == {m["target"] for m in first if m["type"] != "symlink"}

    before = snapshot.system(scratch)
    check = playbook.run(playbook.play([_task(second)]), scratch, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert snapshot.system(scratch) == before, "check mode changed the system"
    predicted = check.result("apply")
    assert predicted["changed"] is True and predicted["mode"] == "check"
    assert predicted["diff"]["before"] == _expected_lines(first)
    assert predicted["diff"]["after"] == _expected_lines(second)
    assert "--- before: lifecycle in mnt:" in check.stdout and "+++ after: lifecycle in mnt:" in check.stdout

    real = playbook.run(playbook.play([_task(second), _task(second)]), scratch, diff=True)
    assert real.rc == 0, real.stdout
    applied, settled = real.results("apply")
    assert applied["changes"] == predicted["changes"]
    assert applied["diff"] == predicted["diff"]
    assert settled["changed"] is False and "diff" not in settled, "an unchanged run must show no diff"
    assert real.stdout.count("--- before:") == 1
    assert _top_targets(second) == {m["target"] for m in second if m["type"] != "symlink"}

    gone = playbook.run(playbook.play([_task([], state="absent"), _task([], state="absent")]), scratch, diff=True)
    assert gone.rc == 0, gone.stdout
    removed, nothing = gone.results("apply")
    assert removed["changed"] is True and removed["diff"]["after"] == ""
    assert nothing["changed"] is False
    assert not _top_targets(first + second)
    assert not any(os.path.lexists(m["target"]) for m in first + second if m["type"] == "symlink")
