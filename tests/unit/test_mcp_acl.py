"""The mcp-acl policy on a plan's flows (module_utils/apim.py): the option in the server's form, the managed flow found,
compared and written back, and the rules the documentation does not confirm kept out of the defaults."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils.mcp_acl import (
    get_mcp_acl,
    mcp_acl_authorizations,
    normalize_mcp_acl,
    other_mcp_acl_steps,
    put_mcp_acl,
    scope_condition,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.modules.apim_plan import DESCRIPTION, needs_redeploy

WEATHER = {"scopes": ["weather:read"], "condition": None, "authorized_features": [
    {"type": "TOOLS", "methods": ["tools_call", "TOOLS_LIST"], "pattern_type": "LITERAL", "pattern_value": "get_weather"}]}
LIST_ALL = {"scopes": None, "condition": None, "authorized_features": [
    {"type": "TOOLS", "methods": None, "pattern_type": "ANY", "pattern_value": None}]}


def option(*authorizations, state="present"):
    return {"state": state, "authorizations": list(authorizations)}


def test_a_scope_rule_becomes_the_user_roles_condition_and_features_get_the_documented_defaults():
    assert mcp_acl_authorizations([WEATHER, LIST_ALL]) == [
        {"condition": "{#context.attributes['user.roles'].contains('weather:read')}",
         "authorizedFeatures": [{"type": "TOOLS", "methods": ["TOOLS_CALL", "TOOLS_LIST"], "patternType": "LITERAL",
                                 "patternValue": "get_weather"}]},
        {"authorizedFeatures": [{"type": "TOOLS", "methods": ["TOOLS_LIST"], "patternType": "ANY"}]},
    ]
    assert scope_condition(["b", "a", "a"]) == (
        "{#context.attributes['user.roles'].contains('a') && #context.attributes['user.roles'].contains('b')}")


@pytest.mark.parametrize("rule, message", [
    (dict(WEATHER, condition="{true}"), "condition and scopes are mutually exclusive"),
    (dict(WEATHER, scopes=["it's"]), "can not be a scope"),
    (dict(WEATHER, scopes=[]), "give at least one scope"),
    (dict(WEATHER, authorized_features=[]), "give at least one feature rule"),
    (dict(WEATHER, authorized_features=[dict(WEATHER["authorized_features"][0], methods=["PROMPTS_GET"])]),
     "PROMPTS_GET do not apply to TOOLS"),
    (dict(WEATHER, authorized_features=[dict(WEATHER["authorized_features"][0], pattern_value=None)]),
     "pattern_value is required with pattern_type LITERAL"),
    (dict(LIST_ALL, authorized_features=[dict(LIST_ALL["authorized_features"][0], pattern_value="x")]),
     "pattern_value applies only to pattern_type LITERAL or EXPRESSION"),
])
def test_bad_rules_fail_before_any_request_naming_the_option(rule, message):
    with pytest.raises(ModuleError, match=message):
        mcp_acl_authorizations([rule])


def test_the_managed_flow_is_added_compared_and_removed_leaving_the_other_flows():
    other = {"name": "Rate limit", "enabled": True, "selectors": [], "request": [{"policy": "rate-limit"}]}
    plan = {"name": "OAuth2", "flows": [other]}
    field = DESCRIPTION.by_option["mcp_acl"]
    wanted = field.normalize(option(WEATHER))
    assert field.get(plan) is None and field.differs(wanted, plan)

    put_mcp_acl(plan, wanted)
    assert plan["flows"][0] == other and plan["flows"][1]["name"] == "MCP ACL"
    assert plan["flows"][1]["selectors"] == [{"type": "MCP", "methods": []}]
    assert plan["flows"][1]["request"][0]["policy"] == "mcp-acl"
    assert not field.differs(wanted, plan)

    # What the server may do to it: an id on the flow, defaults injected, null selector methods, extra keys.
    stored = copy.deepcopy(plan)
    flow = stored["flows"][1]
    flow["id"] = "f-1"
    flow["selectors"][0]["methods"] = None
    feature = flow["request"][0]["configuration"]["authorizations"][0]["authorizedFeatures"][0]
    feature["methods"].reverse()
    feature["unknownDefault"] = True
    assert not field.differs(wanted, stored)

    flow["enabled"] = False  # disabled in the Console: the module enables it again, keeping the flow's id
    assert field.differs(wanted, stored)
    put_mcp_acl(stored, wanted)
    assert stored["flows"][1]["id"] == "f-1" and stored["flows"][1]["enabled"] is True

    absent = field.normalize(option(state="absent"))
    assert absent is None and field.differs(absent, stored)
    put_mcp_acl(stored, absent)
    assert stored["flows"] == [other] and not field.differs(absent, stored)


def test_an_empty_rule_list_is_the_documented_deny_all_not_a_removal():
    assert normalize_mcp_acl(option()) == {"enabled": True, "selectors": [{"type": "MCP", "methods": []}],
                                           "authorizations": []}


def test_a_flow_change_of_a_published_plan_needs_a_deployment_and_other_acl_steps_are_named():
    before = {"status": "PUBLISHED", "security": {"type": "OAUTH2"}, "flows": []}
    after = copy.deepcopy(before)
    put_mcp_acl(after, normalize_mcp_acl(option(WEATHER)))
    assert needs_redeploy({}, before, after) is True
    assert needs_redeploy({}, dict(before, status="STAGING"), dict(after, status="STAGING")) is False
    after["flows"].append({"name": "Console ACL", "request": [{"policy": "mcp-acl", "configuration": {}}]})
    assert other_mcp_acl_steps(after) == ["Console ACL"]
    assert get_mcp_acl(after)["authorizations"][0]["condition"].startswith("{#context.attributes['user.roles']")
