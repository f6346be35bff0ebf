#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mount_profile
short_description: Reconcile the live mount table with a declared mount profile
version_added: 0.1.0
description:
  - Diffs a named profile of bind mounts, tmpfs, overlays, symlinks and other filesystems against the
    B(live) mount table (C(/proc/self/mountinfo)) and applies the difference live, in dependency order,
    with an undo of everything done if a step fails.
  - Idempotent by comparing normalized live state, not configuration text. Option changes are applied
    live (remount) without unmounting; source, type or overlay layer changes replace the mount atomically
    where the kernel allows (Linux 6.5+).
  - Only mounts recorded as owned by this profile, or exact matches of a desired entry (adopted), are ever
    changed. Anything else at a desired target is a conflict and nothing is changed.
  - Check mode runs the same planning code and skips only the mutations; it writes nothing at all.
  - Use O(src) (handled on the controller by the action plugin) to read the profile from a file; it is
    templated and validated against the profile JSON Schema before the host is contacted.
author: livemount developers
extends_documentation_fragment:
  - livemount.core.profile
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: before and after of the mount table this profile owns, as fstab-like lines.
  platform:
    platforms: linux
options:
  src:
    description:
      - A profile file (YAML or JSON) on the controller, templated. Its fields are used where the task
        does not set them. Handled by the action plugin; never sent to the host.
    type: path
  state:
    description:
      - V(present) makes the live table match the profile; V(absent) removes everything the profile owns.
    type: str
    choices: [present, absent]
    default: present
  state_dir:
    description:
      - Where livemount keeps what each profile owns and its journal. Defaults to E(LIVEMOUNT_STATE_DIR)
        or C(/run/livemount) (it must not survive a reboot: mounts do not either).
    type: path
notes:
  - Requires root and Linux with the new mount API (5.2+); atomic replace needs 6.5+.
seealso:
  - module: livemount.core.mount_profile_info
"""

EXAMPLES = r"""
- name: Mount the application's data, config and cache
  livemount.core.mount_profile:
    name: webapp
    mounts:
      - {target: /srv/app/data, type: bind, source: /data/app, options: [ro, nosuid]}
      - {target: /srv/app/cache, type: tmpfs, options: [size=16m, mode=0755]}
      - {target: /srv/app/bin/tool, type: symlink, source: /opt/tool/bin/tool}
  notify: restart webapp

- name: Same, from a templated profile file on the controller
  livemount.core.mount_profile:
    src: profiles/webapp.yml.j2

- name: Remove everything the profile owns
  livemount.core.mount_profile:
    name: webapp
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the plan changed (or, in check mode, would change) the system.
  returned: always
  type: bool
changes:
  description: The plan, one item per step, in execution order (keeps included).
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: keep, mkdir, mount, remount, replace, unmount, link, unlink or rmdir.
      type: str
    target:
      description: The path acted on.
      type: str
    reason:
      description: Why (new entry, drift, option change...).
      type: str
    type:
      description: The entry's type (bind, tmpfs, overlay, symlink, ...).
      type: str
  sample: [{action: mount, target: /srv/app/cache, reason: new entry, type: tmpfs}]
conflicts:
  description: Mounts in the way that livemount does not own; when not empty the task fails unchanged.
  returned: always
  type: list
  elements: dict
failed_changes:
  description: With on_error=continue, the steps that failed and why.
  returned: when some failed
  type: list
  elements: dict
recovered:
  description: Messages about an interrupted earlier apply that this run recovered first.
  returned: always
  type: list
  elements: str
namespace:
  description: The mount namespace acted on (e.g. mnt:[4026531841]).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.livemount.core.plugins.module_utils.livemount import ansible_spec, engine, errors
from ansible_collections.livemount.core.plugins.module_utils.livemount import failpoint, profile, sys_linux


def main():
    spec = ansible_spec.module_argument_spec()
    spec["src"] = {"type": "path"}
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["src"]:
        module.fail_json(msg="cannot read src on the host: use the action plugin (livemount.core.mount_profile)")
    report = None
    try:
        data = ansible_spec.params_to_profile(p)
        sys_ = failpoint.from_env(sys_linux.LinuxSys())
        if p["state"] == "absent":
            report = engine.destroy(p["name"], sys_, root=p["state_dir"], check=module.check_mode)
        else:
            prof = profile.load_profile(data)
            report = engine.reconcile(prof, sys_, root=p["state_dir"], check=module.check_mode, profile_data=data)
    except errors.LivemountError as exc:
        result = getattr(exc, "report", None)
        out = result.to_dict() if result is not None else {}
        out.pop("diff", None)
        out.update(exc.to_dict(), changed=False)
        module.fail_json(msg=str(exc), **_rename(out))
    result = _rename(report.to_dict())
    if module._diff and result.get("diff") and report.changed:
        result["diff"] = report.diff
    else:
        result.pop("diff", None)
    if report.failed:
        module.fail_json(msg="cannot apply every change: %s" % "; ".join(m for _, m in report.failed), **result)
    module.exit_json(**result)


def _rename(d):
    # `failed` is reserved by Ansible for the task's own status.
    d["failed_changes"] = d.pop("failed", [])
    d.pop("kind", None)
    return d


if __name__ == "__main__":
    main()
