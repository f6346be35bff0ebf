"""livemount's modules run from a copied file, even with pipelining on, unless a file would not do.

CPython reads a script given on stdin one byte per read(2), and these
modules' payloads carry the engine (plugins/plugin_utils/from_file.py).
Whether pipelining is used is the action's own decision; what Ansible
would decide is stubbed, so each case holds on every ansible-core.
"""

import json
import os
import sys
import types

import pytest
from ansible.plugins.action import ActionBase

from ansible_collections.livemount.core.plugins.action import mount_profile, mount_profile_info, overlay_changes_info
from ansible_collections.livemount.core.plugins.action import overlay_reset

from . import playbook

BIG = 50000  # bytes on stdin: a module's payload (ping's is 172 KiB), not a shell one-liner

ACTIONS = [mount_profile.ActionModule, mount_profile_info.ActionModule, overlay_changes_info.ActionModule,
           overlay_reset.ActionModule]


@pytest.mark.parametrize("ansible_would, always, unprivileged, want", [
    (True, False, False, False),  # pipelining on: the file instead
    (False, False, False, False),  # pipelining off (Ansible's default): a file, as ever
    (True, True, False, True),  # a connection that always pipelines: it does
    (True, False, True, True),  # become to an unprivileged user: the file would need wider permissions
    (False, False, True, False),  # off stays off
], ids=["pipelining-on", "off", "always-pipelines", "become-unprivileged", "off-unprivileged"])
@pytest.mark.parametrize("cls", ACTIONS, ids=lambda c: c.__module__.rsplit(".", 1)[1])
def test_pipelining_decision(monkeypatch, cls, ansible_would, always, unprivileged, want):
    monkeypatch.setattr(ActionBase, "_is_pipelining_enabled", lambda self, style, wrap_async=False: ansible_would)
    monkeypatch.setattr(ActionBase, "_is_become_unprivileged", lambda self: unprivileged)
    action = object.__new__(cls)
    action._connection = types.SimpleNamespace(always_pipeline_modules=always)
    assert action._is_pipelining_enabled("new") is want


def test_info_actions_run_their_own_module():
    """The three plain actions are Ansible's normal one: they run the module the task names."""
    from ansible.plugins.action.normal import ActionModule as Normal

    for cls in ACTIONS[1:]:
        assert issubclass(cls, Normal) and cls.run is Normal.run


def test_with_pipelining_on_our_modules_are_copied_and_ping_is_piped(scratch):
    """A real run with pipelining on (the harness's default): ping's payload goes through stdin, ours are copied
    files, and the profile is mounted.

    The connection is the builtin local one, recording each command's stdin and each copied file
    (plugins/connection/recording_local.py).
    """
    record = os.path.join(scratch, "connection.jsonl")
    inventory = os.path.join(scratch, "recording.ini")
    with open(inventory, "w") as f:
        f.write("localhost ansible_connection=recording_local ansible_python_interpreter=%s\n" % sys.executable)
    target = os.path.join(scratch, "mnt", "t")
    run = playbook.run(playbook.play([
        {"name": "ping", "ansible.builtin.ping": {}},
        {"name": "apply", "livemount.core.mount_profile": {
            "name": "piped", "mounts": [{"target": target, "type": "tmpfs", "options": ["size=1m"]}]}},
        {"name": "info", "livemount.core.mount_profile_info": {}},
    ]), scratch, inventory=inventory, env={
        "LIVEMOUNT_CONNECTION_RECORD": record,
        "ANSIBLE_CONNECTION_PLUGINS": os.path.join(playbook.HERE, "plugins", "connection")})
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("apply")["changed"]
    assert [p["profile"] for p in run.result("info")["profiles"]] == ["piped"]
    assert [m["fstype"] for m in playbook.mountinfo_targets()[target]] == ["tmpfs"]
    with open(record) as f:
        seen = [json.loads(line) for line in f]
    piped = [r for r in seen if r.get("stdin_bytes", 0) > BIG]
    copied = [r["put"] for r in seen if "put" in r]
    assert len(piped) == 1, seen  # ping's: pipelining is on
    assert [c for c in copied if c.startswith("AnsiballZ_")] == ["AnsiballZ_mount_profile.py",
                                                                 "AnsiballZ_mount_profile_info.py"], seen
