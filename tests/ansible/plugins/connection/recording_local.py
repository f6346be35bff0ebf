# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only connection: the builtin local one, each command's stdin size and each copied file recorded."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: recording_local
short_description: The local connection, recording what it runs and copies (test only)
description:
  - The builtin C(local) connection. Each command (with the bytes it gets on stdin) and each file copied
    to the host is appended as a JSON line to E(LIVEMOUNT_CONNECTION_RECORD). Test-only; never shipped.
author: livemount developers (@livemount)
options:
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

import json
import os

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = "recording_local"
    has_pipelining = True

    def _record(self, **what):
        with open(os.environ["LIVEMOUNT_CONNECTION_RECORD"], "a") as f:
            f.write(json.dumps(what) + "\n")

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._record(cmd=cmd, stdin_bytes=len(in_data or b""))
        return super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        self._record(put=os.path.basename(out_path))
        return super(Connection, self).put_file(in_path, out_path)
