# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options naming another mount namespace to act in; the argspec is args_common.NAMESPACE_SPEC."""

    DOCUMENTATION = r"""
options:
  namespace:
    description:
      - Act in the mount namespace of this nsfs file (C(/proc/PID/ns/mnt), or a bind-mounted copy such as
        C(/run/snapd/ns/NAME.mnt)) instead of the module's own; its mount table is read, and paths are looked
        up, in that namespace. Mutually exclusive with O(pid). See C(docs/namespaces.md).
    type: path
  pid:
    description:
      - Act in the mount namespace of this process instead of the module's own; V(1) is the host's, from inside
        a service with its own namespace (systemd C(PrivateMounts=)). Mutually exclusive with O(namespace).
    type: int
"""
