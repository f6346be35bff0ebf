# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of livemount.core.mount_profile_info: Ansible's own (normal), the module run from a copied file.

Why a file even with pipelining on: plugins/plugin_utils/from_file.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action.normal import ActionModule as Normal

from ansible_collections.livemount.core.plugins.plugin_utils.from_file import FromFile


class ActionModule(FromFile, Normal):
    pass
