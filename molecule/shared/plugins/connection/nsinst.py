# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only connection into a namespace instance (molecule/shared/nsinst). Never shipped."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nsinst
short_description: Run tasks inside a namespace instance made by molecule/shared/nsinst (test only)
description:
  - The builtin C(local) connection, with every command run through C(nsenter) into the mount, UTS, IPC
    and PID namespaces of the instance's init, and files copied through C(/proc/PID/root).
  - Guard rails, checked before every command, so a stale or recycled PID can never act on the host
    refuses a PID whose mount namespace is the controller's, and one whose environment lacks
    C(NSINST_ID=<nsinst_id>).
author: livemount developers (@livemount)
options:
  nsinst_pid:
    description: PID (in the controller's PID namespace) of the instance's init.
    type: int
    vars:
      - name: ansible_host
  nsinst_id:
    description: The NSINST_ID the instance's init must carry.
    type: str
    required: true
    vars:
      - name: nsinst_id
  become_success_timeout:
    description: As for the local connection.
    type: int
    default: 10
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    description: As for the local connection.
    type: bool
    default: true
    vars:
      - name: ansible_local_become_strip_preamble
extends_documentation_fragment:
  - connection_pipelining
"""

import os
import shlex
import shutil

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection.local import Connection as LocalConnection

# Inside, the controller's PATH (pyenv shims, the venv) must not leak in:
# interpreter discovery would pick whatever it finds first.
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Connection(LocalConnection):
    transport = "nsinst"
    has_pipelining = True

    def _pid(self):
        """Return the instance's init PID after checking it is an instance, and the right one."""
        pid = self.get_option("nsinst_pid") or self._play_context.remote_addr
        want = self.get_option("nsinst_id")
        try:
            pid = int(pid)
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
            theirs = os.readlink("/proc/%d/ns/mnt" % pid)
        except (TypeError, ValueError, OSError) as exc:
            raise AnsibleConnectionFailure("cannot reach instance %s at pid %r: %s" % (want, pid, exc))
        if theirs == os.readlink("/proc/self/ns/mnt"):
            raise AnsibleConnectionFailure("cannot use pid %d for instance %s: it is in the controller's"
                                           " mount namespace" % (pid, want))
        if ("NSINST_ID=%s" % want).encode() not in env:
            raise AnsibleConnectionFailure("cannot use pid %d for instance %s: its environment has no"
                                           " NSINST_ID=%s (stale or recycled pid)" % (pid, want, want))
        return pid

    def exec_command(self, cmd, in_data=None, sudoable=True):
        inner = "nsenter --target=%d --mount --uts --ipc --pid -- env PATH=%s /bin/sh -c %s" % (
            self._pid(), CLEAN_PATH, shlex.quote(cmd))
        return super(Connection, self).exec_command(inner, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        # /proc/PID/root resolves paths in the instance's mount namespace, so
        # its private /tmp and /run are reached too (proc(5)). Not through
        # local's put_file: its realpath() would turn /proc/PID/root into /.
        try:
            shutil.copyfile(in_path, self._inside(out_path))
        except OSError as exc:
            raise AnsibleError("cannot put %s into instance at %s: %s" % (in_path, out_path, exc))

    def fetch_file(self, in_path, out_path):
        try:
            shutil.copyfile(self._inside(in_path), out_path)
        except OSError as exc:
            raise AnsibleError("cannot fetch %s from instance: %s" % (in_path, exc))

    def _inside(self, path):
        return "/proc/%d/root%s" % (self._pid(), os.path.join("/", path))
