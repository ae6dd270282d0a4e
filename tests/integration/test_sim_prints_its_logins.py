"""`make sim` prints the simulator's logins and the variables that point the modules at it, and they work.

The README sends a reader to that output to run a playbook against the simulator: the printed ``export`` lines,
taken as printed, are the whole connection of a module run.
"""

from __future__ import annotations

import shlex

from tests.integration.ansible_run import run_tasks
from tests.integration.ecosystem_support import REPO_ROOT
from tests.simulator.core import SERVERS

SIMULATOR_PROFILES = ("4.12",)


def printed_exports(output: list[str]) -> dict[str, str]:
    env = {}
    for line in output:
        if line.strip().startswith("export "):
            env.update(word.split("=", 1) for word in shlex.split(line.strip())[1:])
    return env


def test_the_printed_logins_and_exports_connect_the_modules(sim):
    output = "\n".join(sim.output)
    assert "APIM Management API login: admin / admin" in output
    assert "AM Management API login: admin / adminadmin" in output
    assert "user for MCP clients: demo / demo-password" in output
    assert ".venv/bin/ansible-playbook playbooks/secure_mcp.yml -e @playbooks/vars/demo.yml" in output
    env = printed_exports(sim.output)
    assert env == {**sim.env()}, env  # what every test connects with
    tasks = [
        {"name": "apim", "mcpgate.gravitee.apim_info": {}},
        {"name": "am", "mcpgate.gravitee.am_info": {"domain": "mcp"}},
    ]
    run = run_tasks(sim, tasks, connection_env=False, extra_env=env)
    assert run.rc == 0, [r.msg for r in run.results] or run.stderr
    assert run.task("am").result["domain"]["hrid"] == "mcp"


def test_the_readme_shows_the_same_exports_for_the_default_ports(sim):
    readme = (REPO_ROOT / "README.md").read_text()
    shown = printed_exports([line for line in readme.splitlines() if line.startswith("export GRAVITEE_")])
    expected = dict(sim.env())
    for name, server in (("GRAVITEE_APIM_URL", "apim"), ("GRAVITEE_AM_URL", "am")):
        expected[name] = f"http://127.0.0.1:{SERVERS[server][1]}"
    assert shown == expected
    assert "make sim" in readme and ".venv/bin/ansible-playbook playbooks/secure_mcp.yml -e @playbooks/vars/demo.yml" in readme
