"""The APIM ``mcp-acl`` policy (closed source, ``com.graviteesource.policy:gravitee-policy-mcp-acl``) as far
as Gravitee's documentation states it ("AI - MCP ACL", APIM 4.10-4.12 policy reference):

* configuration ``{"authorizations": [{"condition": EL, "authorizedFeatures": [{"type": TOOLS|RESOURCES|PROMPTS,
  "methods": [...], "patternType": ANY|LITERAL|EXPRESSION, "patternValue": ...}]}]}``;
* no rule at all denies everything: the client connects, the lists come back empty;
* ``*_LIST`` methods filter the lists in the response (JSON or event stream), the other methods are
  refused when not authorised; a rule whose condition is false is ignored;
* request phase only, MCP proxy APIs only.

What the documentation does not state is not guessed: the status and body of a refusal (the simulator
answers 403 in the gateway's failure format, see FIDELITY.md), ``EXPRESSION`` patterns, what a
``LITERAL`` resource pattern is compared with, and EL conditions other than the scope test
``{#context.attributes['user.roles'].contains('<scope>')}`` (the OAuth2 policy stores the token's scopes
in ``user.roles``).  Those answer 500 "not simulated" so that a test relying on them fails loudly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

POLICY_ID = "mcp-acl"
# root pom.xml gravitee-policy-mcp-acl.version: 1.0.2 @4.10.0-4.10.6, 1.0.3 @4.10.7-4.10.12 and @4.11.0-4.11.4,
# 1.0.4 @4.11.5-4.11.25 and @4.12.17.  Served: 4.10.0's, 4.11.5-4.11.10's, 4.12.17's.
VERSIONS = {"4.10": "1.0.2", "4.11": "1.0.4", "4.12": "1.0.4"}

# JSON-RPC method -> (feature type, ACL method, list key in the result or None for a single target)
MCP_METHODS = {
    "tools/list": ("TOOLS", "TOOLS_LIST", "tools"),
    "tools/call": ("TOOLS", "TOOLS_CALL", None),
    "resources/list": ("RESOURCES", "RESOURCES_LIST", "resources"),
    "resources/templates/list": ("RESOURCES", "RESOURCES_TEMPLATES_LIST", "resourceTemplates"),
    "resources/read": ("RESOURCES", "RESOURCES_READ", None),
    "resources/subscribe": ("RESOURCES", "RESOURCES_SUBSCRIBE", None),
    "prompts/list": ("PROMPTS", "PROMPTS_LIST", "prompts"),
    "prompts/get": ("PROMPTS", "PROMPTS_GET", None),
}
DEFAULT_METHODS = {"TOOLS": ["TOOLS_LIST"], "RESOURCES": ["RESOURCES_LIST"], "PROMPTS": ["PROMPTS_LIST"]}
SCOPE_TERM = re.compile(r"""#context\.attributes\[\s*'user\.roles'\s*\]\.contains\(\s*'([^']*)'\s*\)""")


class NotSimulated(Exception):
    """A configuration whose real behaviour is not documented."""


@dataclass
class AclDecision:
    """What the policies of one request allow."""

    applies: bool  # at least one mcp-acl step runs for this request
    feature: str | None
    method: str | None
    list_key: str | None
    rules: list[list[dict[str, Any]]]  # per policy step: the authorized features of its applicable ACLs

    def allows(self, name: str | None) -> bool:
        """Every mcp-acl step must authorise the (method, name)."""
        return all(any(feature_allows(f, self.feature, self.method, name) for f in features) for features in self.rules)


def feature_allows(feature: dict[str, Any], feature_type: str, method: str, name: str | None) -> bool:
    if feature.get("type") != feature_type:
        return False
    if method not in (feature.get("methods") or DEFAULT_METHODS[feature_type]):
        return False
    pattern_type = feature.get("patternType") or "ANY"
    if pattern_type == "ANY":
        return True
    if pattern_type == "LITERAL" and feature_type in ("TOOLS", "PROMPTS"):
        return name == feature.get("patternValue")
    raise NotSimulated(f"mcp-acl patternType {pattern_type} on {feature_type} is not documented")


def evaluate_condition(condition: str | None, scopes: list[str] | None) -> bool:
    """The ACL's condition: absent or blank applies; otherwise only ``||``/``&&`` combinations of
    ``#context.attributes['user.roles'].contains('<scope>')`` are evaluated."""
    if condition is None or not condition.strip():
        return True
    text = condition.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise NotSimulated(f"mcp-acl condition {condition!r} is not an EL expression the simulator evaluates")
    body = text[1:-1].strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1].strip()
    alternatives = []
    for alternative in re.split(r"\s*\|\|\s*", body):
        terms = re.split(r"\s*&&\s*", alternative)
        matches = [SCOPE_TERM.fullmatch(term.strip()) for term in terms]
        if not all(matches):
            raise NotSimulated(f"mcp-acl condition {condition!r} is not an EL expression the simulator evaluates")
        if scopes is None:
            raise NotSimulated("mcp-acl condition on user.roles without an OAuth2 plan (the attribute is absent)")
        alternatives.append(all(m.group(1) in scopes for m in matches))
    return any(alternatives)


def selector_matches(flow: dict[str, Any], method: str | None, scopes: list[str] | None) -> bool:
    """MCP selector: no ``methods`` (or an empty list) matches every MCP request, otherwise the JSON-RPC
    method must be listed; CONDITION selector: the same EL subset as the ACL conditions."""
    for selector in flow.get("selectors") or []:
        kind = selector.get("type")
        if kind == "MCP":
            methods = selector.get("methods") or []
            if methods and method not in methods:
                return False
        elif kind == "CONDITION":
            if not evaluate_condition(selector.get("condition"), scopes):
                return False
    return True


def decide(api: dict[str, Any], plan: dict[str, Any] | None, method: str | None, scopes: list[str] | None) -> AclDecision:
    """Collect the enabled mcp-acl steps of the plan's and the API's request flows that match."""
    feature, acl_method, list_key = MCP_METHODS.get(method or "", (None, None, None))
    rules: list[list[dict[str, Any]]] = []
    if feature is None:
        return AclDecision(False, None, None, None, rules)  # initialize, ping, notifications...: not ACL'd
    flows = list((plan or {}).get("flows") or []) + list(api.get("flows") or [])
    for flow in flows:
        if not flow.get("enabled", True) or not selector_matches(flow, method, scopes):
            continue
        for step in flow.get("request") or []:
            if step.get("policy") != POLICY_ID or not step.get("enabled", True):
                continue
            features: list[dict[str, Any]] = []
            for acl in (step.get("configuration") or {}).get("authorizations") or []:
                if evaluate_condition(acl.get("condition"), scopes):
                    features += acl.get("authorizedFeatures") or []
            rules.append(features)
    return AclDecision(bool(rules), feature, acl_method, list_key, rules)


def target_name(feature: str, params: dict[str, Any]) -> str | None:
    return params.get("uri") if feature == "RESOURCES" else params.get("name")


def filter_message(message: Any, decision: AclDecision) -> Any:
    """Drop the list entries the ACLs do not authorise from a JSON-RPC result."""
    if not isinstance(message, dict) or not isinstance(message.get("result"), dict):
        return message
    items = message["result"].get(decision.list_key)
    if not isinstance(items, list):
        return message
    key = "uri" if decision.feature == "RESOURCES" and decision.list_key == "resources" else "name"
    kept = [item for item in items if decision.allows(item.get(key) if isinstance(item, dict) else None)]
    return {**message, "result": {**message["result"], decision.list_key: kept}}


def filter_body(body: bytes, content_type: str, decision: AclDecision) -> bytes:
    """The response body with the lists filtered: plain JSON, or each ``data:`` line of an event stream."""
    if "text/event-stream" in content_type:
        out = []
        for line in body.decode().split("\n"):
            if line.startswith("data:"):
                data = line[5:].strip()
                try:
                    line = "data: " + json.dumps(filter_message(json.loads(data), decision))
                except ValueError:
                    pass  # events without JSON data are left alone
            out.append(line)
        return "\n".join(out).encode()
    try:
        return json.dumps(filter_message(json.loads(body), decision)).encode()
    except ValueError:
        return body


def catalogue_entry(profile: str) -> dict[str, Any]:
    """The policy plugin as the Management API lists it; the name is the documentation's title (the
    plugin.properties of this closed-source plugin is not public)."""
    return {"id": POLICY_ID, "name": "AI - MCP ACL", "version": VERSIONS.get(profile, VERSIONS["4.12"]), "deployed": True}
