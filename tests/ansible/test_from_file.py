"""livemount's modules run from a copied file, even with pipelining on, unless a file would not do.

CPython reads a script given on stdin one byte per read(2), and these
modules' payloads carry the engine (plugins/plugin_utils/from_file.py).
Whether pipelining is used is the action's own decision; what Ansible
would decide is stubbed, so each case holds on every ansible-core.
"""

import types

import pytest
from ansible.plugins.action import ActionBase

from ansible_collections.livemount.core.plugins.action import mount_profile, mount_profile_info, overlay_changes_info
from ansible_collections.livemount.core.plugins.action import overlay_reset

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
