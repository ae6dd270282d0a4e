"""The modules' EXAMPLES as one playbook against the simulator, and their RETURN documentation read back.

Every module of ``plugins/modules/`` is found when the test runs, and its EXAMPLES are taken as written: the YAML
text of the module file, with only the connection values and host names of ``SUBSTITUTIONS`` replaced by the
simulator's. The modules' blocks run in one play, in ``ORDER`` (the guide's order), so that a block finds what the
blocks before it made and registered: the examples chain by using the same objects (the API at ``/weather-mcp``, the
AM domain ``mcp``, the MCP server ``weather-mcp``, the resource ``AM authorization server``) and the same registered
variables (``mcp_server`` from am_mcp_server, whose ``client_secret`` apim_resource hands to APIM and mcp_probe uses).
No example deploys the API before its OAuth2 plan is published: the guide's keyless test stage is the role's.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.integration.ansible_run import HERE, PlaybookRun, TaskResult, run_tasks

REPO_ROOT = HERE.parents[1]
MODULES_DIR = REPO_ROOT / "plugins" / "modules"
COLLECTION = "mcpgate.gravitee"

# The order the modules' EXAMPLES run in, the guide's: read what exists; create the MCP proxy API (not deployed);
# register the MCP server in AM; the domain's settings (CIMD with its template application); the MCP clients'
# applications; the AM resource in the API; the OAuth2 plan, the keyless
# plan deleted, one deployment; then the verification through the gateway. A module not listed here (one added
# since) runs after these, in alphabetical order: place it here when its examples need to run earlier.
ORDER = ("apim_info", "am_info", "apim_api", "am_mcp_server", "am_domain_settings", "am_application", "apim_resource",
         "apim_plan", "mcp_probe")

# The one substitution table: what the examples say -> the simulator's server (a key of ``sim.urls``). Only these
# host names change; the credentials come from the GRAVITEE_* environment (``sim.env()``), or, where an example
# gives them as variables, from ``VARIABLES``.
SUBSTITUTIONS = {
    "https://apim.example.com": "apim",  # APIM Management API
    "https://am.example.com": "am",  # AM Management API
    "https://gw.example.com": "apim_gateway",  # APIM gateway, as MCP clients reach it
    "https://am-gateway.example.com": "am_gateway",  # AM gateway, as APIM and MCP clients reach it
    "http://weather-mcp.internal:3001": "mcp",  # the MCP server, as the APIM gateway reaches it
}
# Connection values the examples take from variables a user would keep in a vault.
VARIABLES = {
    "apim_token": lambda sim: sim.apim_token,  # an APIM personal access token
    "am_password": lambda sim: sim.env()["GRAVITEE_AM_PASSWORD"],
}
GATEWAY_URL = re.compile(re.escape("https://gw.example.com") + r"(/[a-z0-9._~-][a-z0-9._~/-]*)")

# Objects a module returns as the server has them, whose keys depend on the server's version and on what is set
# there: their RETURN documents the keys a playbook needs (``contains``), and says that there are others. Inside
# these, a key that is not documented is no error; a documented one must still come back.
OPEN_OBJECTS = frozenset((
    "am_info.domain",  # AM's Domain: dozens of settings objects, more in each version
))

# Keys Ansible adds to every result; the others are what the module returned.
ANSIBLE_KEYS = frozenset(("changed", "failed", "invocation", "diff", "warnings", "deprecations", "skipped",
                          "skip_reason", "censored", "exception", "msg"))


@dataclass
class Module:
    name: str
    examples_text: str
    returns: dict[str, Any]

    @property
    def fqcn(self) -> str:
        return f"{COLLECTION}.{self.name}"

    def examples(self, sim) -> list[dict[str, Any]]:
        return yaml.safe_load(substitute(self.examples_text, sim)) or []


def documentation_strings(path: Path) -> dict[str, str]:
    """EXAMPLES and RETURN of a module file, read without importing it."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("EXAMPLES", "RETURN"):
                    found[target.id] = node.value.value
    return found


def discover() -> list[Module]:
    """Every module of the collection, in ``ORDER``, then the others alphabetically."""
    modules = []
    for path in sorted(MODULES_DIR.glob("*.py")):
        if path.name == "__init__.py":
            continue
        strings = documentation_strings(path)
        modules.append(Module(path.stem, strings.get("EXAMPLES", ""), yaml.safe_load(strings.get("RETURN", "")) or {}))
    rank = {name: index for index, name in enumerate(ORDER)}
    return sorted(modules, key=lambda module: (rank.get(module.name, len(ORDER)), module.name))


def substitute(text: str, sim) -> str:
    for documented, server in SUBSTITUTIONS.items():
        text = text.replace(documented, sim.urls[server])
    return text


def watched_urls(modules: list[Module], sim) -> list[str]:
    """The gateway URLs the examples name (the MCP APIs they secure), on the simulator's gateway."""
    paths = sorted(set(path.rstrip("/") for module in modules for path in GATEWAY_URL.findall(module.examples_text)))
    return [sim.urls["apim_gateway"] + path for path in paths if "/.well-known/" not in path]


@dataclass
class ExampleTask:
    module: str  # the module whose EXAMPLES hold the task
    index: int  # its position in those EXAMPLES, from 1
    task: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.module} example {self.index} ({self.task.get('name')!r})"


@dataclass
class ExamplesRun:
    run: PlaybookRun
    tasks: list[ExampleTask]
    results: list[TaskResult]  # one per task that ran, in order
    watch: list[dict[str, Any]]  # per task: the gateway's status for each watched URL

    @property
    def output(self) -> str:
        return (self.run.stdout[-4000:] + "\n" + self.run.stderr[-3000:]).strip()

    def failures(self) -> list[str]:
        found = [f"{t.label}: {r.msg or r.result}" for t, r in zip(self.tasks, self.results) if r.failed]
        if len(self.results) < len(self.tasks):
            found.append(f"{len(self.tasks) - len(self.results)} tasks did not run, from {self.tasks[len(self.results)].label}")
        return found

    def changed(self) -> list[str]:
        return [t.label for t, r in zip(self.tasks, self.results) if r.changed]


def example_tasks(modules: list[Module], sim) -> list[ExampleTask]:
    return [ExampleTask(module.name, index, task) for module in modules
            for index, task in enumerate(module.examples(sim), start=1)]


def run_examples(sim, modules: list[Module], check: bool = False) -> ExamplesRun:
    """Every module's EXAMPLES, in order, as the tasks of one play; the gateway watched after each task."""
    tasks = example_tasks(modules, sim)
    with tempfile.TemporaryDirectory(prefix="mcpgate-examples-") as tmp:
        watch_file = Path(tmp) / "watch.json"
        run = run_tasks(
            sim, [t.task for t in tasks], check=check,
            extra_vars={name: value(sim) for name, value in VARIABLES.items()},
            extra_env={
                "ANSIBLE_CALLBACKS_ENABLED": "record_results,gateway_watch",
                "MCPGATE_WATCH_URLS": json.dumps(watched_urls(modules, sim)),
                "MCPGATE_WATCH_FILE": str(watch_file),
            },
        )
        watch = json.loads(watch_file.read_text()) if watch_file.exists() else []
    return ExamplesRun(run, tasks, run.results, watch)


# -- RETURN ---------------------------------------------------------------------------------------------------------
TYPES = {"dict": dict, "list": list, "str": str, "bool": bool, "int": int, "float": (int, float)}


def returned_values(module: Module, runs: list[ExamplesRun]) -> list[dict[str, Any]]:
    """What the module returned in the runs (Ansible's own keys left out), for each of its tasks that ran and whose
    result is not hidden by ``no_log``, whichever module's EXAMPLES hold the task."""
    values = []
    for run in runs:
        for task, result in zip(run.tasks, run.results):
            if module.fqcn not in task.task or result.status == "skipped" or result.failed or "censored" in result.result:
                continue
            values.append({k: v for k, v in result.result.items() if k not in ANSIBLE_KEYS and not k.startswith("_")})
    return values


def always(spec: dict[str, Any]) -> bool:
    return str(spec.get("returned", "always")).strip().lower() in ("always", "success")


def return_problems(module: Module, values: list[dict[str, Any]]) -> list[str]:
    """How RETURN and what the module returned differ: keys returned but not documented, documented keys returned
    ``always`` but never seen, values of another type; one level into ``contains``."""
    return compare(module.returns, values, module.name)


def compare(documented: dict[str, Any], values: list[dict[str, Any]], where: str) -> list[str]:
    problems = []
    seen = set()
    for value in values:
        for key, item in value.items():
            seen.add(key)
            spec = documented.get(key)
            if spec is None:
                if where in OPEN_OBJECTS:
                    continue
                problems.append(f"{where}.{key} is returned but not documented")
                continue
            problems += type_problems(spec, item, f"{where}.{key}")
    for key, spec in documented.items():
        if key not in seen and always(spec):
            problems.append(f"{where}.{key} is documented as returned {spec.get('returned', 'always')!r} but never came back")
    for key, spec in documented.items():
        contains = spec.get("contains")
        if not contains or key not in seen:
            continue
        inner = [v[key] for v in values if isinstance(v.get(key), dict) and v[key]]
        if spec.get("type") == "list":
            inner = [element for v in values for element in (v.get(key) or []) if isinstance(element, dict)]
        if inner:
            problems += compare(contains, inner, f"{where}.{key}")
    return sorted(set(problems))


def type_problems(spec: dict[str, Any], value: Any, where: str) -> list[str]:
    expected = TYPES.get(spec.get("type"))
    if value is None or expected is None:
        return []
    if isinstance(value, bool) and expected is int:
        return [f"{where} is a bool, documented as {spec.get('type')}"]
    if not isinstance(value, expected):
        return [f"{where} is a {type(value).__name__}, documented as {spec.get('type')}"]
    return []
