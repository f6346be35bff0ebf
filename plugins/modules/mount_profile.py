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
  - The profile comes from the task's own fields, from O(profile) (a whole profile as one dict, e.g. a
    variable, or the C(profile_data) that M(livemount.core.mount_profile_info) returns) or from O(src) (a
    file); fields set on the task win. The action plugin merges them on the controller and validates the result
    against the profile JSON Schema and livemount's rules before the host is contacted.
author: livemount developers (@livemount)
extends_documentation_fragment:
  - livemount.core.profile
  - livemount.core.state_dir
  - livemount.core.namespace
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
  profile:
    description:
      - A whole profile as one dict (C(name), C(mounts), ...). Its fields are used where the task does not
        set them; O(src) is read first, then O(profile), then the task's fields. Handled by the action
        plugin; never sent to the host.
    type: dict
  validate_only:
    description:
      - Only validate the profile on the controller (schema and rules, every problem at once) and return;
        the host is not contacted and nothing is planned. Lets a play validate every profile before
        applying any.
    type: bool
    default: false
  validate_all:
    description:
      - The profiles of the loop this task is part of (whole dicts, this one among them). Before this profile
        touches the host, the action plugin checks that each has a name, given once, and validates every one
        of them; when one is not valid, this item fails unchanged. Since every item checks them all, a loop
        applies none unless all are valid (a failed loop item does not stop the next one), in the loop's own
        task. The role livemount.core.mounts passes its whole list. Handled by the action plugin; never sent to
        the host.
    type: list
    elements: dict
    version_added: 0.2.0
  verify:
    description:
      - Fail the task unless this apply left the profile healthy (RV(health), read from the live table the
        apply ended with), naming each entry that is not ok. Not in check mode, nor with O(state=absent).
        The role livemount.core.mounts verifies this way. Handled by the action plugin; never sent to the host.
    type: bool
    default: false
    version_added: 0.2.0
  state:
    description:
      - V(present) makes the live table match the profile; V(absent) removes everything the profile owns.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description:
      - V(true) also keeps the profile enabled, so that systemd applies it again at every boot
        (C(livemount enable), C(docs/boot.md)); an C(/etc/fstab) line for one of its targets then fails the task
        before anything is mounted. V(false) disables it (C(livemount disable)). Unset, the enabled copy is left
        as it is, except with O(state=absent), which also disables it (gone now and at boot); O(state=absent)
        with V(true) unmounts now and keeps the enabled copy.
      - Needs the C(livemount) package and its boot units on the host (C(livemount systemd install)) for the
        boot itself; the task warns when they are missing. Not with O(namespace) or O(pid).
    type: bool
  config_dir:
    description:
      - Where enabled profiles are kept. Defaults to E(LIVEMOUNT_CONFIG_DIR) or C(/etc/livemount).
    type: path
  from_enabled:
    description:
      - Apply the enabled copy of O(name) as a boot would, instead of the profile given to the task (whose fields
        are then ignored). With the mounts removed first (O(state=absent), O(enabled=true)), this is a simulated
        reboot (C(playbooks/rollout.yml) uses it).
    type: bool
    default: false
  on_busy:
    description:
      - When an unmount is busy, V(fail) names the processes holding it (in RV(busy)) and rolls back;
        V(detach) unmounts lazily, the old tree living on for those processes. Overrides every entry's
        C(on_busy); unset, each entry's applies (default V(fail)).
    type: str
    choices: [fail, detach]
notes:
  - Requires root and Linux with the new mount API (5.2+); atomic replace needs 6.5+.
  - With O(namespace) or O(pid), bind entries with C(source_namespace=host) take their source from the
    module's own namespace, e.g. to inject a host directory into a running container. The state stays in
    O(state_dir), keyed by the target namespace.
  - The previous profile of each apply is kept in the state; M(livemount.core.mount_profile_info) returns it
    so a play can roll back (see C(playbooks/rollout.yml)).
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

- name: Apply a profile held in a variable (the role livemount.core.mounts does this)
  livemount.core.mount_profile:
    profile: "{{ webapp_profile }}"

- name: Validate only (controller side, the host is not contacted)
  livemount.core.mount_profile:
    src: profiles/webapp.yml.j2
    validate_only: true

- name: "Mount it now and at every boot (enabled: applied by livemount@webapp.service)"
  livemount.core.mount_profile:
    src: profiles/webapp.yml.j2
    enabled: true

- name: Remove everything the profile owns (and no longer apply it at boot)
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
      description: keep, mkdir, mount, remount, replace, unmount, link, unlink, rmdir or forget (a recorded entry already gone, dropped from the state).
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
    before:
      description: The entry before the step, as a profile writes it; null for a new one. Absent on keep, mkdir and rmdir steps.
      type: dict
    after:
      description: The entry after the step, as a profile writes it; null for an unmount or unlink. Absent on keep, mkdir and rmdir steps.
      type: dict
  sample: [{action: mount, target: /srv/app/cache, reason: new entry, type: tmpfs, before: null,
            after: {target: /srv/app/cache, type: tmpfs, options: [size=16m]}}]
conflicts:
  description: Mounts in the way that livemount does not own; when not empty the task fails unchanged.
  returned: always
  type: list
  elements: dict
failed_changes:
  description:
    - With on_error=continue, the steps that failed and why (C(error)). Not C(failed), which is the task's own
      status.
  returned: always
  type: list
  elements: dict
recovered:
  description: Messages about an interrupted earlier apply that this run recovered first.
  returned: always
  type: list
  elements: str
kept_aside:
  description:
    - Old upper and work directories of overlays this run replaced (upper_policy fresh) or detached lazily, renamed
      aside next to themselves and kept, with C(target), C(upper), C(upper_aside), C(work), C(work_aside) and
      C(old_gone) (false when processes still used the old overlay).
  returned: always
  type: list
  elements: dict
enabled_copy:
  description:
    - With O(enabled) set or O(state=absent), what happened to the enabled copy kept for boot.
  returned: when the enabled copy was looked at
  type: dict
  contains:
    action:
      description: V(enable) or V(disable).
      type: str
    changed:
      description: Whether the enabled copy was (or, in check mode, would be) written or removed.
      type: bool
    path:
      description: The enabled copy's file.
      type: str
  sample: {action: enable, changed: true, mode: apply, path: /etc/livemount/enabled/webapp.json, profile: webapp}
namespace:
  description: The mount namespace acted on (e.g. mnt:[4026531841]).
  returned: always
  type: str
profile:
  description: The name of the profile acted on.
  returned: always
  type: str
mode:
  description: V(check) in check mode, else V(apply).
  returned: always
  type: str
skipped_changes:
  description:
    - With on_error=continue, the steps skipped because a step they depend on failed (C(why)). Not C(skipped),
      which is the task's own status.
  returned: always
  type: list
  elements: dict
problems:
  description:
    - Every problem of an invalid profile, found on the controller before the host is contacted, as
      C(livemount validate --json) lists them; nothing was touched.
    - Each has C(index) and C(target) (the entry, null for the profile itself), C(field), C(message),
      C(path) (the JSON path, C($.mounts[1].options[0])), C(detail) (the message without its entry prefix),
      C(file) (the O(src) file when the field comes from it, else the task's C(file:line)) and C(line)
      (the line in that file, null when not in a file).
  returned: when the profile is invalid
  type: list
  elements: dict
  sample:
    - {index: 0, target: /srv/app/cache, field: mode, path: "$.mounts[0].mode", file: profiles/web.yml, line: 6,
       detail: "755 is decimal here (0o1363); write it quoted, as '0755'",
       message: "entry 0 (/srv/app/cache): mode: 755 is decimal here (0o1363); write it quoted, as '0755'"}
problem_lines:
  description: "The same problems as C(livemount validate) prints them, C(FILE:LINE: $.path: detail), one per problem."
  returned: when the profile is invalid
  type: list
  elements: str
  sample: ["profiles/web.yml:6: $.mounts[0].mode: 755 is decimal here (0o1363); write it quoted, as '0755'"]
busy:
  description: When an unmount was busy, the processes holding the mount (pid, comm, how, path); nothing changed.
  returned: when an unmount was busy
  type: list
  elements: dict
  sample: [{pid: 4242, comm: sleep, how: cwd, path: /srv/app/cache}]
health:
  description:
    - The profile's health as this run leaves it (in check mode, as it is now), read from the live table the
      apply ended with, so no M(livemount.core.mount_profile_info) run is needed to verify it. C(healthy) is true
      when every owned entry is ok (and, in check mode, no interrupted apply waits); C(entries) lists each owned
      entry with C(target), C(type), C(health) (ok, drifted, missing or foreign on top) and C(detail).
  returned: when the profile was planned
  type: dict
  sample: {healthy: true, entries: [{target: /srv/app/cache, type: tmpfs, health: ok, detail: ""}]}
previous_profile:
  description:
    - The profile as last applied before this run (the dict given to M(livemount.core.mount_profile)), or null when
      there was none. Pass it back as O(profile) to roll back (state absent when null).
  returned: when the profile was planned
  type: dict
previous_enabled:
  description:
    - Whether the profile had an enabled copy before this run (null when acting in another namespace). Pass it back
      as O(enabled) with RV(previous_profile) to roll back.
  returned: when the profile was planned
  type: bool
diff:
  description: Before and after of the owned mount table as fstab-like lines (with C(--diff)).
  returned: when changed and diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First: the engine files below are then compiled once on the host, not twice (zip_import.py).
from ansible_collections.livemount.core.plugins.module_utils import zip_import
from ansible_collections.livemount.core.plugins.module_utils import args_common
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import ansible_spec
from ansible_collections.livemount.core.plugins.module_utils.livemount import engine, errors
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import enable
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable.store import EnabledStore
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile


def main():
    spec = args_common.argument_spec(
        ansible_spec.module_argument_spec(), args_common.STATE_DIR_SPEC, args_common.NAMESPACE_SPEC,
        src={"type": "path"}, profile={"type": "dict"}, validate_only={"type": "bool", "default": False},
        validate_all={"type": "list", "elements": "dict"}, verify={"type": "bool", "default": False},
        on_busy={"type": "str", "choices": ["fail", "detach"]}, enabled={"type": "bool"},
        config_dir={"type": "path"}, from_enabled={"type": "bool", "default": False})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=args_common.NAMESPACE_EXCLUSIVE + [("namespace", "enabled"),
                                                                                 ("pid", "enabled")])
    p = module.params
    if p["src"] or p["profile"] or p["validate_only"] or p["validate_all"] is not None or p["verify"]:
        module.fail_json(msg="cannot handle src, profile, validate_only, validate_all or verify on the host: the"
                         " action plugin reads them (run livemount.core.mount_profile as a task, not with -m from a"
                         " copy)")
    report = None
    was_enabled = _was_enabled(p)
    try:
        data = ansible_spec.params_to_profile(p)
        system = real_system(p["namespace"], p["pid"], p["on_busy"])
        prof, data = enable.load_enabled(p["name"], p["config_dir"]) if p["from_enabled"] else (None, data)
        if p["state"] == "absent":
            report = engine.destroy(p["name"], system, root=p["state_dir"], check=module.check_mode)
        else:
            prof = prof or profile.load_profile(data)
            if p["enabled"]:  # an /etc/fstab line for a target refuses it before anything is mounted
                enable.enable(prof, data, config=p["config_dir"], check=True)
            report = engine.reconcile(prof, system, root=p["state_dir"], check=module.check_mode, profile_data=data)
        durable = None if report.failed else enable.follow_up(
            p["name"], p["enabled"], p["state"], prof, data, p["config_dir"], module.check_mode, "ansible task")
    except errors.LivemountError as exc:
        result = getattr(exc, "report", None)
        out = _with_health(result.to_dict(), result, was_enabled) if result is not None else {}
        out.pop("diff", None)
        out.update(exc.to_dict(), changed=False)
        if getattr(exc, "busy", None):
            out["busy"] = exc.busy
        module.fail_json(msg=str(exc), **_edge(module, out))
    result = _edge(module, _with_health(report.to_dict(), report, was_enabled))
    if not (module._diff and report.changed):
        result.pop("diff", None)
    if durable is not None:  # enabled: the copy applied at boot (docs/boot.md)
        copy = durable.to_dict()
        for warning in copy.pop("warnings"):
            module.warn(warning)
        copy.pop("diff")  # shown as the task's diff, with --diff
        result.update(enabled_copy=copy, changed=result["changed"] or durable.changed)
        if module._diff and durable.changed:
            result["diff"] = [result["diff"], durable.diff] if "diff" in result else durable.diff
    if report.failed:
        module.fail_json(msg="cannot apply every change: %s" % "; ".join(pair[1] for pair in report.failed), **result)
    if not module.check_mode:
        zip_import.keep_compiled()  # a run that may write: the next ones, check mode too, load instead of compiling
    module.exit_json(**result)


def _was_enabled(p):
    """Return whether profile p["name"] had an enabled copy before this run (None: not this namespace, or unreadable)."""
    if p["namespace"] is not None or p["pid"] is not None or not p["name"]:
        return None  # enabled profiles belong to systemd's namespace
    try:
        return p["name"] in EnabledStore(p["config_dir"]).names()
    except errors.LivemountError:
        return None  # the enable step itself says what is wrong with the directory


def _with_health(d, report, was_enabled=None):
    """Return the report dict with what a caller verifies and rolls back from: health after, profile before."""
    d["health"] = {"healthy": report.healthy, "entries": list(report.health)}
    d["previous_profile"] = report.previous
    d["previous_enabled"] = was_enabled
    return d


# The engine's lists of steps whose names Ansible reserves for the task's own
# status: ansible-core 2.20+ turns a list there into a bool, with a warning.
RENAMED = {"failed": "failed_changes", "skipped": "skipped_changes"}


def _edge(module, d):
    """Return the engine's dict with the keys Ansible reserves renamed or turned into warnings."""
    for key, name in RENAMED.items():
        d[name] = d.pop(key, [])
    for warning in d.pop("warnings", []):
        module.warn(warning)
    d.pop("kind", None)
    return d


if __name__ == "__main__":
    main()
