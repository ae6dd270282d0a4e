"""module_utils/am.py: AM's hrid rule, resource identifier rules, the MCP server view, the domain settings patch."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi, explain, hrid_of, known_domain_for, normalise_identifier
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.modules.am_domain_settings import minimal_patch
from ansible_collections.mcpgate.gravitee.plugins.modules.am_mcp_server import view


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


def test_view_makes_order_and_case_canonical_and_drops_a_secret():
    server = {
        "id": "1",
        "type": "mcp_server",
        "clientSecret": "s",
        "resourceIdentifiers": ["https://b.example.com", "https://a.example.com"],
        "features": [
            {"key": "z", "type": "MCP_TOOL", "scopes": ["b", "a"], "createdAt": 1},
            {"key": "a", "type": "mcp_tool", "description": " d ", "scopes": []},
        ],
    }
    assert view(server) == {
        "id": "1",
        "type": "mcp_server",
        "resourceIdentifiers": ["https://a.example.com", "https://b.example.com"],
        "features": [
            {"key": "a", "type": "mcp_tool", "description": "d", "scopes": []},
            {"key": "z", "type": "mcp_tool", "description": "", "scopes": ["a", "b"], "createdAt": 1},
        ],
    }


def test_domain_patch_holds_only_the_changed_leaves():
    current = {"oidc": {"clientRegistrationSettings": {"a": True, "b": False, "s": ["x"]}}, "loginSettings": {"r": False}}
    desired = {"oidc": {"clientRegistrationSettings": {"a": True, "b": True, "s": ["x"]}}, "loginSettings": {"r": False}}
    assert minimal_patch(desired, current) == {"oidc": {"clientRegistrationSettings": {"b": True}}}
    assert minimal_patch(current, current) == {}


DOMAIN = {"id": "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e", "name": "My MCP Domain", "hrid": "my-mcp-domain", "oidc": {}}


class NoRequests:
    """A client that fails the test on any request."""

    def __getattr__(self, name):
        raise AssertionError("a request was sent: %s" % name)


@pytest.mark.parametrize("value", ["My MCP Domain", "my-mcp-domain", DOMAIN["id"], "  my-mcp-domain "])
def test_known_domain_is_used_when_it_is_the_domain_named(value):
    assert known_domain_for(value, DOMAIN) is DOMAIN
    assert AmApi(NoRequests()).find_domain(value, known=DOMAIN) == (DOMAIN, True)


def test_known_domain_without_settings_is_not_full():
    basic = {key: DOMAIN[key] for key in ("id", "name", "hrid")}
    assert AmApi(NoRequests()).find_domain("my-mcp-domain", known=basic) == (basic, False)


@pytest.mark.parametrize(
    "value, known, expected",
    [
        ("other", DOMAIN, ["known_domain is the domain named 'My MCP Domain'", "'other' that option domain names"]),
        ("MY-MCP-DOMAIN", DOMAIN, ["known_domain", "'MY-MCP-DOMAIN'"]),  # names are compared exactly, as a lookup does
        ("mcp", {"name": "mcp"}, ["known_domain", "with its id", "a dict without id"]),
        ("mcp", ["mcp"], ["known_domain", "got list"]),
        ("", DOMAIN, ["domain must be the name"]),
    ],
)
def test_known_domain_of_another_domain_is_refused_naming_both_options(value, known, expected):
    with pytest.raises(ModuleError) as raised:
        AmApi(NoRequests()).find_domain(value, known=known)
    for text in expected:
        assert text in str(raised.value)


@pytest.mark.parametrize(
    "message, option",
    [("Resource identifier already exists", "resource_identifiers:"), ("A client [x] already exists for domain [d]", "client_id:")],
)
def test_refusals_of_am_name_the_option_and_the_known_list(message, option):
    plain = explain(GraviteeError(message, status=400, method="POST", url="/x"))
    known = explain(GraviteeError(message, status=400, method="POST", url="/x"), known_servers=True)
    assert plain.hint.startswith(option) and "known_mcp_servers" not in plain.hint
    assert known.hint.startswith(plain.hint) and "known_mcp_servers" in known.hint
    assert str(known).startswith("POST /x returned HTTP 400: " + message)
