"""module_utils/apim and the apim modules' descriptions: input checks, where an MCP proxy API keeps its path and
target, and the plan status machine."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    check_context_path,
    check_url,
    context_paths,
    mcp_proxy_api,
    server_path,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.modules.apim_api import DESCRIPTION as API
from ansible_collections.mcpgate.gravitee.plugins.modules.apim_plan import needs_redeploy


@pytest.mark.parametrize("given, expected", [("/weather-mcp", "/weather-mcp/"), ("/weather-mcp/", "/weather-mcp/"),
                                             ("//a//b/", "/a/b/"), ("/", "/")])
def test_paths_are_kept_in_the_servers_form_with_one_trailing_slash(given, expected):
    assert server_path(given) == expected


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
    with pytest.raises(ModuleError, match="without a query string"):
        check_url("https://am.example.com?x=1", "am_url")
    with pytest.raises(ModuleError, match="gateway_url must be an http"):
        check_url("gw.example.com", "gateway_url")


def served(api):
    """The API as the server keeps it: defaults filled in, an id, a resource."""
    api = copy.deepcopy(api)
    api["listeners"][0]["entrypoints"][0]["qos"] = "AUTO"
    api.update(id="a1", resources=[{"name": "am", "type": "oauth2-am-resource"}], state="STOPPED")
    return api


WANTED = API.wanted({"name": "W", "context_path": "/w", "mcp_server_url": "http://mcp/mcp", "description": "d",
                     "tags": ["b", "a"], "labels": None, "visibility": None, "api_version": None})


def test_an_api_made_from_the_description_holds_what_was_asked():
    api = served(API.apply(mcp_proxy_api(), WANTED))
    assert context_paths(api) == ["/w/"] and api["endpointGroups"][0]["endpoints"][0]["configuration"] == {"target": "http://mcp/mcp"}
    assert API.differences(WANTED, api) == []
    again = API.wanted({"name": "W", "context_path": "/w/", "mcp_server_url": "http://mcp/mcp/", "description": "d",
                        "tags": ["a", "b", "a"], "labels": None, "visibility": None, "api_version": None})
    assert API.differences(again, api) == []  # the same path, target and tags written another way


def test_a_change_touches_only_what_was_asked():
    api = served(API.apply(mcp_proxy_api(), WANTED))
    wanted = dict(WANTED, context_path="/w2/", mcp_server_url="http://mcp2/mcp", labels=["x"])
    options = API.differences(wanted, api)
    assert options == ["context_path", "mcp_server_url", "labels"]
    changed = API.apply(api, wanted, options)
    assert context_paths(changed) == ["/w2/"] and changed["labels"] == ["x"]
    assert changed["resources"] == api["resources"] and changed["listeners"][0]["entrypoints"][0]["qos"] == "AUTO"


@pytest.mark.parametrize("before, after, api_state, expected", [
    (None, {"status": "STAGING"}, "DEPLOYED", False),
    (None, {"status": "PUBLISHED"}, "DEPLOYED", True),  # created and published in one task
    (None, None, "DEPLOYED", False),
    ({"status": "STAGING"}, {"status": "PUBLISHED"}, "DEPLOYED", True),
    ({"status": "PUBLISHED"}, {"status": "DEPRECATED"}, "DEPLOYED", False),
    ({"status": "PUBLISHED"}, {"status": "CLOSED"}, "DEPLOYED", True),
    ({"status": "PUBLISHED"}, None, "DEPLOYED", True),  # a deleted plan: APIM itself still says DEPLOYED
    ({"status": "STAGING"}, None, "DEPLOYED", False),
    ({"status": "PUBLISHED", "security": {"a": 1}}, {"status": "PUBLISHED", "security": {"a": 2}}, "DEPLOYED", True),
    ({"status": "PUBLISHED"}, {"status": "PUBLISHED"}, "NEED_REDEPLOY", True),
])
def test_what_a_plan_change_needs_to_reach_the_gateway(before, after, api_state, expected):
    assert needs_redeploy({"deploymentState": api_state}, before, after) is expected
