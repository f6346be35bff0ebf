#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: overlay_changes_info
short_description: List what a mounted overlay changed relative to its lower layers
version_added: 0.1.0
description:
  - Lists every path where the merged tree of the overlay mounted at O(target) differs from what its lower
    layers alone show (added, renamed, deleted, modified, metacopy, opaque), found by walking only the upper
    directory and the lower paths it names. The same report as C(livemount overlay changes --json TARGET).
  - Changes nothing on disk; C(changed) is always false. With O(freeze) the mount is made read-only for the
    walk and given its own flags back afterwards.
author: livemount developers (@livemount)
extends_documentation_fragment:
  - livemount.core.namespace
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The same run as without check mode. O(freeze) is honoured in check mode too, because it restores the
        mount's flags exactly; leave O(freeze) off in plays that must not touch mount flags at all.
  diff_mode:
    support: full
    details:
      - Returns RV(diff), the changed paths as the lower layers show them and as the overlay does. Since
        C(changed) is false, the default stdout callback does not print it; register the result to use it.
  platform:
    platforms: linux
options:
  target:
    description:
      - The overlay's mount point (symlinks are resolved). The overlay must be the mount on top there.
      - With O(namespace) or O(pid), a path in that namespace.
    type: path
    required: true
  freeze:
    description:
      - Make the mount read-only while listing, for an exact snapshot of a writable overlay, then give it its
        own flags back. Fails, changing nothing, while a process holds a file open for writing on it
        (C(EBUSY) from mount_setattr(2)).
      - Without it, a writable overlay is listed live and a warning says the listing may be inexact.
    type: bool
    default: false
  paths:
    description:
      - Only report items at or under these paths. They are paths inside the overlay, as RV(changes) names them
        (V(/etc) is C(<target>/etc)); a leading C(/) is optional.
    type: list
    elements: str
  collapse:
    description:
      - Fold the contents of added, renamed and deleted directories into the directory's item, which then
        carries C(count), like the CLI table. RV(summary) still counts every item.
    type: bool
    default: false
notes:
  - Requires root, because overlayfs keeps opaque directories and redirects in C(trusted.overlay.*) xattrs, which only
    root can read (mounts with C(userxattr) use C(user.overlay.*)).
seealso:
  - module: livemount.core.mount_profile_info
"""

EXAMPLES = r"""
- name: List what the application changed in its overlay (read-only while listing)
  livemount.core.overlay_changes_info:
    target: /srv/app
    freeze: true
  register: app

- name: Fail when the application deleted anything
  ansible.builtin.assert:
    that: app.summary.deleted == 0
    fail_msg: "deleted: {{ app.changes | selectattr('kind', 'eq', 'deleted') | map(attribute='path') | join(', ') }}"

- name: Only what changed under /etc, contents of new directories folded into them
  livemount.core.overlay_changes_info:
    target: /srv/app
    paths: [/etc]
    collapse: true
  register: etc
"""

RETURN = r"""
changes:
  description: One item per differing path, sorted so a directory comes right before its contents.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path inside the overlay.
      type: str
    kind:
      description: added, renamed, deleted, modified, metacopy or opaque.
      type: str
    type:
      description: file, dir, symlink, char, block, fifo or socket (the lower one's for deleted paths).
      type: str
    detail:
      description: What differs, in words (C(mode 0644 -> 0600), C(from /old/path)).
      type: str
    changed:
      description: What differs, from type, mode, uid, gid, size, content, target, rdev, xattrs.
      type: list
      elements: str
    count:
      description: How many items below this directory were folded into it.
      returned: with O(collapse), on added, renamed and deleted directories
      type: int
  sample: [{path: /etc/app.conf, kind: metacopy, type: file, detail: "metadata only: mode 0644 -> 0600",
            changed: [mode]}]
summary:
  description: The number of items of each kind (every kind present, zeros included), before folding.
  returned: always
  type: dict
  sample: {added: 2, renamed: 0, deleted: 1, modified: 1, metacopy: 0, opaque: 1}
target:
  description: The overlay's mount point, symlinks resolved.
  returned: always
  type: str
upper:
  description: The upper directory, or null for an overlay without one (it changes nothing).
  returned: always
  type: str
lower:
  description: The lower directories, top-most first.
  returned: always
  type: list
  elements: str
data:
  description: The data-only lower layers.
  returned: always
  type: list
  elements: str
xattr_prefix:
  description: Where the overlay keeps its metadata, V(trusted.) or V(user.) (mount option C(userxattr)).
  returned: always
  type: str
frozen:
  description: Whether the mount was made read-only for the walk (false when it was read-only already).
  returned: always
  type: bool
namespace:
  description: The mount namespace read (e.g. mnt:[4026531841]).
  returned: always
  type: str
diff:
  description:
    - The changed paths as the lower layers show them (C(before)) and as the overlay does (C(after)), one
      line each; directories end in C(/), a folded directory says how many items it holds.
  returned: in diff mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First: the engine files below are then compiled once on the host, not twice (zip_import.py).
from ansible_collections.livemount.core.plugins.module_utils import zip_import  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.livemount.core.plugins.module_utils import args_common
from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import nsexec
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as overlay_changes
from ansible_collections.livemount.core.plugins.module_utils.livemount import paths as lpaths
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system


def main():
    spec = args_common.argument_spec(args_common.NAMESPACE_SPEC, target={"type": "path", "required": True},
                                     freeze={"type": "bool", "default": False},
                                     paths={"type": "list", "elements": "str"},
                                     collapse={"type": "bool", "default": False})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=args_common.NAMESPACE_EXCLUSIVE)
    p = module.params
    try:
        bases = [_inside(path) for path in p["paths"] or ()]
        report, namespace = _report(p)
    except errors.LivemountError as exc:
        out = exc.to_dict()
        if getattr(exc, "errno", None) is not None:
            out["errno"] = exc.errno
        module.fail_json(msg=_ansible_words(str(exc)), **out)
    except ValueError as exc:
        module.fail_json(msg="cannot list overlay changes of %s: %s" % (p["target"], exc))
    for warning in report.pop("warnings"):
        module.warn(_ansible_words(warning))
    items = overlay_changes.select(report.pop("changes"), bases)
    report.pop("counts")  # of every item: the summary counts those the paths filter kept
    summary = dict((kind, 0) for kind in overlay_changes.KINDS)
    summary.update(overlay_changes.counts(items))
    if p["collapse"]:
        items = overlay_changes.collapse(items)
    if module._diff:
        report["diff"] = overlay_changes.diff_text(report["target"], items)
    report.update(changes=items, summary=summary, namespace=namespace)
    module.exit_json(changed=False, **report)


def _inside(path):
    """Return `path` (a path inside the overlay, leading / optional) cleaned; ValueError if it has `..`."""
    try:
        return lpaths.clean("/" + path.lstrip("/"))
    except ValueError as exc:
        raise ValueError("paths item %r: %s" % (path, exc))


def _ansible_words(text):
    """Return the engine's `text` with the CLI's option named as this module's (--freeze is freeze=true)."""
    return text.replace("--freeze", "freeze=true")


def _report(p):
    """Return (overlay_changes.report() of the task's target, namespace id), run in the named namespace if any."""
    system, target = nsexec.resolve(real_system(), p["namespace"], p["pid"])[:2]

    def listing(s, root, progress):
        return overlay_changes.report(p["target"], freeze=p["freeze"], system=s), s.namespace_id()

    if target is None:
        return listing(system, None, None)
    # nsexec.run enters the namespace in a forked child: setns(2) refuses a
    # multi-threaded process and would change this process's root for good.
    return nsexec.run(target, system, listing, "/")


if __name__ == "__main__":
    main()
