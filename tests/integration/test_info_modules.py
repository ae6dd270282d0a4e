"""apim_info and am_info: what the role's preflight reads, without writing anything."""

from __future__ import annotations

from tests.integration.ansible_run import run_tasks


def info_tasks(api=None, domain="mcp"):
    return [
        {"name": "apim", "mcpgate.gravitee.apim_info": {"api": api} if api else {}, "ignore_errors": True},
        {"name": "am", "mcpgate.gravitee.am_info": {"domain": domain}, "ignore_errors": True},
    ]


def test_preflight_reads_the_mcp_proxy_plugin_and_the_domain(sim):
    run = run_tasks(sim, info_tasks(api="/nothing-here"))
    apim, am = run.task("apim"), run.task("am")
    assert not apim.failed and not am.failed, (apim.msg, am.msg)
    assert apim.result["mcp_proxy_entrypoint"]["id"] == "mcp-proxy"
    assert apim.result["mcp_proxy_entrypoint"]["deployed"] is True
    assert apim.result["api"] is None and apim.result["plans"] == []
    assert am.result["domain"]["hrid"] == "mcp" and am.result["domain"]["path"] == "/mcp"
    assert am.result["mcp_servers_supported"] is True
    assert not apim.changed and not am.changed
    assert sim.writes() == []


def test_apim_info_returns_the_api_and_all_its_plans(sim):
    run = run_tasks(
        sim,
        [
            {
                "name": "api",
                "mcpgate.gravitee.apim_api": {
                    "name": "Info MCP",
                    "context_path": "/info-mcp",
                    "mcp_server_url": sim.urls["mcp"] + "/mcp",
                },
            },
            {"name": "plan", "mcpgate.gravitee.apim_plan": {"api": "/info-mcp", "name": "Keyless", "security": "keyless"}},
            {"name": "info", "mcpgate.gravitee.apim_info": {"api": "/info-mcp"}},
        ],
    )
    info = run.task("info")
    assert not info.failed, info.msg
    assert info.result["api"]["name"] == "Info MCP"
    assert [(p["name"], p["status"]) for p in info.result["plans"]] == [("Keyless", "STAGING")]


def test_unknown_domain_and_wrong_credentials_fail_clearly(sim):
    run = run_tasks(sim, info_tasks(domain="no-such-domain"))
    assert "no AM domain named 'no-such-domain'" in run.task("am").msg
    run = run_tasks(sim, info_tasks(), extra_env={"GRAVITEE_APIM_PASSWORD": "wrong", "GRAVITEE_AM_PASSWORD": "wrong"})
    assert "HTTP 401" in run.task("apim").msg and "Check the credentials" in run.task("apim").msg
    assert "HTTP 401" in run.task("am").msg
