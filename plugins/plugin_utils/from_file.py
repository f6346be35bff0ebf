# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a livemount module on the host from a copied file, even with pipelining on.

With pipelining, Ansible gives the host's Python the module on its standard
input, and CPython (3.9 to 3.13 at least) reads a script from stdin one byte
per read(2) system call. A livemount module carries the engine, so its
AnsiballZ payload is about three times ping's: read a byte at a time it
costs the host more than the round trips of copying the file first
(docs/benchmarks.md, the fleet rollout, measures both). So these modules run
as Ansible runs every module by default: from a file in the remote
temporary directory.

Ansible's choice stands where a file would not do: become to an
unprivileged user (the file would need its permissions widened for that
user) and connections that always pipeline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class FromFile(ActionBase):
    """An action whose module runs from a copied file rather than through the connection's stdin."""

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        enabled = super(FromFile, self)._is_pipelining_enabled(module_style, wrap_async)
        if not enabled or getattr(self._connection, "always_pipeline_modules", False):
            return enabled
        return self._is_become_unprivileged()
