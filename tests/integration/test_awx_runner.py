"""The collection run as AWX / Automation Controller runs it: ansible-runner jobs of the job templates, surveys,
credentials and workflow of extensions/awx/ (how a job is prepared: tests/integration/awx_runner.py).

One AWX is set up once: credentials of the Gravitee APIM type (a personal access token) and the Gravitee AM type (user
name and password) with the simulator's URLs, and the project's collections installed as a project sync does. Then:
the job template "Secure an MCP server" with the survey's answers (at verbosity 3, the most a job template's
"Verbosity" is commonly set to), the workflow "Secure an MCP server and check it" (whose first job must change nothing
and send no write, and whose second job must receive the first one's set_stats data as extra variables), and the job
template "Take down a secured MCP server" with an AM credential holding a token this time. No secret may appear in any
file of the jobs' private data dirs beyond the two places a job's credentials are, by design, handed to
ansible-runner: ``env/envvars`` (its input) and ``artifacts/<id>/command`` (ansible-runner's record of that input).
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.integration.awx_runner import AwxSite, Credential, controller_objects, files_holding, survey_errors
from tests.integration.role_support import am, apim
from tests.tools import render_awx

SIMULATOR_PROFILES = ("4.12",)
SECURE, TEARDOWN, CHECK = "Secure an MCP server", "Take down a secured MCP server", "Check the secured MCP servers"
WORKFLOW = "Secure an MCP server and check it"
CONTEXT_PATH = "/weather-mcp"
AM_PASSWORD = "adminadmin"  # the simulator's AM admin; APIM's password ('admin') is too common to search for


def test_the_surveys_are_generated_from_the_role_argument_specs():
    problems = render_awx.differences()
    assert problems == [], "run `make docs` and commit the result:\n" + "\n".join(problems)


def test_the_surveys_ask_what_a_person_fills_in_and_leave_the_connection_to_the_credentials():
    options = render_awx.role_options()
    templates, workflows = controller_objects()
    secure = templates[SECURE].survey
    asked = {q["variable"]: q for q in secure["spec"]}
    assert workflows[WORKFLOW].survey == secure

    # Every role variable is asked, or left to the credentials, or set by the job template, or listed as an extra
    # variable: none is forgotten.
    spec, left = render_awx.survey("secure_mcp", options)
    assert set(asked) | set(left["credential"]) | set(left["state"]) | set(left["extra_vars"]) == set(options)
    assert {"secure_mcp_apim_url", "secure_mcp_am_password", "secure_mcp_apim_token", "secure_mcp_ca_path"} <= set(
        left["credential"])
    assert not any("GRAVITEE_" in entry["question_description"] for entry in asked.values())
    assert left["state"] == ["secure_mcp_state"]
    assert templates[SECURE].extra_vars == {"secure_mcp_state": "present"}
    assert templates[TEARDOWN].extra_vars == {"secure_mcp_state": "absent"}

    # Types, choices, defaults and requiredness as the argument specs give them; secrets as password fields.
    for name, entry in asked.items():
        option = options[name]
        if option.get("type", "str") == "int":
            assert entry["type"] == "integer", name
        elif option.get("choices"):
            assert (entry["type"], entry["choices"]) == ("multiplechoice", option["choices"]), name
        else:
            assert entry["type"] == ("password" if name.endswith(("_secret", "_password", "_token")) else "text"), name
            assert (entry["min"], entry["max"]) == (1, 1024), name
        assert entry.get("default") == option.get("default"), name
        assert entry["question_name"] and entry["question_description"], name
    assert asked["secure_mcp_client_secret"]["type"] == "password" and "default" not in asked["secure_mcp_client_secret"]
    assert [n for n, q in asked.items() if q["required"]] == [
        "secure_mcp_context_path", "secure_mcp_server_url", "secure_mcp_apim_gateway_url", "secure_mcp_am_gateway_url",
        "secure_mcp_am_domain"]
    assert asked["secure_mcp_probe_retries"] == {**asked["secure_mcp_probe_retries"], "type": "integer", "default": 24}
    # A blank text answer is refused by AWX, never passed to the role as "".
    assert survey_errors(secure, {**dict.fromkeys(
        ["secure_mcp_context_path", "secure_mcp_server_url", "secure_mcp_apim_gateway_url", "secure_mcp_am_gateway_url",
         "secure_mcp_am_domain"], "x"), "secure_mcp_client_secret": ""}) == ["secure_mcp_client_secret: length 0 outside 1..1024"]

    # The teardown asks for what tasks/absent.yml uses, and nothing it does not.
    teardown = {q["variable"]: q for q in templates[TEARDOWN].survey["spec"]}
    assert set(teardown) == {"secure_mcp_context_path", "secure_mcp_am_domain", "secure_mcp_client_id"}
    assert [n for n, q in teardown.items() if q["required"]] == ["secure_mcp_context_path", "secure_mcp_am_domain"]

    # Each job template's playbook is in the example project.
    for template in templates.values():
        assert (render_awx.REPO_ROOT / "extensions" / "awx" / "project" / template.playbook).is_file(), template.playbook


@pytest.fixture(scope="module")
def awx(tmp_path_factory):
    """Credentials are added per test (they hold the simulator's URLs); the project sync happens once."""
    return AwxSite(tmp_path_factory.mktemp("awx"), credentials={})


def generated_secret(sim) -> str:
    """The client secret AM generated for the MCP server, as the role handed it to the APIM resource."""
    api = apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"][0]
    secret = apim(sim, f"/apis/{api['id']}")["resources"][0]["configuration"]["clientSecret"]
    assert len(secret) >= 16 and set(secret) != {"*"}
    return secret


def gateway_tokens(sim) -> list[str]:
    """The access tokens the verification's client sent through the gateway (the gateway introspects each at AM)."""
    return [
        match.group(1) for r in sim.requests("am_gateway") if r["path"].endswith("/oauth/introspect")
        for match in [re.search(r"token=([^&]+)", str(r["body"] or ""))] if match
    ]


def test_the_job_templates_and_the_workflow_run_as_awx_runs_them(sim, awx):
    templates, workflows = controller_objects()
    awx.credentials.update({
        "Gravitee APIM": Credential("Gravitee APIM", "gravitee_apim", {"url": sim.urls["apim"], "token": sim.apim_token}),
        "Gravitee AM": Credential("Gravitee AM", "gravitee_am", {
            "url": sim.urls["am"], "username": "admin", "password": AM_PASSWORD}),
    })
    answers = {
        "secure_mcp_context_path": CONTEXT_PATH,
        "secure_mcp_server_url": sim.urls["mcp"] + "/mcp",
        "secure_mcp_apim_gateway_url": sim.urls["apim_gateway"],
        "secure_mcp_am_gateway_url": sim.urls["am_gateway"],
        "secure_mcp_am_domain": "mcp",
        "secure_mcp_api_name": "Weather MCP",
        # The simulated gateway deploys at once: the probes need not wait long.
        "secure_mcp_probe_retries": 2,
        "secure_mcp_probe_delay": 1,
    }

    # 1. "Secure an MCP server", launched with the survey's answers.
    first = awx.launch(templates[SECURE], answers, verbosity=3)
    assert first.rc == 0 and first.status == "successful", first.failures()
    assert first.stats["changed"].get("localhost", 0) > 0 and not first.stats["failures"]
    verification = first.task("Verification | An MCP client gets the 401 challenge, then a token from AM, then the tools")
    assert verification["authenticated"]["verified"] is True
    api = apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"][0]
    assert api["name"] == "Weather MCP"
    outputs = first.artifacts["secure_mcp_results"]["localhost"]
    assert outputs == {
        "mcp_server_url": sim.urls["apim_gateway"] + CONTEXT_PATH, "api_id": api["id"],
        "am_mcp_server_id": outputs["am_mcp_server_id"], "client_id": "mcp-weather-mcp",
        "issuer": sim.urls["am_gateway"] + "/mcp/oidc",
    }
    # The role came from the collection the project sync installed, found through ANSIBLE_COLLECTIONS_PATH.
    task_paths = {d["task_path"] for d in first.results() if "task_path" in d}
    installed = str(first.private_data_dir / "requirements_collections" / "ansible_collections" / "mcpgate" / "gravitee")
    assert task_paths and all(path.startswith(installed + "/") for path in task_paths), task_paths
    assert any("/roles/secure_mcp/tasks/verify.yml:" in path for path in task_paths)
    learned = {"client secret generated by AM": generated_secret(sim)}
    learned.update({f"access token {n}": token for n, token in enumerate(gateway_tokens(sim))})
    assert len(learned) >= 2, "the verification sent no token through the gateway"

    # 2. The workflow: its survey asked once; "Secure an MCP server" again changes nothing and writes nothing, then
    #    "Check the secured MCP servers" receives its set_stats data as extra variables and uses them.
    workflow = workflows[WORKFLOW]
    assert not survey_errors(workflow.survey, answers)
    assert [(node, template) for node, template, dummy_next in workflow.nodes] == [("secure", SECURE), ("check", CHECK)]
    sim.clear_requests()
    artifacts: dict = {}
    jobs = []
    for node, template_name, dummy_next in workflow.nodes:
        job = awx.launch(templates[template_name], ancestor_artifacts=artifacts, workflow_vars=answers)
        assert job.rc == 0 and job.status == "successful", (node, job.failures())
        artifacts.update(job.artifacts)
        jobs.append(job)
    again, check = jobs
    assert sum(again.stats["changed"].values()) == 0, [d["task"] for d in again.results() if d["res"].get("changed")]
    assert sim.writes() == [], sim.writes()
    assert check.extra_vars["secure_mcp_results"] == {"localhost": outputs}
    assert "secure_mcp_results" in (check.private_data_dir / "env" / "extravars").read_text()
    probes = check.task("Each MCP server asks an MCP client for a token from its AM domain, and lets one with a token in")
    assert [(p["item"]["value"]["mcp_server_url"], p["authorization_servers"], p["authenticated"]["verified"])
            for p in probes["results"]] == [(outputs["mcp_server_url"], [outputs["issuer"]], True)]
    learned.update({f"access token {n}": token for n, token in enumerate(gateway_tokens(sim), start=len(learned))})

    # 3. "Take down a secured MCP server", with an AM credential that holds a token this time, launched as a next job
    #    of the workflow would be: with secure_mcp_results among its extra variables, which the role accepts.
    am_token = requests.post(sim.urls["am"] + "/management/auth/token", auth=("admin", AM_PASSWORD), timeout=10).json()[
        "access_token"]
    awx.credentials["Gravitee AM"] = Credential("Gravitee AM", "gravitee_am", {"url": sim.urls["am"], "token": am_token})
    teardown = awx.launch(templates[TEARDOWN], {"secure_mcp_context_path": CONTEXT_PATH, "secure_mcp_am_domain": "mcp"},
                          ancestor_artifacts=artifacts)
    assert teardown.rc == 0 and teardown.status == "successful", teardown.failures()
    assert teardown.stats["changed"].get("localhost", 0) > 0
    assert apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"] == []
    domain = am(sim, "/_hrid/mcp")
    assert [r for r in am(sim, f"/{domain['id']}/protected-resources", params={"type": "MCP_SERVER"})["data"] if r.get("clientId") == "mcp-weather-mcp"] == []

    # No secret in any file of the jobs, except where AWX hands a job its credentials to ansible-runner: env/envvars,
    # and ansible-runner's record of that environment, artifacts/<id>/command. The secrets the jobs learned (the
    # client secret AM generated, the tokens of the verification's client) appear nowhere, the runner's home included.
    injected = {"APIM token": sim.apim_token, "AM password": AM_PASSWORD, "AM token": am_token}
    # The collection's own files, installed unchanged, are not a leak: the README names the simulator's logins.
    found = [(name, path) for name, path in files_holding(awx.root, {**injected, **learned})
             if not shipped_unchanged(awx.root, path)]
    allowed = {f"job_{job.id}/{where}" for job in (first, again, teardown) for where in ("env/envvars", f"artifacts/{job.id}/command")}
    assert [(name, path) for name, path in found if path not in allowed or name not in injected] == []
    # ...and the search does find them where they are, so it would find them elsewhere.
    assert ("APIM token", f"job_{first.id}/env/envvars") in found and ("AM token", f"job_{teardown.id}/artifacts/{teardown.id}/command") in found
    for job in (first, again, check, teardown):
        assert all(value not in job.stdout for value in {**injected, **learned}.values())


def shipped_unchanged(root, path: str) -> bool:
    """A file of the collection installed into a job's requirements_collections, byte for byte as in the tree."""
    parts = path.split("/")
    if parts[1:5] != ["requirements_collections", "ansible_collections", "mcpgate", "gravitee"]:
        return False
    source = render_awx.REPO_ROOT.joinpath(*parts[5:])
    return source.is_file() and source.read_bytes() == (root / path).read_bytes()
