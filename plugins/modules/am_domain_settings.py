#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_domain_settings
short_description: Set the client registration (DCR, CIMD) and user registration settings of a Gravitee AM domain
version_added: 0.1.0
description:
  - Sets the settings of a Gravitee Access Management domain (AM 4.10 or later) that MCP clients depend on,
    Dynamic Client Registration (DCR, so that clients such as VS Code register themselves), Client ID Metadata Documents
    (CIMD, AM 4.12 or later, so that clients whose client id is the URL of their metadata log in without registering)
    and user registration (so that users can sign up on the login page).
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
  cimd:
    description:
      - Client ID Metadata Documents (CIMD, AM C(oidc.cimdSettings)), AM 4.12.0 or later - an MCP client whose client id
        is the https URL of a document describing it (VS Code, Claude Code, claude.ai publish one) logs in without any
        registration; AM fetches the document and makes the client from a template application.
      - On AM before 4.12 the task fails before any write, naming the version, when a setting differs from what
        AM 4.12 does by default (CIMD off); asking for CIMD off there changes nothing.
      - AM refuses to enable CIMD without a template (O(cimd.template)), and checks the other settings while it is on; the
        module checks them before any write.
    type: dict
    suboptions:
      enabled:
        description:
          - Accept client ids that are the URL of a Client ID Metadata Document (C(enabled)). Discovery then advertises
            C(client_id_metadata_document_supported).
        type: bool
      template:
        description:
          - The application CIMD clients are made from (C(templateId)), by client id or id; it must be a template
            (M(mcpgate.gravitee.am_application) O(mcpgate.gravitee.am_application#module:template=true)). CIMD clients get
            its identity providers, grant types and scopes (those the document asks for, all when it names none).
          - Required to enable CIMD unless the domain has a template already.
          - In check mode, an application that an earlier task would create is accepted with a warning.
        type: str
      allowed_domains:
        description:
          - The only hosts a metadata document may come from (C(allowedDomains)), each a domain name with at least one dot
            (V(vscode.dev)), or C(*.) and a domain for its subdomains. V([]) allows every host. Compared in any order.
        type: list
        elements: str
      allow_unsecured_http_uri:
        description:
          - Accept C(http) client ids (C(allowUnsecuredHttpUri)); only for tests.
        type: bool
      allow_private_ip_address:
        description:
          - Accept client ids on C(localhost), private, loopback or link-local addresses, or names that resolve to them
            (C(allowPrivateIpAddress)); only for tests and internal publishers.
        type: bool
      fetch_timeout_ms:
        description:
          - How long AM waits for a document, in milliseconds (C(fetchTimeoutMs); AM's default 5000).
        type: int
      max_response_size_kb:
        description:
          - The largest document AM reads, in KiB (C(maxResponseSizeKb); AM's default 10).
        type: int
      cache_ttl_seconds:
        description:
          - How long AM keeps a document, in seconds, at most (C(cacheTtlSeconds); AM's default 86400). A document's
            C(Cache-Control) can shorten it.
        type: int
      cache_max_entries:
        description:
          - How many documents AM keeps (C(cacheMaxEntries); AM's default 1000).
        type: int
      revoke_on_document_change:
        description:
          - Revoke the tokens of a CIMD client when its document changes (C(revokeOnDocumentChange)).
        type: bool
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid
    (C(GET .../domains/_hrid/{hrid})), by name search, then by id (first by id when the value looks like one), as few
    as needed; then, only when a setting differs,
    one C(PATCH .../domains/{id}) holding only the changed settings, never a null (AM resets settings given as null).
  - These settings belong to the domain, not to one MCP server; in a play with several hosts in one domain, run the
    task once per domain (C(run_once), or a play of its own), so that hosts do not set it in turn.
  - Needs the AM permissions C(DOMAIN_OPENID[READ,UPDATE]) for O(dynamic_client_registration) and O(cimd), and
    C(DOMAIN_SETTINGS[READ,UPDATE]) for O(user_registration).
  - With O(cimd) - the template application is read by client id (C(GET .../applications?q=), then its C(GET)) unless the
    domain's template already is it (one C(GET)); when the domain shows no CIMD settings at all (AM before 4.12, or a
    domain made before an upgrade to 4.12) and a CIMD setting must change, the AM version is read from
    C(GET /management/openapi.json), which needs no authentication.
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

# Client ID Metadata Documents (AM 4.12): AM makes each such client from a template application.
- name: The template clients with a Client ID Metadata Document are made from
  mcpgate.gravitee.am_application:
    domain: mcp
    name: CIMD template
    client_id: mcp-cimd-template
    type: native
    template: true
    redirect_uris: [https://cimd-template.invalid/callback]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, offline_access]

- name: Let MCP clients log in with a Client ID Metadata Document, from VS Code's and Claude's publishers only
  mcpgate.gravitee.am_domain_settings:
    domain: mcp
    cimd:
      enabled: true
      template: mcp-cimd-template  # the client id of the template application
      allowed_domains: [vscode.dev, claude.ai]
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
    cimdSettings:
      description:
        - Under C(oidc), the CIMD settings (C(enabled), C(templateId), C(allowedDomains), C(allowUnsecuredHttpUri),
          C(allowPrivateIpAddress), C(fetchTimeoutMs), C(maxResponseSizeKb), C(cacheTtlSeconds), C(cacheMaxEntries),
          C(revokeOnDocumentChange)), AM defaults filled in.
        - Only when O(cimd) is set.
      type: dict
      returned: when O(cimd) is set
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


from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import (
    AmApi,
    application_client_id,
    cimd_host_ok,
    find_application,
    find_domain,
    version_tuple,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step, get_path, set_path, words
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

DCR = ("oidc", "clientRegistrationSettings")
DCR_OPTION = "dynamic_client_registration."
CIMD = ("oidc", "cimdSettings")
CIMD_OPTION = "cimd."
# DomainServiceImpl#validateCIMDSettings (AM 4.12.4): the numbers that must be above 0.
CIMD_POSITIVE = ("fetch_timeout_ms", "max_response_size_kb", "cache_ttl_seconds", "cache_max_entries")


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
    Field(DCR_OPTION + "default_scopes", key=DCR + ("defaultScopes",), type="list", elements="str", normalize=words, missing=[]),
    Field(DCR_OPTION + "allowed_scopes", get=allowed_scopes, put=put_allowed_scopes, type="list", elements="str",
          normalize=words, missing=[]),
    Field("user_registration", key=("loginSettings", "registerEnabled"), type="bool", missing=False),
    # oidc.cimdSettings (AM 4.12): MODEL/oidc/CIMDSettings.java, with its defaults for a domain that has none.
    Field(CIMD_OPTION + "enabled", key=CIMD + ("enabled",), type="bool", missing=False),
    # Given as a client id (or id), compared once resolved to the application's id (DomainSettings.resolve_template).
    Field(CIMD_OPTION + "template", key=CIMD + ("templateId",)),
    Field(CIMD_OPTION + "allowed_domains", key=CIMD + ("allowedDomains",), type="list", elements="str", normalize=words,
          missing=[]),
    Field(CIMD_OPTION + "allow_unsecured_http_uri", key=CIMD + ("allowUnsecuredHttpUri",), type="bool", missing=False),
    Field(CIMD_OPTION + "allow_private_ip_address", key=CIMD + ("allowPrivateIpAddress",), type="bool", missing=False),
    Field(CIMD_OPTION + "fetch_timeout_ms", key=CIMD + ("fetchTimeoutMs",), type="int", missing=5000),
    Field(CIMD_OPTION + "max_response_size_kb", key=CIMD + ("maxResponseSizeKb",), type="int", missing=10),
    Field(CIMD_OPTION + "cache_ttl_seconds", key=CIMD + ("cacheTtlSeconds",), type="int", missing=86400),
    Field(CIMD_OPTION + "cache_max_entries", key=CIMD + ("cacheMaxEntries",), type="int", missing=1000),
    Field(CIMD_OPTION + "revoke_on_document_change", key=CIMD + ("revokeOnDocumentChange",), type="bool", missing=False),
)
CIMD_FIELDS = [field for field in DESCRIPTION.fields if field.option.startswith(CIMD_OPTION)]


class DomainSettings(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(DomainSettings, self).__init__(module)
        self.am = AmApi.of(module)
        self.domain = None
        self.cimd_changing = False

    def find(self):
        self.domain = find_domain(self.am, self.params["domain"])
        return self.domain

    # -- CIMD (AM 4.12) ---------------------------------------------------------------------------------
    def prepare(self, current):
        """When a CIMD setting must change: AM 4.12 or later, and the template given by client id resolved to its id."""
        changes = [field.option for field in CIMD_FIELDS if field.option in self.wanted and field.differs(self.wanted[field.option], current)]
        self.cimd_changing = bool(changes)
        if not changes:
            return
        if get_path(current, CIMD) is None:
            version = self.am.version()
            if version and version_tuple(version) < (4, 12):
                raise ModuleError(
                    "cimd: AM %s has no Client ID Metadata Documents (they need AM 4.12.0 or later); remove the cimd "
                    "settings (%s) or upgrade AM" % (version, ", ".join(changes)), "cimd")
        if CIMD_OPTION + "template" in self.wanted:
            self.wanted[CIMD_OPTION + "template"] = self.resolve_template(current)

    def check(self, current):
        """What AM checks while CIMD is on (DomainServiceImpl#validateCIMDSettings), when a CIMD setting changes."""
        if not self.cimd_changing:
            return
        after = self.description.apply(current, self.wanted)
        settings = dict((field.option[len(CIMD_OPTION):], field.get(after)) for field in CIMD_FIELDS)
        if not settings["enabled"]:
            return
        for option in CIMD_POSITIVE:
            if settings[option] is not None and settings[option] <= 0:
                raise ModuleError("cimd.%s: AM needs a number above 0, got %s" % (option, settings[option]), "cimd." + option)
        wrong = [host for host in settings["allowed_domains"] or [] if not cimd_host_ok(host)]
        if wrong:
            raise ModuleError(
                "cimd.allowed_domains: AM refuses %s: give domain names with at least one dot (vscode.dev), or '*.' and "
                "a domain for its subdomains" % ", ".join(repr(host) for host in wrong), "cimd.allowed_domains")
        if not settings["template"]:
            raise ModuleError("cimd.template: AM enables Client ID Metadata Documents only with a template application; "
                              "give the client id of an application with template: true (am_application)",
                              "cimd.template")

    def resolve_template(self, domain):
        """The id of the template application given by client id or id; the domain's own template is read alone."""
        given = self.wanted[CIMD_OPTION + "template"]
        domain_id = domain["id"]
        current = get_path(domain, CIMD + ("templateId",))
        app = self.am.application(domain_id, current) if current else None
        if app is None or given not in (app.get("id"), application_client_id(app)):
            app = find_application(self.am, domain_id, client_id=given) or self.am.application(domain_id, given)
        if app is None:
            if not self.module.check_mode:
                raise ModuleError("cimd.template: domain %r has no application with client id (or id) %r; create it first "
                                  "(am_application with template: true)" % (domain.get("name"), given),
                                  "cimd.template")
            self.module.warn("in check mode: domain %r has no application with client id (or id) %r yet; the prediction "
                             "assumes it is created, with template: true, before this task runs" % (domain.get("name"), given))
            return given
        if not app.get("template"):
            message = ("the application %r (client id %r) is not a template; AM accepts only an application with "
                       "template: true (am_application)" % (app.get("name"), application_client_id(app)))
            if not self.module.check_mode:
                raise ModuleError("cimd.template: " + message, "cimd.template")
            self.module.warn("in check mode, " + message + ": an earlier task is expected to make it one")
        return app["id"]

    def update(self, current, options):
        body = self.description.patch(self.wanted, options)

        def run(domain):
            try:
                answer = self.am.patch_domain(domain["id"], body)
            except GraviteeError as exc:
                if exc.status == 400 and "cimdSettings" in (exc.message or ""):
                    exc.hint = "cimd: this AM has no Client ID Metadata Documents; they need AM 4.12.0 or later"
                raise
            # The answer is the domain as the caller may see it: used when it shows what was patched.
            return answer if isinstance(answer, dict) and all(key in answer for key in body) else None

        return Step(lambda domain: self.description.apply(domain, self.wanted, options), run)

    def shown(self, obj):
        """The managed settings alone, AM defaults filled in; the CIMD ones only when asked for (AM 4.12)."""
        if obj is None:
            return None
        values = self.description.read(obj)
        if not any(field.option in self.wanted for field in CIMD_FIELDS):
            values = dict((option, value) for option, value in values.items() if not option.startswith(CIMD_OPTION))
        return self.description.apply({}, values)


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
