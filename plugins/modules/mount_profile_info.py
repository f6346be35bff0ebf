#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mount_profile_info
short_description: Read the live mount table and the health of livemount profiles
version_added: 0.1.0
description:
  - Reads C(/proc/self/mountinfo) once and returns every mount with its id, parent, device, root within
    the filesystem (bind roots), per-mount and filesystem options, propagation, overlay layers, and the
    livemount profile owning it.
  - For each profile with state in this namespace, returns its owned entries with their live health
    (ok, drifted, missing, foreign on top) and whether an apply was interrupted.
  - Returns the profile each state last applied (C(profile_data)), so a play can re-apply it to roll back.
  - Changes nothing.
author: livemount developers (@livemount)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: linux
options:
  name:
    description: Only this profile (default all with state in this namespace).
    type: str
  path:
    description: Only mounts at or below this absolute path.
    type: path
  state_dir:
    description: Where livemount keeps its state (default E(LIVEMOUNT_STATE_DIR) or C(/run/livemount)).
    type: path
  namespace:
    description:
      - Read the mount namespace of this nsfs file (C(/proc/PID/ns/mnt) or a bind-mounted copy) instead of the
        module's own. Mutually exclusive with O(pid).
    type: path
  pid:
    description: Read the mount namespace of this process (V(1) for the host's) instead of the module's own.
    type: int
"""

EXAMPLES = r"""
- name: Read the mount table and profile health
  livemount.core.mount_profile_info:
  register: mounts

- name: Fail when a profile is not healthy
  ansible.builtin.assert:
    that: mounts.profiles | map(attribute='healthy') | min
"""

RETURN = r"""
mounts:
  description: Every live mount, in mountinfo order.
  returned: always
  type: list
  elements: dict
  sample: [{mount_id: 63, parent_id: 27, device: "0:45", root: /, target: /srv/app/cache, source: tmpfs,
            fstype: tmpfs, mount_options: [rw, nosuid], fs_options: {size: "16777216"}, propagation: private,
            lower: [], data: [], upper: null, work: null, visible: true, owner: webapp}]
profiles:
  description: One item per profile with state in this namespace.
  returned: always
  type: list
  elements: dict
  contains:
    profile:
      description: The profile name.
      type: str
    applied_at:
      description: Time of the last apply, UTC, ISO 8601.
      type: str
    interrupted:
      description: An apply was killed; the next run recovers it.
      type: bool
    healthy:
      description: Every owned entry is ok and no apply was interrupted.
      type: bool
    leftovers:
      description:
        - Directories the profile created that another profile's mount still used when it was destroyed; the first
          later run that finds them unused removes them. Only present when there are some.
      type: list
      elements: str
    entries:
      description: Owned entries with C(health) ok, drifted, missing or foreign on top, and C(detail); entries of the profile last applied that are not in place (a failed step with on_error continue) with C(health) not applied.
      type: list
      elements: dict
    profile_data:
      description:
        - The profile as last applied (the dict given to M(livemount.core.mount_profile)), or null when the
          state predates it. Pass it back as O(livemount.core.mount_profile#module:profile) to roll back.
      type: dict
namespace:
  description: The mount namespace read.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors, inventory, paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import nsexec
from ansible_collections.livemount.core.plugins.module_utils.livemount import state
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import sys_linux


def main():
    module = AnsibleModule(argument_spec={"name": {"type": "str"}, "path": {"type": "path"},
                                          "state_dir": {"type": "path"}, "namespace": {"type": "path"},
                                          "pid": {"type": "int"}},
                           supports_check_mode=True, mutually_exclusive=[("namespace", "pid")])
    p = module.params
    # Configured: the table and the status come from the named namespace, the state from here.
    system = nsexec.Configured(sys_linux.LinuxSys(), p["namespace"], p["pid"])
    root = engine.state_root(p["state_dir"])
    try:
        mounts = inventory.read(system, root)[1]
        profiles = engine.status(system, root=root, name=p["name"])
        namespace = system.namespace_id()
    except errors.LivemountError as exc:
        module.fail_json(msg=str(exc), **exc.to_dict())
    if p["path"]:
        base = paths.clean(p["path"])
        mounts = [m for m in mounts if paths.is_at_or_under(m["target"], base)]
    for prof in profiles:
        prof["healthy"] = not prof["interrupted"] and all(e["health"] == "ok" for e in prof["entries"])
        prof["profile_data"] = state.StateStore(root, prof["namespace"], prof["profile"]).load().profile_data
    module.exit_json(changed=False, mounts=mounts, profiles=profiles, namespace=namespace)


if __name__ == "__main__":
    main()
