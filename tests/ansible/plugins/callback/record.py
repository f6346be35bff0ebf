# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: every task result as one JSON line, for tests/ansible to assert on."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys

DOCUMENTATION = r"""
name: record
type: aggregate
short_description: Write every task result as a JSON line to E(LIVEMOUNT_RECORD)
description: Test-only; never shipped (it lives under tests/).
requirements:
  - E(LIVEMOUNT_RECORD) names the output file
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._item_failed = {}  # (host, task uuid) -> [whether each loop item failed], in order

    def _write(self, status, result):
        path = os.environ.get("LIVEMOUNT_RECORD")
        if not path:
            return
        body = strip_internal_keys(module_response_deepcopy(result._result))
        failed = self._item_failed.pop((result._host.get_name(), result._task._uuid), [])
        if isinstance(body.get("results"), list) and len(body["results"]) == len(failed):
            # ansible-core 2.21 says an item failed only through the item callback, not in the item's
            # result as 2.19 did: put it back, so the tests read loop items alike on both.
            for item, item_failed in zip(body["results"], failed):
                if isinstance(item, dict):
                    item.setdefault("failed", item_failed)
        line = {"status": status, "host": result._host.get_name(), "task": result._task.get_name(),
                "action": result._task.action, "result": body}
        with open(path, "a") as f:
            f.write(json.dumps(line, default=str, sort_keys=True) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def _item(self, result, failed):
        self._item_failed.setdefault((result._host.get_name(), result._task._uuid), []).append(failed)

    def v2_runner_item_on_ok(self, result):
        self._item(result, False)

    def v2_runner_item_on_failed(self, result):
        self._item(result, True)

    def v2_runner_item_on_skipped(self, result):
        self._item(result, False)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)
