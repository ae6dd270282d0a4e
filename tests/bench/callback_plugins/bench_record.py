# -*- coding: utf-8 -*-
# Test equipment: records each task's action, status and timing to the JSON file named by MCPGATE_BENCH_FILE.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: bench_record
type: aggregate
short_description: record task actions, statuses and times to a JSON file (benchmark only)
description:
  - Appends one record per task and host to the file named by E(MCPGATE_BENCH_FILE), for tests/bench.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.records = []
        self.task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.task_started[task._uuid] = time.time()

    def _record(self, result, status):
        task = result._task
        self.records.append(
            {
                "task": task.get_name(),
                "action": getattr(task, "resolved_action", None) or task.action,
                "host": result._host.get_name(),
                "status": status,
                "changed": bool(result._result.get("changed")),
                "attempts": result._result.get("attempts", 1),
                "start": self.task_started.get(task._uuid),
                "end": time.time(),
            }
        )

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MCPGATE_BENCH_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump(self.records, handle)
