# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mcp-acl policy ("AI - MCP ACL") on an APIM plan's flows: the option ``mcp_acl`` of apim_plan in the server's form,
and back.

A closed-source GraviteeSource plugin (com.graviteesource.policy:gravitee-policy-mcp-acl, APIM 4.10 and later): no schema
or source could be read.  What follows is what its documentation (APIM policy reference "AI - MCP ACL", identical for
4.10, 4.11 and 4.12) states; what it does not state is marked so and kept out of every default.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError

MCP_ACL_POLICY = "mcp-acl"
# The plan flow the modules manage: found by this name, holding one mcp-acl request step.
MCP_ACL_FLOW = "MCP ACL"
MCP_ACL_FEATURES = ("TOOLS", "RESOURCES", "PROMPTS")
# Documented defaults of authorizedFeatures[].methods.  The complete method enum is not documented (seen in the docs and
# the plugin's changelog: TOOLS_LIST, TOOLS_CALL, RESOURCES_LIST, RESOURCES_READ, RESOURCES_SUBSCRIBE,
# RESOURCES_TEMPLATES_LIST, PROMPTS_LIST, PROMPTS_GET); the server validates it against the plugin's schema.
MCP_ACL_DEFAULT_METHODS = {"TOOLS": ["TOOLS_LIST"], "RESOURCES": ["RESOURCES_LIST"], "PROMPTS": ["PROMPTS_LIST"]}
# ANY is the documented default.  LITERAL compares the tool or prompt name (the documentation's example); what it
# compares for resources, and what EXPRESSION means, are not documented.
MCP_ACL_PATTERN_TYPES = ("ANY", "LITERAL", "EXPRESSION")
# The documentation's example flow selector: every MCP request.
MCP_ACL_SELECTORS = [{"type": "MCP", "methods": []}]
# The token's scopes as the OAuth2 policy leaves them: a List<String> in the attribute gravitee.attribute.user.roles
# (Oauth2Policy.java :367-368 @5.3.1), which EL's #context.attributes finds without its prefix (ContextAttributeMap).
# That the mcp-acl policy evaluates `condition` with this context is inferred, not confirmed.
SCOPE_TERM = "#context.attributes['user.roles'].contains('%s')"
SCOPE_RE = re.compile(r"^[^\s'\\{}#]+$")


def scope_condition(scopes, option="scopes"):
    """The EL condition that holds when the token carries every scope of ``scopes``."""
    if not scopes:
        raise ModuleError("%s: give at least one scope" % option, option)
    for scope in scopes:
        if not SCOPE_RE.match(scope or ""):
            raise ModuleError("%s: %r can not be a scope (a scope has no spaces, quotes, backslashes, braces or '#')"
                              % (option, scope), option)
    return "{%s}" % " && ".join(SCOPE_TERM % scope for scope in sorted(set(scopes)))


def _acl_feature(feature, where, strict):
    """A feature rule in the server's form, completed with the documented defaults (the server's schema may inject them
    too: sending them makes a second run compare equal whatever it injects)."""
    kind = str(feature.get("type") or "").upper()
    methods = feature.get("methods")
    pattern = str(feature.get("patternType") or "ANY").upper()
    value = feature.get("patternValue")
    if strict:
        if kind not in MCP_ACL_FEATURES:
            raise ModuleError("%s.type must be one of %s, got %r" % (where, ", ".join(MCP_ACL_FEATURES), feature.get("type")),
                              where)
        wrong = [m for m in methods or [] if not str(m).upper().startswith(kind + "_")]
        if wrong:
            raise ModuleError("%s.methods: %s do not apply to %s (methods of %s start with %s_)"
                              % (where, ", ".join(wrong), kind, kind, kind), where)
        if pattern not in MCP_ACL_PATTERN_TYPES:
            raise ModuleError("%s.pattern_type must be one of %s" % (where, ", ".join(MCP_ACL_PATTERN_TYPES)), where)
        if pattern == "ANY" and value not in (None, ""):
            raise ModuleError("%s.pattern_value applies only to pattern_type LITERAL or EXPRESSION" % where, where)
        if pattern != "ANY" and not value:
            raise ModuleError("%s.pattern_value is required with pattern_type %s" % (where, pattern), where)
    result = {"type": kind, "methods": sorted(set(str(m).upper() for m in methods)) if methods else
              list(MCP_ACL_DEFAULT_METHODS.get(kind, [])), "patternType": pattern}
    if pattern != "ANY":
        result["patternValue"] = value
    return result


def mcp_acl_authorizations(items, option="mcp_acl.authorizations"):
    """The ACLs as the module's option gives them (condition or scopes, authorized_features), in the server's form."""
    result = []
    for index, item in enumerate(items or []):
        where = "%s[%d]" % (option, index)
        condition = (item.get("condition") or "").strip() or None
        if item.get("scopes") is not None and condition:
            raise ModuleError("%s: condition and scopes are mutually exclusive" % where, where)
        if item.get("scopes") is not None:
            condition = scope_condition(item["scopes"], where + ".scopes")
        features = item.get("authorized_features") or []
        if not features:
            raise ModuleError("%s.authorized_features: give at least one feature rule" % where, where)
        acl = {"authorizedFeatures": [
            _acl_feature({"type": f.get("type"), "methods": f.get("methods"), "patternType": f.get("pattern_type"),
                          "patternValue": f.get("pattern_value")}, "%s.authorized_features[%d]" % (where, number), True)
            for number, f in enumerate(features)
        ]}
        if condition:
            acl["condition"] = condition
        result.append(acl)
    return result


def _server_acls(configuration):
    """The ACLs of an mcp-acl step as the server holds them, in the compared form (only the documented keys)."""
    result = []
    for acl in (configuration or {}).get("authorizations") or []:
        if not isinstance(acl, dict):
            result.append(acl)
            continue
        item = {"authorizedFeatures": [_acl_feature(f, "", False) if isinstance(f, dict) else f
                                       for f in acl.get("authorizedFeatures") or []]}
        if (acl.get("condition") or "").strip():
            item["condition"] = acl["condition"].strip()
        result.append(item)
    return result


def _acl_flow(plan):
    """``(index, flow, step)`` of the managed flow (named MCP_ACL_FLOW) and its mcp-acl step, or Nones."""
    for index, flow in enumerate((plan or {}).get("flows") or []):
        if isinstance(flow, dict) and flow.get("name") == MCP_ACL_FLOW:
            step = next((s for s in flow.get("request") or [] if isinstance(s, dict) and s.get("policy") == MCP_ACL_POLICY), None)
            return index, flow, step
    return None, None, None


def get_mcp_acl(plan):
    """The managed mcp-acl flow of a plan in the compared form, or None when the plan has none."""
    _index, flow, step = _acl_flow(plan)
    if flow is None:
        return None
    selectors = [dict(s, methods=list(s.get("methods") or [])) if s.get("type") == "MCP" else s
                 for s in flow.get("selectors") or []]
    return {"enabled": flow.get("enabled") is not False and step is not None and step.get("enabled") is not False,
            "selectors": selectors, "authorizations": _server_acls((step or {}).get("configuration")) if step else None}


def normalize_mcp_acl(value):
    """The option ``mcp_acl`` (``state``, ``authorizations``) in the compared form: None for absent; a value read
    from a plan (get_mcp_acl) is in that form already."""
    if "state" not in value:
        return value
    if value.get("state") == "absent":
        return None
    return {"enabled": True, "selectors": [dict(s) for s in MCP_ACL_SELECTORS],
            "authorizations": mcp_acl_authorizations(value.get("authorizations"))}


def put_mcp_acl(plan, value):
    """Make the plan hold the managed flow as ``value`` says (compared form; None removes the flow).  The other flows,
    and the flow's id when it has one, are kept."""
    flows = list(plan.get("flows") or [])
    index, flow, _step = _acl_flow(plan)
    if value is None:
        if index is not None:
            del flows[index]
    else:
        managed = dict(flow or {}, name=MCP_ACL_FLOW, enabled=value["enabled"], selectors=copy.deepcopy(value["selectors"]),
                       request=[{"name": MCP_ACL_FLOW, "enabled": True, "policy": MCP_ACL_POLICY,
                                 "configuration": {"authorizations": copy.deepcopy(value["authorizations"])}}])
        managed.setdefault("response", [])
        if index is None:
            flows.append(managed)
        else:
            flows[index] = managed
    plan["flows"] = flows


def other_mcp_acl_steps(plan):
    """Names of the plan's other flows that hold an mcp-acl step (how several steps combine is not documented)."""
    index, _flow, _step = _acl_flow(plan)
    return [flow.get("name") or "(unnamed)" for number, flow in enumerate((plan or {}).get("flows") or [])
            if number != index and isinstance(flow, dict)
            and any(isinstance(s, dict) and s.get("policy") == MCP_ACL_POLICY for s in flow.get("request") or [])]
