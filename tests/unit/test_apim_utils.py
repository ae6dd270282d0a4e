"""module_utils/apim: input checks, the MCP proxy API shape and its patching, the plan status machine."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    check_context_path,
    check_plan_move,
    check_single_keyless,
    check_url,
    context_paths,
    deployment_state_after,
    mcp_proxy_api,
    normalize_path,
    patch_mcp_proxy_api,
    select_plan,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError


@pytest.mark.parametrize("given, expected", [("/weather-mcp", "/weather-mcp"), ("/weather-mcp/", "/weather-mcp"),
                                             ("//a//b/", "/a/b"), ("/", "/")])
def test_paths_compare_without_trailing_slash(given, expected):
    assert normalize_path(given) == expected


def test_context_path_with_capitals_is_refused_with_the_lower_case_form():
    with pytest.raises(ModuleError, match=r"context_path '/Weather' has capital letters.*use '/weather'"):
        check_context_path("/Weather")


@pytest.mark.parametrize("bad", ["weather", "/we ather", "/wéather", "/a?b", ""])
def test_other_bad_context_paths_are_refused(bad):
    with pytest.raises(ModuleError, match="context_path"):
        check_context_path(bad)


def test_urls():
    assert check_url("https://am.example.com/", "am_url") == "https://am.example.com"
    assert check_url("http://mcp:3001/mcp?tenant=a", "mcp_server_url", query=True) == "http://mcp:3001/mcp?tenant=a"
    with pytest.raises(ModuleError, match="no query string"):
        check_url("https://am.example.com?x=1", "am_url")
    with pytest.raises(ModuleError, match="gateway_url must be an http"):
        check_url("gw.example.com", "gateway_url")


def served(api):
    """The API as the server keeps it: paths with a trailing slash, defaults filled in."""
    api = copy.deepcopy(api)
    api["listeners"][0]["paths"][0]["path"] += "/"
    api["listeners"][0]["entrypoints"][0]["qos"] = "AUTO"
    api.update(id="a1", resources=[{"name": "am", "type": "oauth2-am-resource"}], state="STOPPED")
    return api


def test_an_unchanged_api_patches_to_itself():
    api = served(mcp_proxy_api("W", "/w", "http://mcp/mcp", description="d", tags=["b", "a"]))
    same = patch_mcp_proxy_api(copy.deepcopy(api), name="W", path="/w", target="http://mcp/mcp", description="d",
                               tags=["a", "b"])
    assert same == api


def test_a_patch_changes_only_what_was_asked():
    api = served(mcp_proxy_api("W", "/w", "http://mcp/mcp"))
    patched = patch_mcp_proxy_api(copy.deepcopy(api), path="/w2", target="http://mcp2/mcp", labels=["x"])
    assert context_paths(patched) == ["/w2"]
    assert patched["endpointGroups"][0]["endpoints"][0]["configuration"] == {"target": "http://mcp2/mcp"}
    assert patched["labels"] == ["x"]
    assert patched["resources"] == api["resources"] and patched["listeners"][0]["entrypoints"][0]["qos"] == "AUTO"


def test_deployment_state_after_a_change():
    before = served(mcp_proxy_api("W", "/w", "http://mcp/mcp"))
    before["deploymentState"] = "DEPLOYED"
    renamed = dict(before, name="X", deploymentState=None)
    assert deployment_state_after(before, renamed) == "DEPLOYED"
    moved = patch_mcp_proxy_api(copy.deepcopy(before), target="http://other/mcp")
    moved["deploymentState"] = None
    assert deployment_state_after(before, moved) == "NEED_REDEPLOY"
    assert deployment_state_after(before, dict(moved, deploymentState="DEPLOYED")) == "DEPLOYED"  # the server's word


PLANS = [
    {"id": "1", "name": "Keyless", "status": "PUBLISHED", "security": {"type": "KEY_LESS"}},
    {"id": "2", "name": "Twin", "status": "STAGING", "security": {"type": "KEY_LESS"}},
    {"id": "3", "name": "Twin", "status": "CLOSED", "security": {"type": "KEY_LESS"}},
]


def test_plans_by_name_or_id():
    assert select_plan(PLANS, "Keyless")["id"] == "1"
    assert select_plan(PLANS, "Nope") is None
    assert select_plan(PLANS, plan_id="3")["status"] == "CLOSED"
    with pytest.raises(ModuleError, match="2 plans of this API are named 'Twin'.*set id"):
        select_plan(PLANS, "Twin")


@pytest.mark.parametrize("status, state, error", [
    ("CLOSED", "published", "cannot be reopened"),
    ("CLOSED", "deprecated", "cannot be reopened"),
    ("DEPRECATED", "published", "cannot be published again"),
    ("STAGING", "deprecated", "publish it first"),
    (None, "deprecated", "publish it first"),
])
def test_impossible_moves(status, state, error):
    plan = {"name": "P", "status": status} if status else None
    with pytest.raises(ModuleError, match=error):
        check_plan_move(plan, state)


@pytest.mark.parametrize("status, state", [
    ("STAGING", "published"), ("PUBLISHED", "published"), ("PUBLISHED", "deprecated"), ("CLOSED", "present"),
    ("DEPRECATED", "deprecated"), (None, "published"), (None, "present"),
])
def test_possible_moves(status, state):
    check_plan_move({"name": "P", "status": status} if status else None, state)


def test_one_published_keyless_plan_per_api():
    with pytest.raises(ModuleError, match="already has a published keyless plan 'Keyless'.*close it first"):
        check_single_keyless(PLANS, None, {"id": "a", "name": "W"})
    check_single_keyless(PLANS, PLANS[0], {"id": "a", "name": "W"})  # the published one itself
