"""am_domain_settings with Client ID Metadata Documents (AM 4.12): enable with a template application, a second run
that changes nothing, check mode, what AM refuses found before any write, and AM before 4.12 named before any write."""

from __future__ import annotations

import pytest
import requests

from tests.integration.am_support import AmAdmin, am_requests, am_writes, task
from tests.integration.ansible_run import run_tasks

TEMPLATE = {"domain": "mcp", "name": "CIMD template", "client_id": "mcp-cimd-template", "type": "native", "template": True,
            "redirect_uris": ["https://cimd-template.invalid/callback"], "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "offline_access"]}
CIMD = {"enabled": True, "template": "mcp-cimd-template", "allowed_domains": ["vscode.dev", "claude.ai"]}


def settings(name, cimd, **keywords):
    return task("am_domain_settings", name, {"domain": "mcp", "cimd": cimd}, **keywords)


def discovery(sim):
    return requests.get(f"{sim.urls['am_gateway']}/mcp/oidc/.well-known/openid-configuration", timeout=10).json()


@pytest.mark.profiles("4.12")
def test_enable_with_a_template_then_nothing_changes(sim):
    assert "client_id_metadata_document_supported" not in discovery(sim)
    run = run_tasks(sim, [
        settings("check: before the template exists", CIMD, check_mode=True, diff=True),
        task("am_application", "the template", TEMPLATE),
        settings("enable", CIMD, diff=True),
        settings("again, domains in another order, the template by id", dict(CIMD, allowed_domains=CIMD["allowed_domains"][::-1])),
    ])
    assert run.rc == 0, run.stdout
    check, template, enable, again = run.results
    assert check.changed and any("no application with client id" in w for w in check.result["warnings"])
    assert enable.changed
    cimd = enable.result["settings"]["oidc"]["cimdSettings"]
    assert (cimd["enabled"], cimd["templateId"], cimd["allowedDomains"]) == (True, template.result["id"], ["claude.ai", "vscode.dev"])
    assert (cimd["fetchTimeoutMs"], cimd["cacheTtlSeconds"]) == (5000, 86400)  # AM's defaults, filled in
    assert enable.result["diff"]["before"]["oidc"]["cimdSettings"]["enabled"] is False
    assert not again.changed
    assert discovery(sim)["client_id_metadata_document_supported"] is True
    # Only the CIMD settings asked for were sent, the template by its id.
    patch = [w for w in am_writes(sim) if w["method"] == "PATCH" and "/applications/" not in w["path"]]
    assert [p["body"] for p in patch] == [{"oidc": {"cimdSettings": {"enabled": True, "templateId": template.result["id"],
                                                                     "allowedDomains": ["claude.ai", "vscode.dev"]}}}]

    sim.clear_requests()
    cases = [
        (dict(CIMD, allowed_domains=["localhost"]), "cimd.allowed_domains"),
        (dict(CIMD, cache_ttl_seconds=0), "cimd.cache_ttl_seconds"),
        (dict(CIMD, template="no-such-client"), "cimd.template"),
    ]
    run = run_tasks(sim, [settings(f"case {i}", args, ignore_errors=True) for i, (args, _expected) in enumerate(cases)]
                    + [settings("off", {"enabled": False}), settings("off again", {"enabled": False})])
    assert run.rc == 0, run.stdout
    for result, (_args, expected) in zip(run.results, cases):
        assert result.failed and result.msg.startswith(expected), result.msg
    off, off_again = run.results[-2:]
    assert off.changed and not off_again.changed
    assert len(am_writes(sim)) == 1  # the cases wrote nothing
    assert "client_id_metadata_document_supported" not in discovery(sim)


@pytest.mark.profiles("4.12")
def test_a_template_that_is_not_one_and_cimd_without_a_template_are_refused(sim):
    plain = dict(TEMPLATE, template=False, client_id="plain-app", name="Plain")
    sim.clear_requests()
    run = run_tasks(sim, [
        task("am_application", "a plain application", plain),
        settings("not a template", dict(CIMD, template="plain-app"), ignore_errors=True),
        settings("no template at all", {"enabled": True}, ignore_errors=True),
    ])
    assert run.rc == 0, run.stdout
    _plain, not_template, no_template = run.results
    assert not_template.failed and "is not a template" in not_template.msg
    assert no_template.failed and no_template.msg.startswith("cimd.template")
    assert [w["method"] for w in am_writes(sim)] == ["POST", "PATCH"]  # the application alone


@pytest.mark.profiles("4.10")
def test_am_before_4_12_is_named_before_any_write_and_cimd_off_changes_nothing(sim):
    domain = AmAdmin(sim).domain()
    sim.clear_requests()
    run = run_tasks(sim, [
        settings("enable", {"enabled": True, "template": "anything"}, ignore_errors=True),
        settings("off", {"enabled": False}),
    ])
    assert run.rc == 0, run.stdout
    enable, off = run.results
    assert enable.failed and enable.msg.startswith("cimd: AM 4.10.20 has no Client ID Metadata Documents"), enable.msg
    assert "4.12.0" in enable.msg
    assert not off.changed and off.result["settings"]["oidc"]["cimdSettings"]["enabled"] is False  # AM 4.10: no CIMD, so off
    assert am_writes(sim) == []
    # The version is read only for the task that needed it; the other read the domain and stopped.
    assert [r["path"] for r in am_requests(sim)].count("/management/openapi.json") == 1
    assert domain["id"]
