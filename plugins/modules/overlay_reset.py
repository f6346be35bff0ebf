#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: overlay_reset
short_description: Discard what a mounted overlay changed, live, by swapping in a fresh upper directory
version_added: 0.1.0
description:
  - Makes the merged tree of the overlay mounted at O(target) show what its lower layers alone show, everywhere or
    at and below O(paths) only, and changes nothing else. What is discarded is exactly what
    M(livemount.core.overlay_changes_info) lists there. The same run as C(livemount overlay reset --json).
  - Never writes into a mounted layer. The mount is made read-only (so the listing is exact), then replaced
    (atomically on Linux 6.5+) by a new overlay on a fresh upper and work directory, seeded with the changes
    kept; the old upper and work are renamed aside and kept (deleted with O(discard)). Any failure undoes
    everything.
  - Idempotent. With nothing to discard nothing is swapped and C(changed) is false.
  - The overlay must be owned by a livemount profile (the reset then runs under its lock and journal and
    updates its state), unless O(force).
author: livemount developers (@livemount)
extends_documentation_fragment:
  - livemount.core.state_dir
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Lists what would be discarded and changes nothing at all (not even the read-only freeze, no lock file),
        so the listing may be inexact while something writes to the overlay; a warning says so.
  diff_mode:
    support: full
    details:
      - Returns RV(diff) when something is (or would be) discarded, the discarded paths as the overlay shows them
        (C(before)) and as its lower layers do (C(after)).
  platform:
    platforms: linux
options:
  target:
    description: The overlay's mount point (symlinks are resolved). The overlay must be the mount on top there.
    type: path
    required: true
  paths:
    description:
      - Reset only the changes at and below these paths, keeping every other change. They are paths inside the
        overlay (V(/etc) is C(<target>/etc)); a leading C(/) is optional. Unset, V([]) or V(/) resets everything.
      - Refused for an overlay with C(index=on) or with other writable mounts, and for a path that cannot go back
        alone (below a path the overlay deleted, or the old name of a kept renamed directory).
    type: list
    elements: str
  discard:
    description:
      - Delete the old upper and work directories after the swap, once no mount of the old overlay is left in
        any mount namespace. Otherwise they are kept and a warning says why.
    type: bool
    default: false
  force:
    description: Reset an overlay that no livemount profile owns (no profile state is written; it has a lock and journal of its own).
    type: bool
    default: false
notes:
  - Requires root and Linux with the new mount API (5.2+). The swap is atomic on 6.5+ (the new overlay slides
    beneath the old one, C(MOVE_MOUNT_BENEATH)); before that the old overlay is unmounted first.
  - Resets only in the module's own mount namespace; run it inside a container to reset an overlay there.
  - See C(docs/overlay-reset.md) for what the new upper gets and every refusal.
seealso:
  - module: livemount.core.overlay_changes_info
  - module: livemount.core.mount_profile
"""

EXAMPLES = r"""
- name: Reset the application's overlay to pristine
  livemount.core.overlay_reset:
    target: /srv/app
    discard: true
  notify: restart app

- name: Discard what changed under /var/cache only, keeping every other change
  livemount.core.overlay_reset:
    target: /srv/app
    paths: [/var/cache]

- name: What a reset would discard (changes nothing)
  livemount.core.overlay_reset:
    target: /srv/app
  check_mode: true
  register: would
"""

RETURN = r"""
discarded:
  description:
    - The overlay changes items discarded (or that would be), as M(livemount.core.overlay_changes_info) lists
      them.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/app.conf, kind: modified, type: file, detail: content, changed: [content]}]
counts:
  description: The number of discarded items of each kind present.
  returned: always
  type: dict
  sample: {modified: 1, added: 2}
unchanged_paths:
  description: The O(paths) with nothing to reset at or below them (not an error).
  returned: always
  type: list
  elements: str
copied:
  description:
    - What the new upper gets besides the kept changes, per reset path, so that it shows the lower view there
      (C(how) is V(copy) or V(whiteout); see C(docs/overlay-reset.md)).
  returned: always
  type: list
  elements: dict
  sample: [{path: /d/a, how: copy}]
upper_aside:
  description: Where the old upper directory was renamed to and kept; null when nothing was swapped.
  returned: always
  type: str
work_aside:
  description: Where the old work directory was renamed to and kept; null when nothing was swapped.
  returned: always
  type: str
old_gone:
  description:
    - Whether the old overlay came off with a plain unmount (false when processes still used it and it was
      detached lazily); null when nothing was swapped.
  returned: always
  type: bool
removed_aside:
  description: Whether O(discard) deleted the old upper and work.
  returned: always
  type: bool
recovered:
  description: What an interrupted forced reset of this target left, and how this run recovered it first.
  returned: always
  type: list
  elements: str
frozen:
  description: Whether the mount was made read-only for the reset (false in check mode, or when it was read-only).
  returned: always
  type: bool
profile:
  description: The name of the profile owning the overlay, or null with O(force) on an overlay none owns.
  returned: always
  type: str
namespace:
  description: The mount namespace acted in (e.g. mnt:[4026531841]).
  returned: always
  type: str
target:
  description: The overlay's mount point, symlinks resolved.
  returned: always
  type: str
upper:
  description: The overlay's upper directory (the same path after the reset, a fresh directory).
  returned: always
  type: str
work:
  description: The overlay's work directory.
  returned: always
  type: str
paths:
  description: The reset paths, cleaned, each absorbing those below it; V([/]) for everything.
  returned: always
  type: list
  elements: str
all:
  description: Whether the whole overlay was reset.
  returned: always
  type: bool
mode:
  description: V(check) in check mode, else V(apply).
  returned: always
  type: str
busy:
  description: When a process holds a file open for writing on the overlay, who (pid, comm, how, path); nothing changed.
  returned: when the freeze was busy
  type: list
  elements: dict
diff:
  description:
    - The discarded paths as the overlay shows them (C(before)) and as its lower layers do (C(after)), one line
      each; directories end in C(/), an added or deleted directory says how many items it holds.
  returned: when changed and diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First: the engine files below are then compiled once on the host, not twice (zip_import.py).
from ansible_collections.livemount.core.plugins.module_utils import zip_import
from ansible_collections.livemount.core.plugins.module_utils import args_common
from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as overlay_changes
from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import reset as overlay_reset


def main():
    spec = args_common.argument_spec(args_common.STATE_DIR_SPEC, target={"type": "path", "required": True},
                                     paths={"type": "list", "elements": "str"},
                                     discard={"type": "bool", "default": False},
                                     force={"type": "bool", "default": False})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        report = overlay_reset.reset(p["target"], ["/" + path.lstrip("/") for path in p["paths"] or ()],
                                     system=real_system(), root=p["state_dir"],
                                     check=module.check_mode, discard=p["discard"], force=p["force"])
    except errors.LivemountError as exc:
        out = exc.to_dict()
        for key in ("errno", "busy"):
            if getattr(exc, key, None) is not None:
                out[key] = getattr(exc, key)
        module.fail_json(msg=_ansible_words(str(exc)), **out)
    for warning in report.pop("warnings"):
        module.warn(_ansible_words(warning))
    if module._diff and report["changed"]:
        report["diff"] = overlay_changes.diff_text(report["target"], overlay_changes.collapse(report["discarded"]),
                                                   discarded=True)
    if not module.check_mode:
        zip_import.keep_compiled()  # a run that may write: the next ones, check mode too, load instead of compiling
    module.exit_json(**report)


def _ansible_words(text):
    """Return the engine's `text` with the CLI's options named as this module's (--force is force=true)."""
    return text.replace("--force", "force=true").replace("--discard", "discard=true")


if __name__ == "__main__":
    main()
