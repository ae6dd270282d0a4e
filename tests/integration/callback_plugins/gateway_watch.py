# -*- coding: utf-8 -*-
# Test equipment: after every task, asks the gateway whether an MCP request without a token gets through.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: gateway_watch
type: aggregate
short_description: after each task, an unauthenticated MCP initialize to each watched URL (tests only)
description:
  - After each task result, sends an MCP C(initialize) without a token to every URL of the JSON list
    E(MCPGATE_WATCH_URLS) and appends the HTTP status of each, with the task's name, to the JSON file named by
    E(MCPGATE_WATCH_FILE). The examples test (tests/integration/test_examples.py) reads it to assert that no state
    an example leaves lets a request through without a token.
"""

import json
import os

import requests
from ansible.plugins.callback import CallbackBase

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "gateway-watch", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "gateway_watch"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.urls = json.loads(os.environ.get("MCPGATE_WATCH_URLS") or "[]")
        self.seen = []

    def _watch(self, result):
        statuses = {}
        for url in self.urls:
            try:
                statuses[url] = requests.post(url, json=INITIALIZE, headers=HEADERS, timeout=10).status_code
            except requests.RequestException as exc:
                statuses[url] = "no answer: %s" % exc
        self.seen.append({"task": result._task.get_name(), "statuses": statuses})

    def v2_runner_on_ok(self, result):
        self._watch(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._watch(result)

    def v2_runner_on_skipped(self, result):
        self._watch(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MCPGATE_WATCH_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump(self.seen, handle)
