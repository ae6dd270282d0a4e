# -*- coding: utf-8 -*-
# Test equipment: records every task result, with its module and timing, to the JSON file named by MCPGATE_RESULTS_FILE.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: record task results and timings to a JSON file (tests and benchmark only)
description:
  - Appends each task result to the file named by E(MCPGATE_RESULTS_FILE), for the integration tests and tests/bench,
    with the task's module, host, attempts and start and end times.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.results = []
        self.task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.task_started[task._uuid] = time.time()

    def _record(self, result, status):
        task = result._task
        self.results.append(
            {
                "task": task.get_name(),
                "action": getattr(task, "resolved_action", None) or task.action,
                "host": result._host.get_name(),
                "status": status,
                "attempts": result._result.get("attempts", 1),
                "start": self.task_started.get(task._uuid),
                "end": time.time(),
                "result": json.loads(json.dumps(result._result, default=str)),
            }
        )

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MCPGATE_RESULTS_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump(self.results, handle)
