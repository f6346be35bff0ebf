"""Every module's result keeps clear of the keys Ansible reserves for the task's own status.

ansible-core reads `changed`, `failed`, `skipped`, `msg`, `rc`... of a module
result as the task's status; 2.20 and later convert a value of another type
and warn (a list of skipped steps became `skipped: true`: "Value for result
key 'skipped' of type list was converted to bool"). One playbook runs every
module, on success and failure paths, and must print no warning about a
result key; no module's RETURN documents such a key either. Both run on the
locked ansible-core and on the newest one (the `latest` test phase).
"""

import ast
import glob
import os

import pytest
import yaml

from tests.integration.helpers import hand_mount

from . import playbook

MODULES = sorted(glob.glob(os.path.join(playbook.REPO, "plugins", "modules", "[!_]*.py")))
# Result keys ansible-core gives a meaning of its own (its "common return values" and the task
# result it builds), with the type it reads them as; None: a module must never return the key.
# `changed` and `diff` are ours to return, in Ansible's meaning.
RESERVED = {
    "changed": "bool", "diff": "dict",
    "failed": None, "skipped": None, "unreachable": None, "msg": None, "rc": None, "results": None,
    "invocation": None, "warnings": None, "deprecations": None, "exception": None, "finished": None,
    "attempts": None, "retries": None, "skip_reason": None, "skipped_reason": None, "backup_file": None,
    "stdout": None, "stdout_lines": None, "stderr": None, "stderr_lines": None, "module_stdout": None,
    "module_stderr": None, "item": None, "notify": None,
}
RESERVED_PREFIXES = ("ansible_", "_ansible_")


def _core_result_keys():
    """Return the result keys the installed ansible-core types itself (2.20+; empty where it has no such table)."""
    try:
        from ansible._internal._task import UnifiedTaskResult  # private: read only to learn new keys early
        return set(UnifiedTaskResult.get_result_key_to_resolved_field_mapping(True))
    except (ImportError, AttributeError, TypeError):
        return set()


def _documented_returns(path):
    """Return the module's RETURN documentation as a dict (key -> its doc)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["RETURN"]:
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no RETURN" % path)


@pytest.mark.parametrize("path", MODULES, ids=[os.path.basename(p)[:-3] for p in MODULES])
def test_return_docs_use_no_reserved_key(path):
    """A module documents no key Ansible reserves, except changed and diff in Ansible's own meaning."""
    reserved = dict(dict.fromkeys(_core_result_keys() - set(RESERVED)), **RESERVED)
    problems = []
    for key, doc in _documented_returns(path).items():
        if key.startswith(RESERVED_PREFIXES) or (key in reserved and reserved[key] is None):
            problems.append("%s: Ansible reserves it for the task's own status" % key)
        elif key in reserved and doc.get("type") != reserved[key]:
            problems.append("%s: Ansible reads it as a %s, documented as %s" % (key, reserved[key], doc.get("type")))
    assert problems == []


def _tasks(s):
    """Return the tasks: every module, on its success paths and (ignore_errors) its failure paths."""
    overlay = {"target": s + "/mnt/ovl", "type": "overlay", "lower": [s + "/ovl/lower"],
               "upper": s + "/ovl/upper", "work": s + "/ovl/work"}
    applied = {"name": "keys", "mounts": [{"target": s + "/mnt/t", "type": "tmpfs", "options": ["size=1m"]}, overlay]}
    # on_error=continue with a device that does not exist: one failed step, one skipped below it.
    partial = {"name": "partial", "on_error": "continue", "mounts": [
        {"target": s + "/part/dev", "type": "ext4", "source": "/dev/livemount-no-such-device"},
        {"target": s + "/part/dev/child", "type": "tmpfs", "options": ["size=1m"]},
        {"target": s + "/part/ok", "type": "tmpfs", "options": ["size=1m"]}]}
    conflict = {"name": "conflict", "mounts": [{"target": s + "/foreign", "type": "tmpfs", "options": ["size=1m"]}]}
    failing = {"register": "out", "ignore_errors": True}
    return [
        {"name": "validate", "livemount.core.mount_profile": dict(applied, validate_only=True)},
        {"name": "apply", "livemount.core.mount_profile": applied, "register": "out"},
        {"name": "apply again", "livemount.core.mount_profile": applied, "register": "out"},
        {"name": "write", "ansible.builtin.copy": {"dest": s + "/mnt/ovl/new.txt", "content": "new\n"}},
        {"name": "info", "livemount.core.mount_profile_info": {"path": s + "/mnt"}, "register": "out"},
        {"name": "changes", "livemount.core.overlay_changes_info": {"target": s + "/mnt/ovl"}, "register": "out"},
        {"name": "reset", "livemount.core.overlay_reset": {"target": s + "/mnt/ovl"}, "register": "out"},
        dict(failing, name="partial", **{"livemount.core.mount_profile": partial}),
        dict(failing, name="conflict", **{"livemount.core.mount_profile": conflict}),
        dict(failing, name="invalid", **{"livemount.core.mount_profile": {"name": "Bad Name", "mounts": []}}),
        dict(failing, name="not an overlay", **{"livemount.core.overlay_changes_info": {"target": s + "/mnt/t"}}),
        dict(failing, name="reset no overlay", **{"livemount.core.overlay_reset": {"target": s + "/mnt/t"}}),
        dict(failing, name="info gone pid", **{"livemount.core.mount_profile_info": {"pid": 2 ** 22 + 1}}),
        {"name": "absent", "livemount.core.mount_profile": {"name": "keys", "state": "absent"}, "register": "out"},
        {"name": "absent partial", "livemount.core.mount_profile": {"name": "partial", "state": "absent"}},
    ]


def test_no_module_result_trips_a_reserved_key(scratch):
    """Every module, succeeding and failing, with --diff: no warning about a result key, no task turned skipped."""
    for d in ("ovl/lower", "ovl/upper", "ovl/work", "foreign", "ansible"):
        os.makedirs(os.path.join(scratch, d))
    hand_mount("-t", "tmpfs", "other", os.path.join(scratch, "foreign"))
    run = playbook.run(playbook.play(_tasks(scratch)), os.path.join(scratch, "ansible"), diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    said = " ".join(run.stdout.split())  # warnings wrap at the terminal's width
    assert "result key" not in said, run.stdout[-3000:]
    statuses = {rec["task"]: rec["status"] for rec in run.records}
    assert [t for t, status in statuses.items() if status == "skipped"] == []
    assert all(not rec["result"].get("skipped") for rec in run.records)
    partial = run.result("partial")
    assert statuses["partial"] == "failed"
    assert {c["target"] for c in partial["failed_changes"]} == {scratch + "/part/dev"}
    assert {c["target"] for c in partial["skipped_changes"]} == {scratch + "/part/dev/child"}  # mkdir, mount
    assert run.result("apply")["skipped_changes"] == [] and run.result("apply")["failed_changes"] == []
    assert [statuses[t] for t in ("conflict", "invalid", "not an overlay", "reset no overlay", "info gone pid")] == [
        "failed"] * 5
