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
  - livemount.core.state_dir
  - livemount.core.namespace
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
    description:
      - Only this profile, in RV(profiles) and in RV(mounts) and RV(mounts_by_target) (only the mounts it owns).
      - Default all profiles with state in this namespace, and every mount.
    type: str
  path:
    description: Only mounts at or below this absolute path (added to O(paths)).
    type: path
  paths:
    description: Only mounts at or below any of these absolute paths.
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  owned_only:
    description: Only mounts some livemount profile owns (its recorded mount, on top at its target).
    type: bool
    default: false
    version_added: 0.2.0
  config_dir:
    description:
      - Where enabled profiles are kept (default E(LIVEMOUNT_CONFIG_DIR) or C(/etc/livemount)). Enabled profiles
        are reported in the module's own namespace only (not with O(namespace) or O(pid)).
    type: path
"""

EXAMPLES = r"""
- name: Read the mount table and profile health
  livemount.core.mount_profile_info:
  register: mounts

- name: Fail when a profile is not healthy
  ansible.builtin.assert:
    that: mounts.profiles | map(attribute='healthy') | min

- name: What profile webapp has mounted, looked up by mount point
  livemount.core.mount_profile_info:
    name: webapp
  register: webapp

- name: Fail unless the cache is a 16 MiB tmpfs
  ansible.builtin.assert:
    that:
      - webapp.mounts_by_target['/srv/app/cache'].fstype == 'tmpfs'
      - webapp.mounts_by_target['/srv/app/cache'].fs_options.size == '16777216'

- name: Every livemount-owned mount under /srv and /var/lib/app, across the fleet
  livemount.core.mount_profile_info:
    owned_only: true
    paths: [/srv, /var/lib/app]
  register: owned
"""

RETURN = r"""
mounts:
  description: Every live mount (or those the filters O(name), O(path), O(paths) and O(owned_only) keep), in mountinfo order.
  returned: always
  type: list
  elements: dict
  sample: [{mount_id: 63, parent_id: 27, device: "0:45", root: /, target: /srv/app/cache, source: tmpfs,
            fstype: tmpfs, mount_options: [rw, nosuid], fs_options: {size: "16777216"}, propagation: private,
            lower: [], data: [], upper: null, work: null, visible: true, owner: webapp}]
mounts_by_target:
  description:
    - The same mounts (after the same filters) keyed by mount point, as C(ansible.builtin.mount_facts) keys
      C(mount_points), for lookups such as C(result.mounts_by_target['/srv/app/cache'].owner).
    - Where several mounts are stacked on one mount point, the one on top (C(visible)) is given; RV(mounts) lists all.
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {/srv/app/cache: {mount_id: 63, parent_id: 27, device: "0:45", root: /, target: /srv/app/cache,
                            source: tmpfs, fstype: tmpfs, mount_options: [rw, nosuid], fs_options: {size: "16777216"},
                            propagation: private, lower: [], data: [], upper: null, work: null, visible: true,
                            owner: webapp}}
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
      description:
        - Owned entries with C(health) ok, drifted, missing or foreign on top, and C(detail).
        - Entries of the profile last applied that are not in place (a failed step with on_error continue)
          have C(health) not applied.
      type: list
      elements: dict
    profile_data:
      description:
        - The profile as last applied (the dict given to M(livemount.core.mount_profile)), or null when the
          state predates it. Pass it back as O(livemount.core.mount_profile#module:profile) to roll back.
      type: dict
    enabled:
      description:
        - The profile is enabled (applied at every boot, C(docs/boot.md)). Enabled profiles never applied here are
          listed too. Absent with O(namespace) or O(pid).
      type: bool
    enabled_copy:
      description:
        - When enabled, whether the enabled copy is what is live (C(matches_live), with C(pending) changes and
          C(conflicts) otherwise) and the C(fstab_conflicts) that would compete with it at boot.
      type: dict
    boot:
      description: How this boot applied it (C(at), C(result) applied or failed, C(error)), or null.
      type: dict
namespace:
  description: The mount namespace read.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# First: the engine files below are then compiled once on the host, not twice (zip_import.py).
from ansible_collections.livemount.core.plugins.module_utils import zip_import  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.livemount.core.plugins.module_utils import args_common
from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors, inventory, paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable
from ansible_collections.livemount.core.plugins.module_utils.livemount import state
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system


def main():
    spec = args_common.argument_spec(args_common.STATE_DIR_SPEC, args_common.NAMESPACE_SPEC,
                                     name={"type": "str"}, path={"type": "path"},
                                     paths={"type": "list", "elements": "path", "default": []},
                                     owned_only={"type": "bool", "default": False}, config_dir={"type": "path"})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=args_common.NAMESPACE_EXCLUSIVE)
    p = module.params
    # In a named namespace the table and the status come from there, the state from here.
    system = real_system(p["namespace"], p["pid"])
    root = engine.state_root(p["state_dir"])
    try:
        under = [paths.clean(x) for x in ([p["path"]] if p["path"] else []) + p["paths"]]
    except ValueError as exc:
        module.fail_json(msg="cannot filter mounts by path: %s" % exc)
    try:
        mounts = inventory.read(system, root)[1]
        profiles = engine.status(system, root=root, name=p["name"])
        if p["namespace"] is None and p["pid"] is None:  # enabled profiles belong to systemd's namespace
            profiles = enable.annotate_status(profiles, system, config=p["config_dir"], root=root, only=p["name"])
        namespace = system.namespace_id()
    except errors.LivemountError as exc:
        module.fail_json(msg=str(exc), **exc.to_dict())
    mounts = inventory.select(mounts, under, owner=p["name"], owned_only=p["owned_only"])
    for prof in profiles:
        prof["healthy"] = not prof["interrupted"] and all(e["health"] == "ok" for e in prof["entries"])
        prof["profile_data"] = state.StateStore(root, prof["namespace"], prof["profile"]).load().profile_data
    module.exit_json(changed=False, mounts=mounts, mounts_by_target=inventory.by_target(mounts),
                     profiles=profiles, namespace=namespace)


if __name__ == "__main__":
    main()
