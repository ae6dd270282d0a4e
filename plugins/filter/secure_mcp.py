# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the secure_mcp role derives from its variables, in Python: the role holds data, these filters its logic.

Each filter is documented in the YAML file of its name beside this one; the unit tests are in
``tests/unit/test_secure_mcp_filters.py``.  The checks are the modules' own (module_utils), so that the role refuses,
before its first write, exactly what a module would refuse later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six.moves.collections_abc import Mapping

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import cimd_host_ok, redirect_uri_problem
from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import check_context_path, check_url
from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.mcp_acl import SCOPE_RE

TOOL_ACCESS_KEYS = ("scopes", "methods", "description", "verify_arguments")
TOOL_METHODS = ["TOOLS_LIST", "TOOLS_CALL"]
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def tool_access(access_by_tool, tools=None, acl_rules=None):
    """secure_mcp_tool_access (tool -> scopes, methods...) compiled: the AM MCP server's tools and the scopes to create,
    the plan's mcp-acl option, what the verification expects, and the problems with it."""
    tools, acl_rules = list(tools or []), list(acl_rules or [])
    given = [tool.get("key") for tool in tools]
    am_tools, scopes, acl, listed, hidden, allowed, refused, problems = [], [], [], [], [], [], [], []
    open_list = open_call = False
    for tool, entry in (access_by_tool or {}).items():
        access = entry if isinstance(entry, Mapping) else {}
        where = "secure_mcp_tool_access[%s]" % tool
        tool_scopes = access.get("scopes") or []
        methods = [str(method).upper() for method in access.get("methods") or TOOL_METHODS]
        every = tool == "*"
        if entry is not None and not isinstance(entry, Mapping):
            problems.append(where + " must be a mapping (scopes, methods, description, verify_arguments).")
        unknown = _unique(key for key in access if key not in TOOL_ACCESS_KEYS)
        if unknown:
            problems.append("%s: %s not known; use %s." % (where, ", ".join(unknown), ", ".join(TOOL_ACCESS_KEYS)))
        if not every and not TOOL_NAME_RE.match(tool):
            problems.append("secure_mcp_tool_access: %s is not a tool name (1 to 64 letters, digits, _ or -), nor * for "
                            "every tool." % json.dumps(tool))
        if tool in given:
            problems.append("%s and secure_mcp_tools both declare the tool %s; declare it once (in "
                            "secure_mcp_tool_access)." % (where, tool))
        wrong = [method for method in methods if not method.startswith("TOOLS_")]
        if wrong:
            problems.append("%s.methods: %s are not tool methods (TOOLS_LIST, TOOLS_CALL)." % (where, ", ".join(wrong)))
        if isinstance(tool_scopes, str) or [scope for scope in tool_scopes if not SCOPE_RE.match(str(scope))]:
            problems.append(where + ".scopes must be a list of scopes without spaces, quotes, backslashes, braces or #.")
        if not every:
            am_tools.append({"key": tool, "description": access.get("description") or "", "scopes": tool_scopes})
            if "TOOLS_LIST" in methods:
                listed.append(tool)
            if tool_scopes:
                hidden.append(tool)
            arguments = access.get("verify_arguments")
            if isinstance(arguments, Mapping) and "TOOLS_CALL" in methods:
                allowed.append({"name": tool, "arguments": arguments, "expect": "allowed"})
                if tool_scopes:
                    refused.append({"name": tool, "arguments": arguments, "expect": "refused"})
        elif not tool_scopes:
            open_list = open_list or "TOOLS_LIST" in methods
            open_call = open_call or "TOOLS_CALL" in methods
        scopes.extend(tool_scopes if not isinstance(tool_scopes, str) else [])
        acl.append({"scopes": tool_scopes or None, "authorized_features": [{
            "type": "TOOLS", "methods": methods, "pattern_type": "ANY" if every else "LITERAL",
            "pattern_value": None if every else tool}]})
    # A rule of secure_mcp_acl_rules on tools may let through what the access rules hide: nothing is expected hidden.
    other_tool_rules = [feature for rule in acl_rules for feature in rule.get("authorized_features") or []
                        if str(feature.get("type") or "").upper() == "TOOLS"]
    return {
        "am_tools": tools + am_tools,
        "scopes": _unique(scopes),
        "mcp_acl": {"state": "present" if access_by_tool or acl_rules else "absent", "authorizations": acl + acl_rules},
        "listed": listed,
        "allowed_calls": allowed,
        "hidden": [] if open_list or other_tool_rules else hidden,
        "refused_calls": [] if open_call or other_tool_rules else refused,
        "problems": problems,
    }


def _problem(check, *args):
    try:
        check(*args)
    except ModuleError as exc:
        return str(exc).rstrip(".") + "."
    return None


def input_problems(values):
    """The problems with the role's own variables, as the modules would find them (``values``: the variables by name,
    without the secure_mcp_ prefix; ``unknown`` and ``missing``: the variable names found so)."""
    problems = []
    if values.get("unknown"):
        problems.append("%s: not options of the secure_mcp role, so they would be ignored; fix the name (the role README "
                        "lists the variables) or remove it." % ", ".join(values["unknown"]))
    path = values.get("context_path")
    problems.append(_problem(check_context_path, path, "secure_mcp_context_path"))
    if not problems[-1] and path != "/" and path.endswith("/"):
        problems[-1] = ("secure_mcp_context_path %s ends with '/': MCP clients would use a URL with the slash while AM's "
                        "resource identifier has none, so tokens would not match; remove the trailing slash." % json.dumps(path))
    if values.get("state") != "absent" and values.get("missing"):
        problems.append("%s must be set to secure an MCP server (secure_mcp_state: present)." % ", ".join(values["missing"]))
    for name, query in (("server_url", True), ("apim_gateway_url", False), ("am_gateway_url", False)):
        if values.get(name) is not None:
            problems.append(_problem(check_url, values[name], "secure_mcp_" + name, query))
    return [problem for problem in problems if problem]


def _client_id(client):
    """The client id of an MCP client: given, else after its preset, else after its name."""
    if client.get("client_id") is not None:
        return client["client_id"]
    if client.get("preset") is not None:
        return "mcp-client-" + client["preset"]
    return "mcp-client-" + re.sub(r"^-|-$", "", re.sub(r"[^a-z0-9]+", "-", (client.get("name") or "").lower()))


def _preset_uris(client, presets, port):
    preset = presets.get(client.get("preset")) or {}
    return [uri.replace("{port}", port) for uri in preset.get("redirect_uris") or []]


# The refusals of AM a domain setting lifts, and the role variable that sets it.
_URI_PROBLEMS = (
    ("localhost", "secure_mcp_clients - AM refuses the loopback redirect URIs %s unless the domain allows localhost redirect "
                  "URIs (for every application, with DCR on or off): set secure_mcp_dcr_allow_localhost_redirect_uri to true."),
    ("plain http", "secure_mcp_clients - AM refuses the plain http redirect URIs %s unless the domain allows them (for every "
                   "application, with DCR on or off): set secure_mcp_dcr_allow_http_scheme_redirect_uri to true."),
    ("malformed", "secure_mcp_clients - AM refuses malformed redirect URIs (%s)."),
    ("wildcard", "secure_mcp_clients - AM refuses redirect URIs with a #fragment or a wildcard: %s."),
    ("fragment", "secure_mcp_clients - AM refuses redirect URIs with a #fragment or a wildcard: %s."),
)


def mcp_clients(clients, presets, scopes, allow_localhost=True, allow_http=True, cimd_domains=None):
    """secure_mcp_clients resolved (each client's name, client id, redirect URIs, scopes) with the problems AM would
    find in them, and in the CIMD allowed domains (``cimd_domains``, when CIMD is on)."""
    clients, presets = list(clients or []), presets or {}
    allow_localhost, allow_http = _true(allow_localhost), _true(allow_http)
    resolved = []
    for client in clients:
        preset = presets.get(client.get("preset")) or {}
        confidential = bool(client.get("confidential"))
        resolved.append({
            "name": client["name"] if client.get("name") is not None else preset.get("name", ""),
            "client_id": _client_id(client),
            "redirect_uris": client["redirect_uris"] if client.get("redirect_uris") is not None else
            _preset_uris(client, presets, str(client.get("port", "") if client.get("port") is not None else "")),
            "confidential": confidential,
            "type": "web" if confidential else "native",
            "token_endpoint_auth_method": "client_secret_basic" if confidential else "none",
            "scopes": _unique(list(scopes or []) + list(client.get("scopes") or [])),
            "state": client.get("state") or "present",
        })
    problems = []
    if [client for client in clients if client.get("preset") is None and client.get("name") is None]:
        problems.append("secure_mcp_clients - a client without a preset needs a name (the name of its AM application).")
    # The ids as the role reports them: those given, then those of presets, then those of names.
    ids = [_client_id(c) for c in clients if c.get("client_id") is not None] + \
        [_client_id(c) for c in clients if c.get("client_id") is None and c.get("preset") is not None] + \
        [_client_id(c) for c in clients if c.get("client_id") is None and c.get("preset") is None]
    if len(ids) != len(set(ids)):
        problems.append("secure_mcp_clients - two clients have the same client id (%s): give one of them its own "
                        "client_id." % ", ".join(ids))
    # Every redirect URI, a preset's with a port standing in for the client's own.
    uris = [uri for c in clients if c.get("redirect_uris") is not None for uri in c["redirect_uris"]] + \
        [uri for c in clients if c.get("preset") is not None for uri in _preset_uris(c, presets, "1")]
    registration = {"allowLocalhostRedirectUri": allow_localhost, "allowHttpSchemeRedirectUri": allow_http}
    found = {}
    for uri in uris:
        problem = redirect_uri_problem(uri, registration) or ""
        kind = next((kind for kind, _message in _URI_PROBLEMS if kind in problem), None)
        if kind:
            found.setdefault(_URI_PROBLEMS[[k for k, _m in _URI_PROBLEMS].index(kind)][1], []).append(uri)
    problems.extend(message % ", ".join(found_uris) for message, found_uris in found.items())
    wrong = [host for host in cimd_domains or [] if not cimd_host_ok(host)]
    if wrong:
        problems.append("secure_mcp_cimd_allowed_domains - AM accepts only domain names with a dot (vscode.dev) or '*.' "
                        "and a domain: %s." % ", ".join(wrong))
    return {"clients": resolved, "client_ids": sorted(ids), "problems": problems,
            "secret_holders": len([client for client in resolved if client["confidential"]])}


def _true(value):
    """A boolean, also as a template gives it on the oldest ansible-core (a string)."""
    return value is True or str(value).lower() in ("true", "yes", "1")


def preflight_facts(apim, mcp_server, names):
    """What the preflight's reads say: is the API secured already (its OAuth2 plan published), is a keyless plan left,
    which AM domain path the APIM resource names, and has the AM MCP server a secret that no APIM resource holds.

    ``apim``: apim_info's result; ``mcp_server``: am_mcp_server's; ``names``: ``oauth2_plan``, ``keyless_plan``,
    ``resource``, ``client_id`` and ``secret_given`` (whether the role was given the MCP server's secret)."""
    plans = apim.get("plans") or []
    resources = (apim.get("api") or {}).get("resources") or []
    held = next(((resource.get("configuration") or {}).get("clientId") for resource in resources
                 if resource.get("name") == names["resource"]), None)
    domain = mcp_server.get("domain") or {}
    return {
        "oauth2_published": any(p.get("name") == names["oauth2_plan"] and p.get("status") == "PUBLISHED" for p in plans),
        "keyless_found": any(p.get("name") == names["keyless_plan"] for p in plans),
        "mcp_server_exists": mcp_server.get("id") is not None,
        "secret_lost": not _true(names["secret_given"]) and mcp_server.get("id") is not None and (held or "") != names["client_id"],
        "security_domain": (domain.get("path") or "/%s" % domain.get("hrid")).strip("/"),
    }


def rotation(name, secrets):
    """A rotation of the MCP server's client secret named ``name``, given the secrets the server has: ``done`` when its
    only secret is this rotation's, and the name of the secret this run adds: ``name``, or ``name (2)``... when a
    failed run left one of that name (whose value is lost)."""
    names = [secret.get("name") for secret in secrets or []]
    ours = [n for n in names if n == name or re.match(r"^%s \(\d+\)$" % re.escape(name), n or "")]
    free = [candidate for candidate in [name] + ["%s (%d)" % (name, number) for number in range(2, 13)] if candidate not in names]
    return {"done": len(names) == 1 and len(ours) == 1, "secret_name": free[0] if free else None}


class FilterModule(object):
    def filters(self):
        return {"tool_access": tool_access, "input_problems": input_problems, "mcp_clients": mcp_clients,
                "preflight_facts": preflight_facts, "rotation": rotation}
