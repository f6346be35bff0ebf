# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The state directory option; the argspec is args_common.STATE_DIR_SPEC."""

    DOCUMENTATION = r"""
options:
  state_dir:
    description:
      - Where livemount keeps what each profile owns and its journal. Defaults to E(LIVEMOUNT_STATE_DIR)
        or C(/run/livemount). Keep it on a filesystem that does not survive a reboot, as mounts do not.
    type: path
"""
