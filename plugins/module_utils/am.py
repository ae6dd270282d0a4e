# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Gravitee AM Management API calls the AM modules make, and the rules shared around them.

``AmApi`` has one method per REST call (URLs built from the organization and environment ids);
the modules never build a URL or send a request themselves.  Around it: the domain lookup by name,
hrid or id with the fewest requests, AM's hrid rule, and the MCP server ("protected resource")
normalisation that AM applies on write, so that what the user asks for compares with what AM
stores.  Facts and sources: ``shared/gravitee/am-management-api.md``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata

from urllib.parse import quote, urlsplit

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError, ManagementApi
from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError

# The only protected-resource type.  Required on list, GET and DELETE (released AM answers 500
# without it) and upper case only in a create body; AM writes it back lower case.
MCP_SERVER = "MCP_SERVER"
# The only feature subtype.  Exact case on create; 4.10 also refuses "mcp_tool" on PATCH.
MCP_TOOL = "MCP_TOOL"

PAGE_SIZE = 100

# AM's messages for the two uniqueness rules a create or an update can break, and the option at fault.
_IDENTIFIER_TAKEN = "resource identifier already exists"
_CLIENT_TAKEN = re.compile(r"a client \[.*\] already exists for domain", re.IGNORECASE)
_SCOPES_INVALID = "one or more scopes are not valid"
_CIMD_TEMPLATE = "referenced as a cimd template"

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# Characters java.net.URI refuses unescaped (AM validates identifiers with URI.create).
_URI_FORBIDDEN_RE = re.compile(r"[\s<>\"{}|\\^`]")
# The characters a client id or secret can have and still survive HTTP Basic: the AM gateway URL-decodes
# both ('+' becomes a space) while the APIM AM resource sends them raw.
_BASIC_SAFE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
TOOL_KEY_RE = re.compile(r"^[a-zA-Z0-9_-]+$")


def hrid_of(name):
    """The hrid AM derives from a domain name (gravitee-common ``IdGenerator.generate``).

    NFD-normalise, drop combining diacritical marks, lower-case, drop everything but ``[a-z0-9]``,
    whitespace and ``-``, trim, then turn each run of other characters into one ``-``.
    """
    text = unicodedata.normalize("NFD", name)
    text = "".join(c for c in text if not 0x0300 <= ord(c) <= 0x036F).lower()  # \p{InCombiningDiacriticalMarks}
    text = re.sub(r"[^a-z0-9 \t\n\x0b\f\r-]", "", text)  # Java's \s is ASCII whitespace
    text = text.strip("".join(chr(c) for c in range(0x21)))  # String.trim(): every char <= ' '
    return re.sub(r"[^a-z0-9]+", "-", text)


def _segment(value):
    return quote(str(value), safe="")


def explain(exc, scopes_option="tools"):
    """Name the option at fault in AM's answer to a write of an MCP server or an application, and what to do."""
    message = (exc.message or "").lower()
    if exc.status != 400:
        return exc
    if _IDENTIFIER_TAKEN in message:
        exc.option, exc.hint = "resource_identifiers", (
            "resource_identifiers: another MCP server (or protected resource) of the domain already has one of "
            "these identifiers, and an identifier can belong to one MCP server only: remove it from that server "
            "first, or manage that server (its client_id)"
        )
    elif _CLIENT_TAKEN.search(exc.message or ""):
        exc.option, exc.hint = "client_id", (exc.hint + ". " if exc.hint else "") + (
            "client_id: another application or MCP server of the domain already uses it; choose another client_id")
    elif _SCOPES_INVALID in message:
        exc.option = scopes_option
        exc.hint = "%s: AM accepts only scopes that exist in the domain; create the missing scopes first" % scopes_option
    elif _CIMD_TEMPLATE in message:
        exc.option, exc.hint = "template", (
            "the application is the domain's CIMD template: disable Client ID Metadata Documents first "
            "(am_domain_settings cimd.enabled: false), or make another application the template")
    return exc


class AmApi(ManagementApi):
    """AM Management API calls of one organization and environment, one method per REST call, and one pager."""

    # Whether the last GET of one object by id (domain, mcp_server, application) got AM's 403: AM checks the
    # caller's permission on an id before it looks the id up, and an id it does not know fails that check, so it
    # answers 403 "Permission denied", not 404 (seen on AM 4.10.20; 404 comes only for an id deleted less than 60 s
    # before).  Those GETs return None then: for an id, 403 means "no such object, or no permission to read it".
    last_lookup_denied = False

    def _by_id(self, path, params=None):
        self.last_lookup_denied = False
        try:
            return self.client.get(path, params=params)
        except GraviteeError as exc:
            if exc.status == 404:
                return None
            if exc.status == 403:
                self.last_lookup_denied = True
                return None
            raise

    # -- URLs ---------------------------------------------------------------------------------------
    def domains_path(self, *parts):
        return "/management/organizations/%s/environments/%s/domains%s" % (
            _segment(self.organization), _segment(self.environment), "".join("/" + _segment(p) for p in parts)
        )

    def _pages(self, path, params=None, stop=None):
        """Every item of a paged AM answer (``{data, currentPage, totalCount}``, pages from 0).

        ``stop(item)`` ends the paging early when it returns True for an item of a page.
        """
        page, seen = 0, 0
        while True:
            answer = self.client.get(path, params=dict(params or {}, page=page, size=PAGE_SIZE)) or {}
            data = answer.get("data") or []
            yield from data
            seen += len(data)
            total = answer.get("totalCount")
            if (stop is not None and any(stop(item) for item in data)) or not data or not isinstance(total, int) or seen >= total:
                return
            page += 1

    # -- domains ------------------------------------------------------------------------------------
    def domain_by_hrid(self, hrid):
        """GET .../domains/_hrid/{hrid}: the full domain, or None."""
        return self.client.get_or_none(self.domains_path("_hrid", hrid))

    def domain(self, domain_id):
        """GET .../domains/{id}: the full domain, or None (404, or the 403 AM gives an unknown id)."""
        return self._by_id(self.domains_path(domain_id))

    def search_domains(self, text):
        """GET .../domains?q=: exact match on name or hrid (basic fields only)."""
        answer = self.client.get(self.domains_path(), params={"q": text, "page": 0, "size": 50})
        return (answer or {}).get("data") or []

    def patch_domain(self, domain_id, body):
        """PATCH .../domains/{id} with a PatchDomain body (partial at every level; never send a null)."""
        return self.client.patch(self.domains_path(domain_id), body)

    # -- scopes -------------------------------------------------------------------------------------
    def scopes(self, domain_id):
        """GET .../domains/{id}/scopes, every page."""
        return list(self._pages(self.domains_path(domain_id, "scopes")))

    def create_scope(self, domain_id, body):
        return self.client.post(self.domains_path(domain_id, "scopes"), body, expected=(201, 200))

    # -- MCP servers (protected resources) ------------------------------------------------------------
    def mcp_servers(self, domain_id, q=None, stop=None):
        """GET .../protected-resources?type=MCP_SERVER[&q=], every page (``type`` is needed with ``q`` too)."""
        params = {"type": MCP_SERVER}
        if q is not None:
            params["q"] = q
        try:
            return list(self._pages(self.domains_path(domain_id, "protected-resources"), params, stop))
        except GraviteeError as exc:
            if exc.status == 404:
                exc.hint = "AM has no MCP servers (protected resources) here: AM 4.10 or later is required"
            raise

    def mcp_server(self, domain_id, server_id):
        """GET .../protected-resources/{id}?type=MCP_SERVER, or None (404, or the 403 AM gives an unknown id)."""
        return self._by_id(self.domains_path(domain_id, "protected-resources", server_id), params={"type": MCP_SERVER})

    def create_mcp_server(self, domain_id, body):
        """POST .../protected-resources: 201 with id, name, clientId and the raw clientSecret (only now)."""
        return self.client.post(self.domains_path(domain_id, "protected-resources"), body, expected=(200, 201))

    def patch_mcp_server(self, domain_id, server_id, body):
        """PATCH .../protected-resources/{id}: the fields present replace the stored ones."""
        return self.client.patch(self.domains_path(domain_id, "protected-resources", server_id), body)

    def delete_mcp_server(self, domain_id, server_id):
        """DELETE .../protected-resources/{id}?type=MCP_SERVER (204)."""
        return self.client.delete(self.domains_path(domain_id, "protected-resources", server_id), params={"type": MCP_SERVER})

    # -- MCP server secrets (AM 4.11 and later) -------------------------------------------------------
    def mcp_server_secrets(self, domain_id, server_id):
        """GET .../protected-resources/{id}/secrets: the secrets, without their values."""
        return self.client.get(self.domains_path(domain_id, "protected-resources", server_id, "secrets")) or []

    def create_mcp_server_secret(self, domain_id, server_id, name):
        """POST .../protected-resources/{id}/secrets: 201 with the generated raw ``secret`` (only now)."""
        return self.client.post(
            self.domains_path(domain_id, "protected-resources", server_id, "secrets"), {"name": name}, expected=(200, 201)
        )

    def delete_mcp_server_secret(self, domain_id, server_id, secret_id):
        return self.client.delete(self.domains_path(domain_id, "protected-resources", server_id, "secrets", secret_id))

    # -- applications (OAuth clients) ------------------------------------------------------------------
    def applications(self, domain_id, q, stop=None):
        """GET .../applications?q=&expand=clientId, every page: summaries (id, name, type, template...), with the
        client id only from AM 4.12 (``expand``; earlier versions ignore it). ``q`` matches a client id or a name."""
        return list(self._pages(self.domains_path(domain_id, "applications"), {"q": q, "expand": "clientId"}, stop))

    def application(self, domain_id, app_id):
        """GET .../applications/{id}: the whole application (no secret), or None (404, or the 403 AM gives an unknown
        id)."""
        return self._by_id(self.domains_path(domain_id, "applications", app_id))

    def create_application(self, domain_id, body):
        """POST .../applications (NewApplication): 201 with the whole application and, only now, its raw secret."""
        return self.client.post(self.domains_path(domain_id, "applications"), body, expected=(200, 201))

    def patch_application(self, domain_id, app_id, body):
        """PATCH .../applications/{id} (PatchApplication): the keys present replace the stored ones."""
        return self.client.patch(self.domains_path(domain_id, "applications", app_id), body)

    def delete_application(self, domain_id, app_id):
        """DELETE .../applications/{id} (204)."""
        return self.client.delete(self.domains_path(domain_id, "applications", app_id))

    def identity_providers(self, domain_id):
        """GET .../identities: the domain's identity providers (id, name, type...)."""
        return self.client.get(self.domains_path(domain_id, "identities")) or []

    # -- the server --------------------------------------------------------------------------------------
    def version(self):
        """The AM version (``4.12.4``), from the OpenAPI document the Management API serves without
        authentication (``info.version`` is the runtime version), or None when it can't be read."""
        try:
            document = self.client.get("/management/openapi.json") or {}
        except GraviteeError:
            return None
        version = (document.get("info") or {}).get("version") if isinstance(document, dict) else None
        return version if isinstance(version, str) and re.match(r"^\d+\.\d+", version) else None


# -- lookups --------------------------------------------------------------------------------------------
def find_domain(am, value, option="domain"):
    """The domain named ``value``, or with that hrid or id, as a full domain (with its settings).

    Fewest requests: one GET by hrid when ``value`` is, or names, a hrid (AM derives the hrid from the name, and
    hrids are unique; an unknown hrid is a 404), or one GET by id first when it looks like an id; then a search by
    name (a domain whose hrid does not follow its name, e.g. made by the Automation API, or a name written with
    other capitals), then its full read; a GET by id last.  AM answers an unknown id with 403 "Permission denied"
    (its permission check resolves the id before any lookup): that is "not found" here, and the message says so.
    """
    value = (value or "").strip()
    if not value:
        raise ModuleError("%s must be the name, hrid or id of an AM domain" % option, option)
    hrid = hrid_of(value)
    near, denied = None, False
    looks_like_id = bool(_UUID_RE.match(value))
    may_be_id = "/" not in value and not re.search(r"\s", value)
    if looks_like_id:
        domain = am.domain(value)
        if domain:
            return domain
        denied = am.last_lookup_denied
    if hrid:
        domain = am.domain_by_hrid(hrid)
        if domain and value in (domain.get("hrid"), domain.get("name")):
            return domain
        near = domain
    for domain in am.search_domains(value):
        if value in (domain.get("name"), domain.get("hrid")):
            return am.domain(domain["id"]) or domain
    if may_be_id and not looks_like_id:
        domain = am.domain(value)
        if domain:
            return domain
        denied = am.last_lookup_denied
    hint = ""
    if near:
        hint = " (did you mean the domain named %r, hrid %r?)" % (near.get("name"), near.get("hrid"))
    if denied:
        hint += (" (AM answered 403 to %r as an id: AM answers so for an id it does not know, or when the user lacks "
                 "the permission to read that domain)" % value)
    raise ModuleError(
        "%s: no AM domain named %r, or with that hrid or id, in organization %s, environment %s, or no permission to "
        "read it%s; check the name (and organization/environment) or create the domain first"
        % (option, value, am.organization, am.environment, hint), option
    )


def find_mcp_server_by_client_id(am, domain_id, client_id):
    """``(server, every_server)``: the MCP server with this client id (or None), looked up with ``q``; and every MCP
    server of the domain when the answer holds them all (AM 4.10 ignores ``q``), else None."""
    servers = am.mcp_servers(domain_id, q=client_id, stop=lambda server: server.get("clientId") == client_id)
    server = next((s for s in servers if s.get("clientId") == client_id), None)
    # q matches a client id or a name ignoring case (Mongo collation, JDBC UPPER): a list that q narrowed holds
    # only such matches; any other server means AM ignored q (4.10) and the list holds every MCP server.
    wanted = client_id.upper()
    narrowed = all(wanted in ((s.get("clientId") or "").upper(), (s.get("name") or "").upper()) for s in servers)
    return server, (None if narrowed else servers)


# -- MCP server input rules (checked before any request) --------------------------------------------
def normalise_identifier(value, option="resource_identifiers"):
    """A resource identifier as AM validates and stores it: an http(s) URL, trimmed, lower-cased."""
    text = (value or "").strip()
    if not text:
        raise ModuleError("%s: an identifier must not be empty" % option, option)
    problem = None
    if _URI_FORBIDDEN_RE.search(text):
        problem = "it contains a space or a character a URI cannot hold unescaped"
    else:
        try:
            parts = urlsplit(text)
            host = parts.hostname
            parts.port  # pylint: disable=pointless-statement  # raises ValueError on a port that is not a number
        except ValueError as exc:
            parts, host, problem = None, None, str(exc)
        if problem is None:
            if parts.scheme.lower() not in ("http", "https"):
                problem = "it is not an http(s) URL"
            elif not host:
                problem = "it has no host"
            elif "#" in text:
                problem = "AM refuses a #fragment in a resource identifier"
    if problem:
        raise ModuleError(
            "%s: %r is not a valid resource identifier (%s); give the URL MCP clients use for the server, "
            "e.g. https://apim-gateway.example.com/mcp-proxy" % (option, value, problem), option
        )
    return text.lower()


def basic_auth_safe(value):
    return bool(_BASIC_SAFE_RE.match(value or ""))


# -- applications -------------------------------------------------------------------------------------
def version_tuple(version):
    """``"4.12.4"`` -> ``(4, 12)``."""
    return tuple(int(part) for part in re.findall(r"\d+", version or "")[:2])


def find_application(am, domain_id, client_id=None, name=None):
    """The application with this client id, else (no client id given) the one with this name, fully read; or None.

    One search with ``q`` (a client id or a name, exactly; ignoring case from AM 4.11), then a GET of the
    application, since the list gives neither settings nor, before AM 4.12, client ids. Names are not unique: two
    applications with the name asked for are an error that names their client ids.
    """
    if client_id:
        hits = am.applications(domain_id, client_id)
        for hit in hits:
            if hit.get("clientId") not in (None, client_id):
                continue  # 4.12 tells the client id in the list: no read needed to rule it out
            app = am.application(domain_id, hit["id"])
            if app is not None and application_client_id(app) == client_id:
                return app
        return None
    named = [hit for hit in am.applications(domain_id, name) if hit.get("name") == name]
    if len(named) > 1:
        apps = [am.application(domain_id, hit["id"]) or hit for hit in named]
        raise ModuleError(
            "name: %d applications of the domain are named %r (client ids %s); set client_id to say which one"
            % (len(apps), name, ", ".join(repr(application_client_id(app)) for app in apps)), "name"
        )
    return am.application(domain_id, named[0]["id"]) if named else None


def application_client_id(app):
    return ((app.get("settings") or {}).get("oauth") or {}).get("clientId") or app.get("clientId")


# UriBuilder.isLocalhost (gravitee-am-common): localhost, 127.x, ::1 (matched on the host as java.net.URL gives it).
LOCALHOST_RE = re.compile(r"^localhost$|^127(?:\.[0-9]+){0,2}\.[0-9]+$|^(?:0*:)*?:?0*1$")
SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# The start of the problems that a domain setting could lift (client registration settings).
DOMAIN_SWITCH = "the domain does not allow"
# DomainServiceImpl#validateCIMDSettings (AM 4.12.4): a domain CIMD clients may come from.
CIMD_HOST_RE = re.compile(r"^(\*\.)?([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z0-9-]{1,63}$")


def cimd_host_ok(host):
    return len(host) <= 253 and bool(CIMD_HOST_RE.match(host))


def redirect_uri_problem(uri, registration):
    """Why AM would refuse ``uri`` with the domain's client registration settings, or None
    (ApplicationServiceImpl#validateRedirectUris, in AM's order)."""
    scheme = SCHEME_RE.match(uri)
    if not uri or not scheme or re.search(r"\s", uri):
        return "it is malformed (no scheme, or a space)"
    scheme = scheme.group(1).lower()
    rest = uri[len(scheme) + 1:]
    host = None
    if scheme in ("http", "https"):
        authority = re.match(r"^//([^/?#]*)", rest)
        host = authority.group(1).rsplit("@", 1)[-1] if authority else ""
        host = host if host.startswith("[") else host.split(":")[0]  # java.net.URL keeps the brackets of IPv6
        if not host:
            return "it is malformed (no host)"
        if not registration.get("allowLocalhostRedirectUri") and LOCALHOST_RE.match(host.lower()):
            return "the domain does not allow localhost redirect URIs (allow_localhost_redirect_uri)"
    if scheme == "http" and not registration.get("allowHttpSchemeRedirectUri"):
        return "the domain does not allow plain http redirect URIs (allow_http_scheme_redirect_uri)"
    if "*" in re.split(r"[?#]", uri, maxsplit=1)[0] and not registration.get("allowWildCardRedirectUri"):
        return "the domain does not allow wildcards in redirect URIs"
    if "#" in uri:
        return "AM refuses a redirect URI with a #fragment"
    return None
