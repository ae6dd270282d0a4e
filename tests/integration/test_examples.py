"""Every module's EXAMPLES, as written, against the simulator: documentation that is true.

The modules and their EXAMPLES are found when the test runs (tests/integration/examples_support.py): a module added
to plugins/modules/ is covered without a change here. Only the connection values and host names of the one
substitution table (``examples_support.SUBSTITUTIONS``, ``VARIABLES``) are replaced. The modules' blocks run in one
play, in the guide's order (``examples_support.ORDER``), on a fresh simulator (profile 4.12): first in check mode,
then for real, then again. The test asserts that

* every task succeeds, in check mode too;
* check mode predicted the first run: the same tasks report a change;
* the second run changes nothing;
* no state an example leaves lets an MCP request through the gateway without a token: after every task (the
  gateway_watch callback), an unauthenticated ``initialize`` to each gateway URL the examples name gets 404 (not
  deployed yet) or 401, in every run; the examples secure the API before they first deploy it, and each run ends
  with the 401 challenge;
* each module's RETURN documents what it returned: every key that came back is documented, with its type; every
  key documented as returned ``always`` came back at least once; the same one level down, for the ``contains`` of
  dicts and lists of dicts.
"""

from __future__ import annotations

import requests
import yaml

from tests.integration import examples_support as examples

SIMULATOR_PROFILES = ("4.12",)


def test_every_module_has_examples_and_return_documentation_the_test_can_read():
    modules = examples.discover()
    assert [m.name for m in modules][: len(examples.ORDER)] == list(examples.ORDER), "a module of ORDER is gone"
    for module in modules:
        assert module.examples_text.strip(), f"{module.name} has no EXAMPLES"
        assert isinstance(module.returns, dict) and module.returns, f"{module.name} has no RETURN"
        tasks = yaml_tasks(module)
        assert isinstance(tasks, list) and all(isinstance(t, dict) and t.get("name") for t in tasks), (
            f"{module.name}: EXAMPLES must be a list of named tasks")
        assert any(module.fqcn in task for task in tasks), f"{module.name}: no example calls {module.fqcn}"
    # The table stays the short list of what the examples use.
    text = "".join(m.examples_text for m in modules)
    assert [d for d in examples.SUBSTITUTIONS if d not in text] == [], "a substitution no example uses"
    assert [v for v in examples.VARIABLES if "{{ %s }}" % v not in text] == [], "a variable no example uses"


def yaml_tasks(module):
    return yaml.safe_load(module.examples_text)


def unauthenticated_initialize(url: str) -> requests.Response:
    return requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}, timeout=10,
    )


def let_through(run: examples.ExamplesRun) -> list[str]:
    """The tasks after which a watched gateway URL answered an MCP request without a token."""
    return [f"after {task.label}: {url} answered {status} without a token"
            for task, seen in zip(run.tasks, run.watch) for url, status in seen["statuses"].items()
            if not (isinstance(status, int) and status in (401, 404))]


def test_the_examples_run_as_written_in_check_mode_then_twice_and_leave_the_mcp_server_secured(sim):
    modules = examples.discover()
    urls = examples.watched_urls(modules, sim)
    assert urls, "the examples name no gateway URL to watch"

    check = examples.run_examples(sim, modules, check=True)
    assert check.failures() == [], check.output
    assert let_through(check) == []

    first = examples.run_examples(sim, modules)
    assert first.failures() == [], first.output
    assert first.changed() == check.changed(), "check mode did not predict the first run"
    assert let_through(first) == []

    second = examples.run_examples(sim, modules)
    assert second.failures() == [], second.output
    assert second.changed() == [], "the second run changed something"
    assert let_through(second) == []

    for url in urls:
        answer = unauthenticated_initialize(url)
        assert answer.status_code == 401, (url, answer.status_code, answer.text[:300])
        assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer"), answer.headers

    # RETURN: what each module documents against what it returned, in the three runs.
    problems = []
    for module in modules:
        values = examples.returned_values(module, [check, first, second])
        if not values:
            problems.append(f"{module.name}: no example result to compare RETURN with")
            continue
        problems += examples.return_problems(module, values)
    assert problems == [], "\n".join(problems)


def test_the_substitution_table_maps_host_names_only():
    for documented, server in examples.SUBSTITUTIONS.items():
        # scheme://host[:port] only: paths, option values and credentials are the examples' own.
        assert documented.count("/") == 2 and not documented.endswith("/"), documented
        assert server in ("apim", "am", "apim_gateway", "am_gateway", "mcp"), server
