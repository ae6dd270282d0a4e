"""What the APIM module tests share: task builders, one playbook run split per task, direct mAPI calls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.integration.ansible_run import PlaybookRun, TaskResult, run_tasks

ENV = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
# POSTs that read: a search and a path check change nothing on the server.
READ_ONLY_POSTS = re.compile(r"/apis/(_search|_verify/paths)$")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SECRET = "Am-Client-Secret-5f0c2e9d71"


def task(module: str, name: str, args: dict[str, Any], **keywords: Any) -> dict[str, Any]:
    return {"name": name, f"mcpgate.gravitee.{module}": args, **keywords}


def is_write(recorded: dict[str, Any]) -> bool:
    return recorded["method"] in WRITE_METHODS and not READ_ONLY_POSTS.search(recorded["path"])


def shape(recorded: dict[str, Any]) -> str:
    """``"POST /apis/{id}/plans"``: a recorded request relative to the environment, ids replaced."""
    path = recorded["path"].replace(ENV, "").replace("/management/v2/organizations/DEFAULT", "")
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{id}", path)
    return f"{recorded['method']} {path}"


@dataclass
class Step:
    result: TaskResult
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if is_write(r)]

    @property
    def calls(self) -> list[str]:
        return [shape(r) for r in self.requests]

    @property
    def changed(self) -> bool:
        return self.result.changed

    @property
    def failed(self) -> bool:
        return self.result.failed

    @property
    def msg(self) -> str:
        return self.result.msg

    def __getitem__(self, key: str) -> Any:
        return self.result.result[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.result.result.get(key, default)


@dataclass
class Steps:
    run: PlaybookRun
    steps: dict[str, Step]

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    @property
    def output(self) -> str:
        return self.run.stdout + self.run.stderr


def run_steps(sim, tasks: list[dict[str, Any]], **kwargs: Any) -> Steps:
    """Run ``tasks`` in one playbook and give each task's result with the APIM requests it sent.

    After each task a marker reads how many requests the simulator has recorded (a lookup on the
    controller: no module run, no request recorded), so the requests are split per task.  Tasks
    must have distinct names; a failing task should set ``ignore_errors: true`` for the next ones to run.
    """
    sim.clear_requests()
    play = []
    for item in tasks:
        play.append(item)
        play.append(
            {
                "name": "mark " + item["name"],
                "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.url', sim_requests, split_lines=False) | from_json | length }}"},
            }
        )
    extra_vars = {"sim_requests": sim.admin + "/requests", **kwargs.pop("extra_vars", {})}
    run = run_tasks(sim, play, extra_vars=extra_vars, **kwargs)
    recorded = sim.requests()
    results = {r.task: r for r in run.results}
    steps, start = {}, 0
    for item in tasks:
        marker = results.get("mark " + item["name"])
        if item["name"] not in results or marker is None:
            continue
        end = int(marker.result["msg"])
        steps[item["name"]] = Step(results[item["name"]], [r for r in recorded[start:end] if r["server"] == "apim"])
        start = end
    missing = [t["name"] for t in tasks if t["name"] not in steps]
    assert not missing, f"tasks that did not run: {missing}\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    return Steps(run, steps)


class ApimAdmin:
    """Direct calls to the simulated Management API, as the Console or another tool would make them."""

    def __init__(self, sim):
        self.base = sim.urls["apim"] + ENV
        self.session = requests.Session()
        self.session.auth = ("admin", "admin")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def find(self, context_path: str) -> dict[str, Any] | None:
        found = self._call("POST", "/apis/_search", json={"query": context_path})["data"]
        wanted = context_path.rstrip("/") + "/"
        return next(
            (a for a in found for l in a["listeners"] if l["type"] == "HTTP" for p in l["paths"] if p["path"] == wanted),
            None,
        )

    def get(self, api_id: str) -> dict[str, Any]:
        return self._call("GET", f"/apis/{api_id}")

    def update(self, api_id: str, change) -> dict[str, Any]:
        api = self.get(api_id)
        change(api)
        return self._call("PUT", f"/apis/{api_id}", json=api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/apis", json=body)

    def plans(self, api_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/apis/{api_id}/plans", params={"statuses": "STAGING,PUBLISHED,DEPRECATED,CLOSED"})["data"]

    def create_plan(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/apis/{api_id}/plans", json={"definitionVersion": "V4", "mode": "STANDARD", **body})

    def deploy(self, api_id: str) -> None:
        self._call("POST", f"/apis/{api_id}/deployments", json={"deploymentLabel": "test"})

    def plan_action(self, api_id: str, plan_id: str, action: str) -> Any:
        return self._call("POST", f"/apis/{api_id}/plans/{plan_id}/_{action}")


def mcp_proxy_body(name: str, path: str, target: str, api_type: str = "MCP_PROXY") -> dict[str, Any]:
    """A V4 API as the Console would create it, for setup (``api_type`` PROXY for a plain HTTP proxy)."""
    plugin = "mcp-proxy" if api_type == "MCP_PROXY" else "http-proxy"
    return {
        "definitionVersion": "V4",
        "type": api_type,
        "name": name,
        "apiVersion": "1",
        "listeners": [{"type": "HTTP", "paths": [{"path": path}], "entrypoints": [{"type": plugin if api_type == "MCP_PROXY" else "http-proxy"}]}],
        "endpointGroups": [
            {"name": "default-group", "type": plugin, "endpoints": [{"name": "default", "type": plugin, "configuration": {"target": target}}]}
        ],
    }
