# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bench-only callback: each task's start to end on each host, written as JSON lines to E(LIVEMOUNT_TASK_CLOCK).

What profile_tasks measures, without changing the stdout callback: a run
keeps Ansible's default output (and its cost) while the bench reads how long
each task took. Never shipped (it lives under bench/).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_clock
type: aggregate
short_description: Write each task's duration as a JSON line to E(LIVEMOUNT_TASK_CLOCK)
description: Bench-only; never shipped (it lives under bench/).
requirements:
  - E(LIVEMOUNT_TASK_CLOCK) names the output file
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_clock"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._started = None

    def _close(self):
        path = os.environ.get("LIVEMOUNT_TASK_CLOCK")
        if self._started is not None and path:
            name, start = self._started
            with open(path, "a") as f:
                f.write(json.dumps({"task": name, "seconds": time.time() - start}) + "\n")
        self._started = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._started = (task.get_name(), time.time())

    def v2_playbook_on_handler_task_start(self, task):
        self._close()
        self._started = (task.get_name(), time.time())

    def v2_playbook_on_stats(self, stats):
        self._close()
