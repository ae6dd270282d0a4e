"""module_utils/am.py: AM's hrid rule, resource identifier rules, the MCP server view, the domain settings patch."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi, explain, find_domain, hrid_of, normalise_identifier
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.modules.am_domain_settings import DESCRIPTION as SETTINGS
from ansible_collections.mcpgate.gravitee.plugins.modules.am_mcp_server import DESCRIPTION as MCP_SERVER


@pytest.mark.parametrize(
    "name, hrid",
    [
        ("mcp", "mcp"),
        ("My MCP Domain", "my-mcp-domain"),
        ("Héhé It's my wonderful name !", "hehe-its-my-wonderful-name"),  # IdGenerator's own example
        ("  a -- b  ", "a-b"),
        ("Tools_v2", "toolsv2"),
        ("!!!", ""),
    ],
)
def test_hrid_follows_gravitee_id_generator(name, hrid):
    assert hrid_of(name) == hrid


@pytest.mark.parametrize(
    "given, stored",
    [
        ("https://GW.example.com/Weather-MCP", "https://gw.example.com/weather-mcp"),
        ("  http://127.0.0.1:8082/mcp ", "http://127.0.0.1:8082/mcp"),
        ("https://gw.example.com/mcp?tenant=a", "https://gw.example.com/mcp?tenant=a"),
    ],
)
def test_identifier_is_trimmed_and_lower_cased_as_am_stores_it(given, stored):
    assert normalise_identifier(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "weather", "gw.example.com/mcp", "ftp://gw.example.com/mcp", "https:///mcp", "https://gw.example.com/a b",
     "https://gw.example.com/mcp#tools", "https://gw.example.com:port/mcp"],
)
def test_identifier_that_am_refuses_is_refused_first(given):
    with pytest.raises(ModuleError, match="resource_identifiers"):
        normalise_identifier(given)


def test_an_mcp_server_compares_in_any_order_and_case():
    server = {
        "id": "1",
        "type": "mcp_server",
        "resourceIdentifiers": ["https://b.example.com", "https://a.example.com"],
        "features": [
            {"key": "z", "type": "MCP_TOOL", "scopes": ["b", "a"], "createdAt": 1},
            {"key": "a", "type": "mcp_tool", "description": " d ", "scopes": []},
        ],
    }
    wanted = MCP_SERVER.wanted({
        "name": None, "description": None, "client_id": None, "client_secret": None,
        "resource_identifiers": ["HTTPS://A.example.com ", "https://b.example.com"],
        "tools": [{"key": "z", "description": None, "scopes": ["a", "b"]}, {"key": "a", "description": "d", "scopes": []}],
    })
    assert MCP_SERVER.differences(wanted, server) == []
    assert MCP_SERVER.read(server)["tools"] == [
        {"key": "a", "description": "d", "scopes": [], "type": "mcp_tool"},
        {"key": "z", "description": "", "scopes": ["a", "b"], "type": "mcp_tool"},
    ]


def test_tools_are_sent_as_am_reads_them():
    wanted = MCP_SERVER.wanted({"name": None, "description": None, "client_id": None, "client_secret": None,
                                "resource_identifiers": None, "tools": [{"key": "t", "description": "", "scopes": ["s"]}]})
    assert MCP_SERVER.patch(wanted, ["tools"]) == {"features": [{"type": "MCP_TOOL", "key": "t", "scopes": ["s"]}]}


@pytest.mark.parametrize("tools, error", [
    ([{"key": "get forecast"}], "tools[0].key"),
    ([{"key": "a"}, {"key": "a"}], "tools[1].key: 'a' appears twice"),
    ([{"key": "a", "scopes": [" "]}], "tools[0].scopes"),
])
def test_bad_tools_are_refused_naming_the_item(tools, error):
    params = {"name": None, "description": None, "client_id": None, "client_secret": None, "resource_identifiers": None,
              "tools": tools}
    with pytest.raises(ModuleError) as raised:
        MCP_SERVER.wanted(params)
    assert error in str(raised.value)


def test_domain_patch_holds_only_the_changed_leaves():
    domain = {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": True}}, "loginSettings": {}}
    params = {"dynamic_client_registration": {"enabled": True, "open": True, "allow_localhost_redirect_uri": None,
                                              "allow_http_scheme_redirect_uri": None, "default_scopes": None,
                                              "allowed_scopes": None},
              "user_registration": False}
    wanted = SETTINGS.wanted(params)
    options = SETTINGS.differences(wanted, domain)
    assert options == ["dynamic_client_registration.open"]  # registerEnabled absent is AM's false already
    assert SETTINGS.patch(wanted, options) == {"oidc": {"clientRegistrationSettings": {"isOpenDynamicClientRegistrationEnabled": True}}}


def test_an_empty_allowed_scopes_list_turns_the_filter_off():
    params = {"dynamic_client_registration": {"allowed_scopes": []}, "user_registration": None}
    wanted = SETTINGS.wanted(params)
    assert SETTINGS.patch(wanted, ["dynamic_client_registration.allowed_scopes"]) == {
        "oidc": {"clientRegistrationSettings": {"allowedScopes": [], "isAllowedScopesEnabled": False}}
    }


DOMAIN = {"id": "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e", "name": "My MCP Domain", "hrid": "my-mcp-domain", "oidc": {}}


class ByHrid:
    """A client that knows one domain, by hrid, and records the requests."""

    def __init__(self):
        self.asked = []

    def get_or_none(self, path, params=None):
        self.asked.append(path)
        return DOMAIN if path.endswith("/_hrid/my-mcp-domain") else None


@pytest.mark.parametrize("value", ["My MCP Domain", "my-mcp-domain", "  my-mcp-domain "])
def test_a_domain_named_by_its_name_or_hrid_is_one_read(value):
    client = ByHrid()
    assert find_domain(AmApi(client), value) is DOMAIN
    assert len(client.asked) == 1


@pytest.mark.parametrize(
    "message, option",
    [("Resource identifier already exists", "resource_identifiers:"), ("A client [x] already exists for domain [d]", "client_id:"),
     ("One or more scopes are not valid", "tools:")],
)
def test_refusals_of_am_name_the_option(message, option):
    explained = explain(GraviteeError(message, status=400, method="POST", url="/x"))
    assert explained.hint.startswith(option)
    assert str(explained).startswith("POST /x returned HTTP 400: " + message)


class LikeRealAm:
    """A client answering as real AM 4.10.20 did: an unknown hrid is a 404, an unknown id a 403 "Permission denied"
    (AM's permission check resolves the id before any lookup), and ?q= finds a domain by exact name or hrid."""

    def __init__(self, *domains):
        self.domains = domains
        self.asked = []

    def get_or_none(self, path, params=None):
        self.asked.append(path)
        hrid = path.rsplit("/_hrid/", 1)[-1]
        return next((d for d in self.domains if d["hrid"] == hrid), None)

    def get(self, path, params=None, expected=(200,)):
        self.asked.append(path)
        if path.endswith("/domains"):
            return {"data": [d for d in self.domains if params["q"] in (d["name"], d["hrid"])], "totalCount": 1}
        found = next((d for d in self.domains if path.endswith("/domains/" + d["id"])), None)
        if found is None:
            raise GraviteeError("Permission denied", status=403, method="GET", url=path)
        return found


def test_a_domain_given_by_its_id_is_one_read():
    client = LikeRealAm(DOMAIN)
    assert find_domain(AmApi(client), DOMAIN["id"]) is DOMAIN
    assert len(client.asked) == 1


def test_a_domain_whose_hrid_does_not_follow_its_name_is_found_by_name():
    imported = {"id": "9" * 32, "name": "Imported", "hrid": "imported-2024", "oidc": {}}
    client = LikeRealAm(imported)
    assert find_domain(AmApi(client), "Imported") is imported


@pytest.mark.parametrize("value", ["MY MCP DOMAIN", "f" * 32, "no-such-domain"])
def test_a_missing_domain_is_named_missing_not_a_permission_problem(value):
    with pytest.raises(ModuleError) as caught:
        find_domain(AmApi(LikeRealAm(DOMAIN)), value, option="domain")
    message = str(caught.value)
    assert message.startswith("domain: no AM domain named %r" % value) and "or no permission to read it" in message
    assert "lack the permission" not in message
    if value == "MY MCP DOMAIN":  # a name with spaces is never tried as an id
        assert "did you mean the domain named 'My MCP Domain'" in message and "403" not in message
    else:
        assert ("AM answered 403 to %r as an id" % value) in message
