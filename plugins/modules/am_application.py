#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_application
short_description: Manage an application (OAuth client) in a Gravitee Access Management domain, for example an MCP client
version_added: 0.1.0
description:
  - Creates, updates or deletes an application of a Gravitee AM domain (AM 4.10 or later), the OAuth client an MCP client
    such as VS Code, Claude or Cursor logs users in with when it does not register itself by Dynamic Client Registration
    (the guide's "When DCR is disabled, you must manually create an application in AM for each MCP client").
  - The application is found by O(id) when given, else by O(client_id) when given, else by O(name) when exactly one
    application of the domain has it (AM does not require names to be unique; two with the name is an error).
  - Only the options you set are compared; a second run with the same options changes nothing and sends no write.
    Changes are sent as one partial update (C(PATCH)) of the changed settings.
  - AM creates an application with its type's defaults; the module then sets, in the same task, whatever else was asked
    (grant types, scopes, identity providers, template), and deletes the application again if AM refuses that.
  - AM generates a client secret for every application it creates. For a confidential client (O(token_endpoint_auth_method)
    other than V(none)) whose O(client_secret) is not set, the module returns it once, in the result of the task that
    created the application, as RV(client_secret); register that result with C(no_log=true). AM never shows it again.
  - Every redirect URI is checked before any write against the rules AM applies with the domain's client registration
    settings, for every application and whether or not Dynamic Client Registration is enabled (see O(redirect_uris)).
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.am
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  domain:
    description:
      - The AM domain the application belongs to, by name, hrid (for example C(my-mcp-domain)) or id.
    type: str
    required: true
  name:
    description:
      - Display name of the application, shown on AM's login and consent pages. Required to create one.
      - Identifies the application when neither O(id) nor O(client_id) is set.
    type: str
  client_id:
    description:
      - OAuth2 client id, unique in the domain among applications and MCP servers. When set, it identifies the application.
      - When not set at creation, AM generates one (a UUID, returned as RV(client_id)).
      - AM can't change the client id of an application; giving another one for an application found by O(id) is an error.
    type: str
  client_secret:
    description:
      - OAuth2 client secret, used only when the application is created. When not set, AM generates one, returned once
        as RV(client_secret) for a confidential client.
      - Not compared and not sent for an application that exists (AM does not return secrets).
    type: str
  type:
    description:
      - The kind of client. AM applies the type's defaults at creation.
      - V(native) (a desktop or command-line MCP client) and V(browser) are public clients - authorization code with PKCE
        (S256) forced, token endpoint authentication V(none). V(web) is a confidential client (authorization code and
        password grants, C(client_secret_basic)); V(service) a machine client (client credentials).
      - Set at creation. AM changes the type of an application only with its own call, which resets the grant types; a
        different type for an existing application is an error (delete it and create it again).
      - Required to create an application.
    type: str
    choices: [web, native, browser, service]
  description:
    description:
      - Description of the application.
    type: str
  redirect_uris:
    description:
      - The redirect URIs the client may use (C(settings.oauth.redirectUris)), compared in any order. Required to create
        an application of a type other than V(service).
      - AM refuses, for every application, a redirect URI on C(localhost), C(127.0.0.1) and the like unless the domain
        allows localhost redirect URIs, a plain C(http) one unless it allows the http scheme, one with C(*) unless it
        allows wildcards, and one with a C(#fragment); custom schemes (C(cursor://...)) and https need no switch. The
        switches are the domain's client registration settings (M(mcpgate.gravitee.am_domain_settings)
        O(mcpgate.gravitee.am_domain_settings#module:dynamic_client_registration)), also when Dynamic Client
        Registration is disabled. The module applies the same rules before any write; in check mode, a redirect URI
        that only a domain switch refuses gives a warning (an earlier task may set the switch).
      - For a client that is not CIMD, AM compares the redirect URI of a login with the registered ones by scheme, host,
        port (exactly) and path prefix, so a loopback client must always listen on the registered port.
    type: list
    elements: str
  grant_types:
    description:
      - The OAuth2 grant types (C(settings.oauth.grantTypes)), compared in any order, for example
        V([authorization_code, refresh_token]) for an MCP client that may keep its session.
      - V(refresh_token) needs V(authorization_code) or V(password); V(client_credentials) needs a confidential client.
      - When not set at creation, the type's defaults.
    type: list
    elements: str
  token_endpoint_auth_method:
    description:
      - How the client authenticates at the token endpoint (C(settings.oauth.tokenEndpointAuthMethod)). V(none) for a
        public client (PKCE).
      - When not set at creation, the type's default (V(none) for V(native) and V(browser), else V(client_secret_basic)).
    type: str
    choices: [none, client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth,
              self_signed_tls_client_auth]
  force_pkce:
    description:
      - Require PKCE with the C(S256) method on authorization requests (C(forcePKCE) and C(forceS256CodeChallengeMethod)).
      - V(native) and V(browser) applications have it from creation.
    type: bool
  scopes:
    description:
      - The scopes the client may ask for (C(settings.oauth.scopeSettings)), compared in any order; every one must exist
        in the domain (checked before any write).
      - AM also grants, when the client asks for a token for an MCP server (C(resource)), the scopes of that MCP server's
        tools. A client must hold every other scope it asks for, or AM answers C(invalid_scope); MCP clients often ask
        for C(offline_access) (a refresh token), some for every scope the domain advertises.
      - When set, the list is complete. V([]) removes them all.
    type: list
    elements: str
  default_scopes:
    description:
      - The scopes a token gets when the client asks for none; each must be in O(scopes) (or among the application's
        scopes when O(scopes) is not set).
    type: list
    elements: str
  identity_providers:
    description:
      - The identity providers users of this client log in with, by id or name. An application without one can't log
        anyone in.
      - When not set at creation, the domain's default identity provider (C(default-idp-<domain id>)), or its only one;
        with several and no default, the module asks to choose.
      - When set, the list is complete; compared in any order.
    type: list
    elements: str
  template:
    description:
      - Make the application a template (C(template)), for Dynamic Client Registration templates and for the template
        that clients with a Client ID Metadata Document are made from (AM 4.12,
        O(mcpgate.gravitee.am_domain_settings#module:cimd.template)).
    type: bool
  id:
    description:
      - Id of the application in AM, to find it by id instead of O(client_id) or O(name).
      - AM answers an id it does not know with HTTP 403 (its permission check resolves the id first), not 404; the
        module reads that as no such application (an error with V(present), nothing to do with V(absent)).
    type: str
  state:
    description:
      - V(present) creates or updates the application; V(absent) deletes it.
      - With V(absent), give O(client_id), O(name) or O(id) to find it.
      - AM refuses to delete the domain's CIMD template while CIMD is enabled.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid, id or name
    search, as few as needed; the application (C(GET .../applications?q=<client id or name>), then C(GET
    .../applications/{id})). Before a create - whether an MCP server holds the client id, and the domain's identity
    providers when O(identity_providers) is not set. Before a change of scopes or identity providers by name - the
    domain's scopes (C(GET .../scopes)), its identity providers (C(GET .../identities)). Then, only when needed, one
    C(POST) (and one C(PATCH) for what AM does not take at creation), one C(PATCH), or one C(DELETE).
  - Needs the AM permissions C(APPLICATION[CREATE,READ,UPDATE,DELETE]) in the domain, and C(DOMAIN_SCOPE[LIST]),
    C(DOMAIN_IDENTITY_PROVIDER[LIST]) for the checks.
  - The AM gateway picks up changes asynchronously; a login right after a change may not see it yet.
seealso:
  - module: mcpgate.gravitee.am_domain_settings
  - module: mcpgate.gravitee.am_mcp_server
"""

EXAMPLES = r"""
- name: VS Code logs in without Dynamic Client Registration (a public client, PKCE, loopback port 33418)
  mcpgate.gravitee.am_application:
    domain: mcp
    name: VS Code
    client_id: mcp-client-vscode
    type: native
    redirect_uris:
      - http://127.0.0.1:33418/
      - https://vscode.dev/redirect
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, offline_access]

- name: A confidential client (claude.ai custom connector with a client id and secret)
  mcpgate.gravitee.am_application:
    domain: mcp
    name: Claude
    client_id: mcp-client-claude
    type: web
    redirect_uris: [https://claude.ai/api/mcp/auth_callback]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, offline_access]
  register: claude
  no_log: true  # the result holds the generated client secret, returned only at creation

# The template of clients with a Client ID Metadata Document: see mcpgate.gravitee.am_domain_settings.
- name: Remove a client no longer used
  mcpgate.gravitee.am_application:
    domain: mcp
    client_id: mcp-client-retired
    state: absent
"""

RETURN = r"""
application:
  description:
    - The application as AM now has it (predicted in check mode), without any secret. Empty when O(state=absent).
    - Lists are sorted.
  returned: always
  type: dict
  contains:
    id:
      description: Id of the application. Not known in check mode before creation.
      type: str
      returned: when known
    clientId:
      description: OAuth2 client id.
      type: str
      returned: when known
    name:
      description: Name.
      type: str
    type:
      description: Type, lower case (C(web), C(native), C(browser), C(service)).
      type: str
    description:
      description: Description, when it has one.
      type: str
      returned: when it has one
    redirectUris:
      description: Redirect URIs.
      type: list
      elements: str
    grantTypes:
      description: Grant types.
      type: list
      elements: str
    tokenEndpointAuthMethod:
      description: Token endpoint authentication method.
      type: str
    forcePKCE:
      description: Whether PKCE with S256 is required.
      type: bool
    scopes:
      description: The scopes the client may ask for.
      type: list
      elements: str
    defaultScopes:
      description: The scopes a token gets when none is asked for.
      type: list
      elements: str
    identityProviders:
      description: Ids of the identity providers users log in with.
      type: list
      elements: str
    template:
      description: Whether the application is a template.
      type: bool
  sample:
    id: 0b8e2b51-6c0f-4f0e-8e2b-516c0f1f0e8e
    clientId: mcp-client-vscode
    name: VS Code
    type: native
    redirectUris: [http://127.0.0.1:33418/, https://vscode.dev/redirect]
    grantTypes: [authorization_code, refresh_token]
    tokenEndpointAuthMethod: none
    forcePKCE: true
    scopes: [email, offline_access, openid, profile]
    defaultScopes: []
    identityProviders: [default-idp-2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e]
    template: false
changes:
  description: The options whose value differed from the application's, when the task updated it (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [redirect_uris, scopes]
domain:
  description: The AM domain of the application.
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
id:
  description: Id of the application.
  returned: when O(state=present), except in check mode before creation
  type: str
  sample: 0b8e2b51-6c0f-4f0e-8e2b-516c0f1f0e8e
client_id:
  description: OAuth2 client id of the application (generated by AM when O(client_id) was not set).
  returned: when O(state=present) and known
  type: str
  sample: mcp-client-vscode
client_secret:
  description:
    - The client secret AM generated for a confidential client, returned only by the task that created the application
      (when O(client_secret) was not set). AM never returns it again.
    - Register the task result with C(no_log=true).
  returned: when AM generated it for a confidential client in this task
  type: str
"""

import copy

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import (
    AmApi,
    DOMAIN_SWITCH,
    application_client_id,
    explain,
    find_application,
    find_domain,
    find_mcp_server_by_client_id,
    redirect_uri_problem,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step, get_path, set_path, words
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

OAUTH = ("settings", "oauth")
TYPES = ("web", "native", "browser", "service")
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "tls_client_auth",
                "self_signed_tls_client_auth")
# GrantTypeUtils (AM 4.10-4.12): the grant types AM accepts (token exchange from 4.11), and those refresh_token needs.
GRANT_TYPES = ("authorization_code", "implicit", "refresh_token", "client_credentials", "password",
               "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:uma-ticket",
               "urn:openid:params:grant-type:ciba", "urn:ietf:params:oauth:grant-type:token-exchange")
REFRESHABLE = ("authorization_code", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer")


def check_name(name):
    if not (name or "").strip():
        raise ModuleError("name: the name of an application must not be empty", "name")
    return name


def scope_settings(app):
    return get_path(app, OAUTH + ("scopeSettings",)) or []


def put_scopes(app, scopes):
    """The scope settings holding exactly ``scopes``; the flags of the scopes kept stay as they were."""
    kept = dict((item.get("scope"), item) for item in scope_settings(app))
    set_path(app, OAUTH + ("scopeSettings",), [dict(kept.get(scope) or {"scope": scope, "defaultScope": False}) for scope in scopes])


def put_default_scopes(app, defaults):
    items = [dict(item) for item in scope_settings(app)]
    for item in items:
        item["defaultScope"] = item.get("scope") in defaults
    set_path(app, OAUTH + ("scopeSettings",), items)


def put_force_pkce(app, value):
    set_path(app, OAUTH + ("forcePKCE",), value)
    set_path(app, OAUTH + ("forceS256CodeChallengeMethod",), value)


def put_identity_providers(app, ids):
    app["identityProviders"] = [{"identity": identity, "priority": index} for index, identity in enumerate(ids)]


# Each option: where the application holds it (read, PatchApplication), where a NewApplication body holds it
# (``create``; the rest is sent by a PATCH right after), and its key in the returned view.
DESCRIPTION = Description(
    Field("name", key=["name"], normalize=check_name, create=["name"], view="name"),
    Field("description", key=["description"], create=["description"], view="description"),
    Field("client_id", key=OAUTH + ("clientId",), get=application_client_id, create_only=True,
          create=["clientId"], view="clientId"),
    Field("client_secret", key=OAUTH + ("clientSecret",), create_only=True, secret=True, create=["clientSecret"]),
    # Set at creation (a change is refused in check()); AM writes it back lower case.
    Field("type", key=["type"], create_only=True, normalize=lambda value: value.lower() or None, choices=list(TYPES),
          create=["type"], create_form=lambda value: value.upper(), view="type"),
    Field("redirect_uris", key=OAUTH + ("redirectUris",), type="list", elements="str", unordered=True, missing=[],
          normalize=lambda values: [value.strip() for value in values], create=["redirectUris"], view="redirectUris"),
    Field("grant_types", key=OAUTH + ("grantTypes",), type="list", elements="str", unordered=True, missing=[], normalize=words,
          view="grantTypes"),
    Field("token_endpoint_auth_method", key=OAUTH + ("tokenEndpointAuthMethod",), choices=list(AUTH_METHODS),
          view="tokenEndpointAuthMethod"),
    Field("force_pkce", get=lambda app: bool(get_path(app, OAUTH + ("forcePKCE",)) and get_path(app, OAUTH + ("forceS256CodeChallengeMethod",))),
          put=put_force_pkce, writes=[OAUTH + ("forcePKCE",), OAUTH + ("forceS256CodeChallengeMethod",)], type="bool",
          view="forcePKCE"),
    Field("scopes", get=lambda app: [item.get("scope") for item in scope_settings(app)], put=put_scopes,
          writes=[OAUTH + ("scopeSettings",)], type="list", elements="str", normalize=words, view="scopes"),
    Field("default_scopes", get=lambda app: [item.get("scope") for item in scope_settings(app) if item.get("defaultScope")],
          put=put_default_scopes, writes=[OAUTH + ("scopeSettings",)], type="list", elements="str", normalize=words,
          view="defaultScopes"),
    Field("identity_providers", get=lambda app: [item.get("identity") for item in app.get("identityProviders") or []],
          put=put_identity_providers, writes=[("identityProviders",)], type="list", elements="str", normalize=words,
          view="identityProviders"),
    Field("template", key=["template"], type="bool", missing=False, view="template"),
)


class Application(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(Application, self).__init__(module)
        self.am = AmApi.of(module)
        self.domain = None
        self.generated_secret = None
        self.providers = None  # the domain's identity providers, read once when needed

    # -- finding --------------------------------------------------------------------------------------
    def find(self):
        self.domain = find_domain(self.am, self.params["domain"])
        client_id = self.wanted.get("client_id")
        if self.params["id"]:
            app = self.am.application(self.domain["id"], self.params["id"])
            if app is None and self.am.last_lookup_denied and self.state == "absent":
                # AM answers 403 to an id it does not know: absent, unless the list shows it (then the 403 was the
                # user's permission, and deleting it would fail the same way).
                wanted_id = self.params["id"]
                hits = self.am.applications(self.domain["id"], None, stop=lambda hit: hit.get("id") == wanted_id)
                if any(hit.get("id") == wanted_id for hit in hits):
                    raise ModuleError("id: AM refuses to read the application with id %r in domain %r (HTTP 403): the "
                                      "user lacks the permission on it" % (self.params["id"], self.domain.get("name")))
            if app is None and self.state == "present":
                raise ModuleError("id: no application with id %r in domain %r, or no permission to read it%s; remove id "
                                  "to create one"
                                  % (self.params["id"], self.domain.get("name"),
                                     " (AM answers 403 to an id it does not know)" if self.am.last_lookup_denied else ""), "id")
            if app is not None and client_id and application_client_id(app) != client_id:
                raise ModuleError(
                    "client_id: the application %r has client id %r, not %r, and AM can't change the client id of an "
                    "application: set client_id to %r, or delete it (state: absent) and create it again"
                    % (app.get("name"), application_client_id(app), client_id, application_client_id(app)), "client_id")
            return app
        if client_id or self.wanted.get("name"):
            return find_application(self.am, self.domain["id"], client_id=client_id, name=self.wanted.get("name"))
        raise ModuleError("give client_id, name or id to find the application", "client_id")

    # -- what it takes ----------------------------------------------------------------------------------
    def prepare(self, current):
        """The identity providers: given by name or id, or the domain's default one for a new application."""
        if current is None and "identity_providers" not in self.wanted:
            self.wanted["identity_providers"] = [self.default_identity_provider()]
        if self.wanted.get("identity_providers"):
            self.resolve_identity_providers(current)

    def check(self, current):
        """Everything AM would refuse, found before any write."""
        if self.state == "absent":
            return
        if current is None:
            for option in ("name", "type"):
                if option not in self.wanted:
                    raise ModuleError("%s is required to create the application %r" % (
                        option, self.wanted.get("client_id") or self.wanted.get("name")), option)
            self.check_client_id_free()
        elif "type" in self.wanted and (current.get("type") or "").lower() != self.wanted["type"]:
            raise ModuleError(
                "type: the application %r is a %s application, not %s; AM changes the type of an application only with "
                "its own call, which resets its grant types: delete it (state: absent) and create it again"
                % (current.get("name"), (current.get("type") or "").lower(), self.wanted["type"]), "type")
        after = self.description.apply(current or self.skeleton(), self.wanted)
        # A new application is checked whole; an existing one for what changes.
        changed = self.description.differences(self.wanted, current) if current is not None else list(DESCRIPTION.by_option)
        self.check_oauth(after, changed)

    def skeleton(self):
        """The application AM makes at creation, as far as the checks need it (the type's template)."""
        public = self.wanted["type"] in ("native", "browser")
        oauth = {"grantTypes": ["client_credentials"] if self.wanted["type"] == "service" else
                 ["authorization_code"] + ([] if public else ["password"]),
                 "tokenEndpointAuthMethod": "none" if public else "client_secret_basic",
                 "forcePKCE": public, "forceS256CodeChallengeMethod": public, "redirectUris": [], "scopeSettings": []}
        if self.wanted.get("client_id"):
            oauth["clientId"] = self.wanted["client_id"]
        return {"type": self.wanted["type"], "name": self.wanted.get("name"), "template": False,
                "settings": {"oauth": oauth}, "identityProviders": []}

    def check_oauth(self, after, changed):
        oauth = get_path(after, OAUTH) or {}
        app_type = (after.get("type") or "").lower()
        grant_types = oauth.get("grantTypes") or []
        if "grant_types" in changed:
            unknown = [g for g in grant_types if g.split("~")[0] not in GRANT_TYPES]
            if not grant_types or unknown:
                raise ModuleError("grant_types: %s; AM accepts %s" % (
                    "give at least one" if not grant_types else "%s %s not a grant type AM knows" % (
                        ", ".join(unknown), "is" if len(unknown) == 1 else "are"), ", ".join(GRANT_TYPES)), "grant_types")
            if "refresh_token" in grant_types and not set(REFRESHABLE) & set(g.split("~")[0] for g in grant_types):
                raise ModuleError("grant_types: refresh_token needs authorization_code or password with it", "grant_types")
        if {"grant_types", "token_endpoint_auth_method"} & set(changed) and oauth.get("tokenEndpointAuthMethod") == "none" \
                and (app_type == "service" or "client_credentials" in grant_types):
            raise ModuleError("token_endpoint_auth_method: none (a public client) can't use the client_credentials grant "
                              "nor be a service application; use client_secret_basic", "token_endpoint_auth_method")
        if "redirect_uris" in changed or "grant_types" in changed:
            registration = get_path(self.domain, ("oidc", "clientRegistrationSettings")) or {}
            for uri in oauth.get("redirectUris") or []:
                problem = redirect_uri_problem(uri, registration)
                if problem and self.module.check_mode and DOMAIN_SWITCH in problem:
                    # As a missing object in check mode: an earlier task (the domain settings) may allow it.
                    self.module.warn("in check mode, the domain %r refuses the redirect URI %r for now (%s): the prediction "
                                     "assumes an earlier task allows it" % (self.domain.get("name"), uri, problem))
                elif problem:
                    raise ModuleError("redirect_uris: AM refuses %r in domain %r: %s" % (uri, self.domain.get("name"), problem), "redirect_uris")
            if not oauth.get("redirectUris") and app_type != "service":
                raise ModuleError("redirect_uris: AM requires at least one redirect URI for a %s application" % app_type, "redirect_uris")
        scopes = [item.get("scope") for item in oauth.get("scopeSettings") or []]
        defaults = set(self.wanted.get("default_scopes") or [])
        if "default_scopes" in changed and not defaults <= set(scopes):
            raise ModuleError("default_scopes: %s must also be in scopes" % ", ".join(sorted(defaults - set(scopes))), "default_scopes")
        if {"scopes", "default_scopes"} & set(changed) and scopes:
            known = set(scope.get("key") for scope in self.am.scopes(self.domain["id"]))
            unknown = [scope for scope in scopes if scope not in known]
            if unknown:
                raise ModuleError("scopes: %s %s not a scope of domain %r; create %s in the domain first (AM: Settings > "
                                  "Scopes)" % (", ".join(unknown), "is" if len(unknown) == 1 else "are",
                                               self.domain.get("name"), "it" if len(unknown) == 1 else "them"), "scopes")

    def check_client_id_free(self):
        """AM refuses a client id an MCP server holds (applications were searched already)."""
        client_id = self.wanted.get("client_id")
        if not client_id:
            return
        server, _every = find_mcp_server_by_client_id(self.am, self.domain["id"], client_id)
        if server is not None:
            raise ModuleError("client_id: %r is the client id of the MCP server %r in domain %r; client ids are unique among "
                              "applications and MCP servers: choose another client_id"
                              % (client_id, server.get("name"), self.domain.get("name")), "client_id")

    def identity_providers(self):
        if self.providers is None:
            self.providers = self.am.identity_providers(self.domain["id"])
        return self.providers

    def default_identity_provider(self):
        providers = self.identity_providers()
        default = "default-idp-" + self.domain["id"].lower()
        chosen = [p for p in providers if p.get("id") == default] or (providers if len(providers) == 1 else [])
        if not chosen:
            raise ModuleError(
                "identity_providers: domain %r has %s identity providers and no default one; say which users log in "
                "with (%s)" % (self.domain.get("name"), len(providers), ", ".join(repr(p.get("name")) for p in providers) or "none"), "identity_providers")
        return chosen[0]["id"]

    def resolve_identity_providers(self, current):
        """Names given for identity providers become their ids (read only when a value is not an id the
        application holds already)."""
        given = self.wanted["identity_providers"]
        held = set(DESCRIPTION.by_option["identity_providers"].get(current or {}) or [])
        known = held | set(p.get("id") for p in self.providers or [])
        if all(value in known for value in given):
            return
        providers = self.identity_providers()
        ids = []
        for value in given:
            match = [p for p in providers if value in (p.get("id"), p.get("name"))]
            if not match:
                raise ModuleError("identity_providers: domain %r has no identity provider %r (it has %s)" % (
                    self.domain.get("name"), value, ", ".join(repr(p.get("name")) for p in providers) or "none"), "identity_providers")
            ids.append(match[0]["id"])
        self.wanted["identity_providers"] = words(ids)

    # -- steps --------------------------------------------------------------------------------------------
    def create(self, wanted):
        body = self.description.create_body(wanted)
        predicted = self.description.apply(self.skeleton(), wanted)

        def run(_nothing):
            try:
                created = self.am.create_application(self.domain["id"], body) or {}
            except GraviteeError as exc:
                raise explain(exc, "scopes")
            raw_secret = get_path(created, OAUTH + ("clientSecret",))
            created = without_secrets(created)
            rest = self.description.differences(wanted, created)
            if rest:
                try:
                    created = self.am.patch_application(self.domain["id"], created["id"],
                                                        self.description.patch(wanted, rest, created)) or created
                except GraviteeError as exc:
                    self.am.delete_application(self.domain["id"], created["id"])
                    exc.hint = ("AM created the application but refused its settings (%s), so it was deleted again"
                                % ", ".join(rest))
                    raise explain(exc, "scopes")
            if "client_secret" not in wanted and get_path(created, OAUTH + ("tokenEndpointAuthMethod",)) != "none":
                self.generated_secret = raw_secret
            return created

        return Step(lambda _nothing: predicted, run)

    def update(self, current, options):
        body = self.description.patch(self.wanted, options, current)

        def run(app):
            try:
                return self.am.patch_application(self.domain["id"], app["id"], body)
            except GraviteeError as exc:
                raise explain(exc, "scopes")

        return Step(lambda app: self.description.apply(app, self.wanted, options), run)

    def delete(self, current):
        def run(app):
            try:
                self.am.delete_application(self.domain["id"], app["id"])
            except GraviteeError as exc:
                raise explain(exc, "scopes")

        return Step(lambda _app: None, run)


def without_secrets(app):
    """The 201 answer carries the raw secret twice (settings.oauth.clientSecret, secrets[].secret): kept out."""
    app = copy.deepcopy(app)
    app.pop("secrets", None)
    if isinstance(get_path(app, OAUTH), dict):
        get_path(app, OAUTH).pop("clientSecret", None)
    return app


def run(module):
    app = Application(module)
    _before, after = app.ensure()
    output = dict(application=app.shown(after) or {}, changes=app.changed_options,
                  domain=dict((key, app.domain.get(key)) for key in ("id", "name", "hrid")))
    if after is not None:
        if after.get("id"):
            output["id"] = after["id"]
        if application_client_id(after):
            output["client_id"] = application_client_id(after)
    if app.generated_secret:
        output["client_secret"] = app.generated_secret
    module.exit(**output)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        domain=dict(type="str", required=True),
        id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = GraviteeModule("am", spec, required_if=[("state", "absent", ("client_id", "name", "id"), True)])
    module.run(run)


if __name__ == "__main__":
    main()
