#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_domain_settings
short_description: Set the Dynamic Client Registration and user registration settings of a Gravitee AM domain
version_added: 0.1.0
description:
  - Sets the settings of a Gravitee Access Management domain (AM 4.10 or later) that MCP clients depend on,
    Dynamic Client Registration (DCR, so that clients such as VS Code register themselves) and user registration
    (so that users can sign up on the login page).
  - Only the options you set are compared and sent, as one partial update (C(PATCH)) of the changed settings alone;
    every other setting of the domain is left as it is. A second run with the same options changes nothing and
    sends no write.
  - A setting that AM does not return is at its AM default (V(false), or no scopes).
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.am
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  domain:
    description:
      - The AM domain, by name, hrid (for example C(my-mcp-domain)) or id.
    type: str
    required: true
  dynamic_client_registration:
    description:
      - Dynamic Client Registration settings (AM C(oidc.clientRegistrationSettings)).
      - MCP clients such as VS Code register C(http://127.0.0.1:<port>) callbacks without any initial access token,
        so they need O(dynamic_client_registration.enabled), O(dynamic_client_registration.open),
        O(dynamic_client_registration.allow_localhost_redirect_uri) and
        O(dynamic_client_registration.allow_http_scheme_redirect_uri).
    type: dict
    suboptions:
      enabled:
        description:
          - Accept client registrations at the domain's C(/oidc/register) endpoint (C(isDynamicClientRegistrationEnabled)).
        type: bool
      open:
        description:
          - Let anyone register a client without an initial access token (C(isOpenDynamicClientRegistrationEnabled)).
          - Effective only while O(dynamic_client_registration.enabled) is true; the module warns otherwise.
          - Anyone who can reach the AM gateway can then create clients in the domain.
        type: bool
      allow_localhost_redirect_uri:
        description:
          - Accept C(localhost) redirect URIs in client registrations (C(allowLocalhostRedirectUri)).
        type: bool
      allow_http_scheme_redirect_uri:
        description:
          - Accept plain C(http) redirect URIs in client registrations (C(allowHttpSchemeRedirectUri)).
        type: bool
      default_scopes:
        description:
          - Scopes given to a client whose registration asks for none (C(defaultScopes)). Compared in any order.
        type: list
        elements: str
      allowed_scopes:
        description:
          - The only scopes a registered client may get (C(allowedScopes)); AM silently drops the others from a
            registration. Compared in any order.
          - A non-empty list also turns the filter on (C(isAllowedScopesEnabled=true)); V([]) turns it off and clears
            the list, so every scope is allowed. When not set, both are left as they are.
        type: list
        elements: str
  user_registration:
    description:
      - Show the sign-up link on the domain's login page (AM C(loginSettings.registerEnabled)), for every application
        that does not have login settings of its own.
      - The domain's C(loginSettings.inherited) flag is not sent; AM does not consult it at domain level.
      - Users register in the application's identity provider; clients created by DCR get the first identity provider
        of the domain.
    type: bool
  known_domain:
    description:
      - The domain as an earlier task of the same play read it, such as the
        RV(mcpgate.gravitee.am_info#module:domain) that M(mcpgate.gravitee.am_info) returns. The settings are then
        compared with it, and the module sends no request to read the domain.
      - The caller vouches that it is current (read in the same play, with nothing changed since); the C(PATCH) holds
        only the settings that differ from it.
      - It must be the domain O(domain) names (O(domain) is its name, hrid or id), else the task fails before any
        request. A domain without its settings (no C(oidc), such as an item of a domain search) is read again by id.
    type: dict
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid
    (C(GET .../domains/_hrid/{hrid})), by id or by name search, as few as needed (none with O(known_domain)); then,
    only when a setting differs, one C(PATCH .../domains/{id}) holding only the changed settings, never a null (AM
    resets settings given as null).
  - With O(token) and O(known_domain), a run that changes nothing sends no request at all.
  - Needs the AM permissions C(DOMAIN_OPENID[READ,UPDATE]) for O(dynamic_client_registration) and
    C(DOMAIN_SETTINGS[READ,UPDATE]) for O(user_registration).
seealso:
  - module: mcpgate.gravitee.am_mcp_server
"""

EXAMPLES = r"""
- name: Let MCP clients register themselves (what VS Code and Claude need)
  mcpgate.gravitee.am_domain_settings:
    domain: mcp
    dynamic_client_registration:
      enabled: true
      open: true
      allow_localhost_redirect_uri: true
      allow_http_scheme_redirect_uri: true
      default_scopes: [openid]

- name: Let users sign up on the login page, and restrict what registered clients may ask for
  mcpgate.gravitee.am_domain_settings:
    domain: My MCP Domain
    user_registration: true
    dynamic_client_registration:
      allowed_scopes: [openid, profile, weather:read]
"""

RETURN = r"""
settings:
  description:
    - The settings this module manages, as the domain now has them (predicted in check mode), AM defaults filled in,
      scope lists sorted. The diff shows the same structure before and after.
  returned: always
  type: dict
  contains:
    oidc:
      description: C(clientRegistrationSettings) with the DCR keys the module manages.
      type: dict
    loginSettings:
      description: C(registerEnabled).
      type: dict
  sample:
    oidc:
      clientRegistrationSettings:
        isDynamicClientRegistrationEnabled: true
        isOpenDynamicClientRegistrationEnabled: true
        allowLocalhostRedirectUri: true
        allowHttpSchemeRedirectUri: true
        defaultScopes: [openid]
        isAllowedScopesEnabled: false
        allowedScopes: []
    loginSettings:
      registerEnabled: false
domain:
  description: The domain.
  returned: always
  type: dict
  contains:
    id:
      description: Id of the domain.
      type: str
    name:
      description: Name of the domain.
      type: str
    hrid:
      description: Human-readable id of the domain.
      type: str
  sample: {"id": "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e", "name": "mcp", "hrid": "mcp"}
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule

ARGUMENT_SPEC = dict(
    domain=dict(type="str", required=True),
    dynamic_client_registration=dict(
        type="dict",
        options=dict(
            enabled=dict(type="bool"),
            open=dict(type="bool"),
            allow_localhost_redirect_uri=dict(type="bool"),
            allow_http_scheme_redirect_uri=dict(type="bool"),
            default_scopes=dict(type="list", elements="str"),
            allowed_scopes=dict(type="list", elements="str"),
        ),
    ),
    user_registration=dict(type="bool"),
    known_domain=dict(type="dict"),
)

# option -> AM key in oidc.clientRegistrationSettings (the "is" prefixes are the real JSON keys).
DCR_FLAGS = (
    ("enabled", "isDynamicClientRegistrationEnabled"),
    ("open", "isOpenDynamicClientRegistrationEnabled"),
    ("allow_localhost_redirect_uri", "allowLocalhostRedirectUri"),
    ("allow_http_scheme_redirect_uri", "allowHttpSchemeRedirectUri"),
)
DCR_LISTS = (("default_scopes", "defaultScopes"), ("allowed_scopes", "allowedScopes"))
ALLOWED_SCOPES_ENABLED = "isAllowedScopesEnabled"


def scopes(values):
    return sorted(set(value.strip() for value in values or [] if value and value.strip()))


def settings_view(domain):
    """The managed settings of a domain, each at its AM model default when AM leaves it out (NON_NULL)."""
    dcr = (domain.get("oidc") or {}).get("clientRegistrationSettings") or {}
    managed = dict((key, bool(dcr.get(key))) for _option, key in DCR_FLAGS)
    managed["defaultScopes"] = scopes(dcr.get("defaultScopes"))
    managed[ALLOWED_SCOPES_ENABLED] = bool(dcr.get(ALLOWED_SCOPES_ENABLED))
    managed["allowedScopes"] = scopes(dcr.get("allowedScopes"))
    login = domain.get("loginSettings") or {}
    return {"oidc": {"clientRegistrationSettings": managed}, "loginSettings": {"registerEnabled": bool(login.get("registerEnabled"))}}


def desired_settings(params):
    """The settings the user set, in the same shape; nothing else."""
    desired = {}
    dcr_options = params["dynamic_client_registration"] or {}
    dcr = dict((key, dcr_options[option]) for option, key in DCR_FLAGS if dcr_options.get(option) is not None)
    if dcr_options.get("default_scopes") is not None:
        dcr["defaultScopes"] = scopes(dcr_options["default_scopes"])
    if dcr_options.get("allowed_scopes") is not None:
        dcr["allowedScopes"] = scopes(dcr_options["allowed_scopes"])
        # With the filter on, an empty list would drop every scope: an empty list turns the filter off instead.
        dcr[ALLOWED_SCOPES_ENABLED] = bool(dcr["allowedScopes"])
    if dcr:
        desired["oidc"] = {"clientRegistrationSettings": dcr}
    if params["user_registration"] is not None:
        desired["loginSettings"] = {"registerEnabled": params["user_registration"]}
    return desired


def minimal_patch(desired, current):
    """Only the leaves of ``desired`` that differ from ``current``, nested as AM's PatchDomain reads them."""
    patch = {}
    for key, value in desired.items():
        if isinstance(value, dict):
            nested = minimal_patch(value, (current or {}).get(key) or {})
            if nested:
                patch[key] = nested
        elif value != (current or {}).get(key):
            patch[key] = value
    return patch


def run_module(module):
    params = module.params
    api = AmApi(module.client, params["organization"], params["environment"])
    domain, full = api.find_domain(params["domain"], known=params["known_domain"])
    if not full:  # a search result holds only the basic fields: read the settings
        domain = api.get_domain(domain["id"]) or domain
    current = settings_view(domain)
    desired = desired_settings(params)

    def update(_current, _changes):
        body = minimal_patch(desired, _current)
        answer = api.patch_domain(domain["id"], body)
        # The answer is the domain as the caller may see it; use it when it shows what was patched.
        if isinstance(answer, dict) and all(key in answer for key in body):
            return settings_view(answer)
        return None

    settings = module.ensure(current, desired, "present", create=None, update=update)
    dcr = settings["oidc"]["clientRegistrationSettings"]
    if dcr["isOpenDynamicClientRegistrationEnabled"] and not dcr["isDynamicClientRegistrationEnabled"]:
        module.warn(
            "dynamic_client_registration.open has no effect while Dynamic Client Registration is disabled: "
            "set dynamic_client_registration.enabled: true"
        )
    module.exit(
        settings=settings,
        domain=dict((key, domain.get(key)) for key in ("id", "name", "hrid")),
    )


def main():
    module = GraviteeModule("am", ARGUMENT_SPEC)
    module.run(run_module)


if __name__ == "__main__":
    main()
