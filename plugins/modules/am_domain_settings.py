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
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid
    (C(GET .../domains/_hrid/{hrid})), by id or by name search, as few as needed; then, only when a setting differs,
    one C(PATCH .../domains/{id}) holding only the changed settings, never a null (AM resets settings given as null).
  - These settings belong to the domain, not to one MCP server; in a play with several hosts in one domain, run the
    task once per domain (C(run_once), or a play of its own), so that hosts do not set it in turn.
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

- name: Let users sign up on the login page, and restrict the scopes registered clients may get
  mcpgate.gravitee.am_domain_settings:
    domain: mcp
    user_registration: true
    dynamic_client_registration:
      # MCP SDK clients ask for offline_access (a refresh token): keep it allowed.
      allowed_scopes: [openid, profile, offline_access, mcp:tools]
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

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi, find_domain
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step, get_path, set_path
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule

DCR = ("oidc", "clientRegistrationSettings")
DCR_OPTION = "dynamic_client_registration."


def scopes(values):
    return sorted(set(value.strip() for value in values or [] if value and value.strip()))


def allowed_scopes(domain):
    """The allowed scopes, or none while the filter is off (then every scope is allowed)."""
    return get_path(domain, DCR + ("allowedScopes",)) if get_path(domain, DCR + ("isAllowedScopesEnabled",)) else []


def put_allowed_scopes(domain, values):
    # With the filter on, an empty list would drop every scope: an empty list turns the filter off instead.
    set_path(domain, DCR + ("allowedScopes",), values)
    set_path(domain, DCR + ("isAllowedScopesEnabled",), bool(values))


def dcr_flag(option, key):
    return Field(DCR_OPTION + option, key=DCR + (key,), type="bool", missing=False)


DESCRIPTION = Description(
    # oidc.clientRegistrationSettings: the "is" prefixes are the real JSON keys (am-management-api.md §7).
    dcr_flag("enabled", "isDynamicClientRegistrationEnabled"),
    dcr_flag("open", "isOpenDynamicClientRegistrationEnabled"),
    dcr_flag("allow_localhost_redirect_uri", "allowLocalhostRedirectUri"),
    dcr_flag("allow_http_scheme_redirect_uri", "allowHttpSchemeRedirectUri"),
    Field(DCR_OPTION + "default_scopes", key=DCR + ("defaultScopes",), type="list", elements="str", normalize=scopes, missing=[]),
    Field(DCR_OPTION + "allowed_scopes", get=allowed_scopes, put=put_allowed_scopes, type="list", elements="str",
          normalize=scopes, missing=[]),
    Field("user_registration", key=("loginSettings", "registerEnabled"), type="bool", missing=False),
)


class DomainSettings(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(DomainSettings, self).__init__(module)
        self.am = AmApi.of(module)
        self.domain = None

    def find(self):
        self.domain = find_domain(self.am, self.params["domain"])
        return self.domain

    def steps(self, current):
        return self.converge(current, None, self.update, None)

    def update(self, current, options):
        body = self.description.patch(self.wanted, options)

        def run(domain):
            answer = self.am.patch_domain(domain["id"], body)
            # The answer is the domain as the caller may see it: used when it shows what was patched.
            return answer if isinstance(answer, dict) and all(key in answer for key in body) else None

        return Step("update", lambda domain: self.description.apply(domain, self.wanted, options), run)

    def shown(self, obj):
        """The managed settings alone, AM defaults filled in."""
        return self.description.apply({}, self.description.read(obj)) if obj is not None else None


def run(module):
    settings = DomainSettings(module)
    _before, after = settings.ensure()
    dcr = get_path(settings.shown(after), DCR)
    if dcr["isOpenDynamicClientRegistrationEnabled"] and not dcr["isDynamicClientRegistrationEnabled"]:
        module.warn(
            "dynamic_client_registration.open has no effect while Dynamic Client Registration is disabled: "
            "set dynamic_client_registration.enabled: true"
        )
    module.exit(settings=settings.shown(after), domain=dict((key, after.get(key)) for key in ("id", "name", "hrid")))


def main():
    spec = dict(DESCRIPTION.argument_spec(), domain=dict(type="str", required=True))
    module = GraviteeModule("am", spec)
    module.run(run)


if __name__ == "__main__":
    main()
