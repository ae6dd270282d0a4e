"""Client ID Metadata Documents (CIMD, AM 4.12.0 and later) in the simulator.

Management API side: the domain's ``oidc.cimdSettings`` (PatchCIMDSettings semantics, model defaults,
DomainServiceImpl#validateCIMDSettings).  Gateway side: a client id that is an http(s) URL is resolved,
when the domain enables CIMD with a template application, by fetching its metadata document (trust
rules, timeout, size limit, retries, cache) and synthesising a client from the template
(CimdMetadataServiceImpl).  Each rule names its upstream source in ``FIDELITY.md`` ("CIMD").
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.simulator.am_applications import AppError, client_view, is_localhost, profile_at_least

# MODEL/oidc/CIMDSettings.java defaults.
DEFAULT_FETCH_TIMEOUT_MS = 5000
DEFAULT_MAX_RESPONSE_SIZE_KB = 10
DEFAULT_CACHE_TTL_SECONDS = 86400
DEFAULT_CACHE_MAX_ENTRIES = 1000
CIMD_DEFAULTS = {
    "enabled": False,
    "allowUnsecuredHttpUri": False,
    "allowPrivateIpAddress": False,
    "fetchTimeoutMs": DEFAULT_FETCH_TIMEOUT_MS,
    "maxResponseSizeKb": DEFAULT_MAX_RESPONSE_SIZE_KB,
    "cacheTtlSeconds": DEFAULT_CACHE_TTL_SECONDS,
    "cacheMaxEntries": DEFAULT_CACHE_MAX_ENTRIES,
    "revokeOnDocumentChange": False,
}
# PatchCIMDSettings fields and how an explicit null patches them.
PATCH_FIELDS = {
    "enabled": ("bool", False), "allowUnsecuredHttpUri": ("bool", False), "allowPrivateIpAddress": ("bool", False),
    "fetchTimeoutMs": ("int", DEFAULT_FETCH_TIMEOUT_MS), "maxResponseSizeKb": ("int", DEFAULT_MAX_RESPONSE_SIZE_KB),
    "allowedDomains": ("str_list", None), "cacheTtlSeconds": ("int", DEFAULT_CACHE_TTL_SECONDS),
    "cacheMaxEntries": ("int", DEFAULT_CACHE_MAX_ENTRIES), "templateId": ("str", None),
    "revokeOnDocumentChange": ("bool", False),
}
HOSTNAME = re.compile(r"^(\*\.)?([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z0-9-]{1,63}$")  # DomainServiceImpl HOSTNAME_REGEX
URL_SHAPED = re.compile(r"^https?://", re.IGNORECASE)  # ClientIds.URL_SHAPED
FETCH_ATTEMPTS = 3  # CimdMetadataServiceImpl FETCH_RETRY_ATTEMPTS with RetryAtMostWithDelay(3, 100)
RETRY_DELAYS_S = (0.2, 0.3)  # RetryAtMostWithDelay waits delay * (retryCount + 1)
FORBIDDEN_AUTH_METHODS = {"client_secret_basic", "client_secret_post", "client_secret_jwt"}  # CimdValidationRules
PRIVATE_LITERAL = re.compile(
    r"^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$|^172\.(1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3}$|^192\.168\.\d{1,3}\.\d{1,3}$"
    r"|^169\.254\.\d{1,3}\.\d{1,3}$|^fe[89ab][0-9a-f]:[0-9a-f:]*$|^fc[0-9a-f]{2}:[0-9a-f:]*$|^fd[0-9a-f]{2}:[0-9a-f:]*$"
)  # UriBuilder.PRIVATE_IP_PATTERN


class CimdError(Exception):
    """InvalidClientMetadataException (OAuth error ``invalid_client_metadata``)."""


# --- Management API -----------------------------------------------------------------------------------
def supported(profile: str) -> bool:
    return profile_at_least(profile, "4.12")


def with_cimd_defaults(domain: dict[str, Any], profile: str) -> dict[str, Any]:
    """A 4.12 domain always carries ``oidc.cimdSettings`` (OIDCSettings.defaultSettings() on creation)."""
    if not supported(profile) or not isinstance(domain.get("oidc"), dict):
        return domain
    view = dict(domain)
    view["oidc"] = dict(domain["oidc"])
    view["oidc"]["cimdSettings"] = settings_of(domain)
    return view


def settings_of(domain: dict[str, Any]) -> dict[str, Any]:
    stored = (domain.get("oidc") or {}).get("cimdSettings") or {}
    return {**CIMD_DEFAULTS, **stored}


def patch_settings(profile: str, current: dict[str, Any] | None, value: Any) -> dict[str, Any]:
    """PatchOIDCSettings#patch for ``cimdSettings``: null resets to the defaults; otherwise
    PatchCIMDSettings#patch (absent unchanged, explicit null: booleans false, numbers their default,
    lists and strings null)."""
    if not supported(profile):
        raise AppError(400, "Property [cimdSettings] is not recognized as a valid property")
    if value is None:
        return dict(CIMD_DEFAULTS)
    if not isinstance(value, dict):
        raise AppError(400, "Malformed json")
    result = {**CIMD_DEFAULTS, **(current or {})}
    for key, item in value.items():
        if key not in PATCH_FIELDS:
            raise AppError(400, f"Property [{key}] is not recognized as a valid property")
        kind, null_value = PATCH_FIELDS[key]
        if item is None:
            result[key] = null_value
            continue
        ok = {
            "bool": isinstance(item, bool),
            "int": isinstance(item, int) and not isinstance(item, bool),
            "str": isinstance(item, str),
            "str_list": isinstance(item, list) and all(isinstance(i, str) for i in item),
        }[kind]
        if not ok:
            raise AppError(400, "Malformed json")
        result[key] = item
    return result


def validate_settings(state, domain: dict[str, Any], profile: str) -> None:
    """DomainServiceImpl#validateCIMDSettings, run on every domain update while CIMD is enabled."""
    if not supported(profile):
        return
    settings = settings_of(domain)
    if not settings["enabled"]:
        return
    checks = (
        ("fetchTimeoutMs", "fetch timeout"), ("maxResponseSizeKb", "maximum response size"),
        ("cacheTtlSeconds", "cache TTL"), ("cacheMaxEntries", "cache maximum entries"),
    )
    for key, label in checks:
        if settings[key] <= 0:
            raise AppError(400, f"CIMD settings are invalid: {label} must be higher than 0")
    allowed = settings.get("allowedDomains")
    if allowed and any(not host or len(host) > 253 or not HOSTNAME.match(host) for host in allowed):
        raise AppError(400, "CIMD settings are invalid: allowed domains must be a list of valid domains and wildcard "
                            "is only allowed for first-level subdomain")
    template_id = settings.get("templateId")
    if not template_id or not template_id.strip():
        raise AppError(400, "templateId must be provided when Client ID Metadata Document is enabled")
    template = state.applications.get(template_id)
    if template is None or not template["model"].get("template"):
        raise AppError(400, "templateId must be a valid application id configured as template")


# --- gateway --------------------------------------------------------------------------------------------
def is_url_shaped(client_id: str | None) -> bool:
    return client_id is not None and URL_SHAPED.match(client_id) is not None


def canonicalize(client_id: str) -> str:
    """ClientIds.canonicalize: scheme and host lower-cased; port, path and query kept."""
    if not is_url_shaped(client_id):
        return client_id
    try:
        parts = urlsplit(client_id)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return client_id
    if not host:
        return client_id
    host = f"[{host}]" if ":" in host else host
    return (f"{parts.scheme.lower()}://{host.lower()}" + (f":{port}" if port is not None else "")
            + parts.path + (f"?{parts.query}" if parts.query else ""))


def is_ip_literal(host: str) -> bool:
    return re.fullmatch(r"[0-9]+(?:\.[0-9]+){1,3}", host) is not None or ":" in host


def is_private_literal(host: str) -> bool:
    """UriBuilder.isPrivateOrReservedIpLiteral: localhost names and private, loopback, link-local or
    any-local IP literals."""
    if not host:
        return False
    if is_localhost(host):
        return True
    if not is_ip_literal(host):
        return False
    if PRIVATE_LITERAL.match(host.lower()):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return java_private(address)


def java_private(address) -> bool:
    """InetAddress isLoopbackAddress / isSiteLocalAddress / isLinkLocalAddress / isAnyLocalAddress."""
    if address.is_loopback or address.is_link_local or address.is_unspecified:
        return True
    if address.version == 4:
        return any(address in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    return address in ipaddress.ip_network("fec0::/10")


def validate_trust(url: str, settings: dict[str, Any], field: str) -> str:
    """CimdUriTrustValidator#parseHttpUrl and #validateTrust; returns the host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise CimdError(f"{field} is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https") or any(c.isspace() for c in url):
        raise CimdError(f"{field} is not a valid URL.")
    if not settings["allowUnsecuredHttpUri"] and parts.scheme.lower() == "http":
        raise CimdError(f"Unsecured HTTP {field} is not allowed.")
    if not host:
        raise CimdError(f"{field} host is missing.")
    if not allowed_domain(host, settings.get("allowedDomains")):
        raise CimdError(f"{field} host is not in allowed domains.")
    if not settings["allowPrivateIpAddress"] and is_private_literal(host):
        raise CimdError(f"{field} resolves to a private or reserved IP address.")
    return host


def allowed_domain(host: str, allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    host = host.lower()
    for pattern in (p.strip().lower() for p in allowed if p is not None):
        if not pattern:
            continue
        if pattern.startswith("*."):
            suffix = pattern[2:]
            if suffix and host.endswith("." + suffix) and host[: len(host) - len(suffix) - 1]:
                return True
        elif host == pattern:
            return True
    return False


async def validate_resolvable_host(host: str, settings: dict[str, Any], field: str) -> None:
    """HostSsrfGuard#assertNotPrivateHost (DNS-rebinding protection): a host name whose addresses include
    a private one is refused; IP literals and unresolvable names pass."""
    if settings["allowPrivateIpAddress"] or is_ip_literal(host):
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return
    for info in infos:
        try:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
        except ValueError:
            continue
        if java_private(address):
            raise CimdError(f"{field} resolves to a private or reserved IP address.")


class CimdResolver:
    """CimdAwareClientLookupServiceImpl + CimdMetadataServiceImpl for one simulator."""

    def __init__(self, sim):
        self.sim = sim

    @property
    def cache(self) -> dict[str, dict[str, Any]]:
        """domain id -> {canonical client id: {"metadata", "expires"}} (CimdMetadataDocumentManager)."""
        return self.sim.state.am_gateway.__dict__.setdefault("cimd_cache", {})

    @property
    def fetches(self) -> list[str]:
        """Every metadata fetch attempt, for tests (the origin's view of AM's requests)."""
        return self.sim.state.am_gateway.__dict__.setdefault("cimd_fetches", [])

    async def resolve(self, domain: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
        """A client for an unknown client id, or None when CIMD does not apply; CimdError on failure."""
        if not supported(self.sim.profile):
            return None
        settings = settings_of(domain)
        if not settings["enabled"] or not settings.get("templateId"):
            return None  # the plain lookup service is installed (CommonConfiguration)
        if not is_url_shaped(client_id):
            return None
        template = self.sim.state.am.applications.get(settings["templateId"])
        if template is None or template["domainId"] != domain["id"]:
            raise CimdError(f"No template found for templateId {settings['templateId']}")
        canonical = canonicalize(client_id)
        host = validate_trust(canonical, settings, "client_id")
        cache = self.cache.setdefault(domain["id"], {})
        entry = cache.get(canonical)
        if entry is None or entry["expires"] <= time.time():
            cache.pop(canonical, None)
            await validate_resolvable_host(host, settings, "client_id")
            metadata, ttl = await self.fetch(canonical, settings)
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str) and jwks_uri.strip():
                jwks_host = validate_trust(jwks_uri, settings, "jwks_uri")
                await validate_resolvable_host(jwks_host, settings, "jwks_uri")
            if ttl is not None:
                if len(cache) >= settings["cacheMaxEntries"]:
                    cache.pop(next(iter(cache)))
                cache[canonical] = {"metadata": metadata, "expires": time.time() + ttl}
        else:
            metadata = entry["metadata"]
        return synthesize(canonical, client_view(template), metadata, domain["id"])

    async def fetch(self, url: str, settings: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """GET the document: no redirects, the fetch timeout, the size limit, three attempts."""
        timeout = max(1, settings["fetchTimeoutMs"]) / 1000
        limit = max(0, settings["maxResponseSizeKb"]) * 1024
        last: CimdError | None = None
        for attempt in range(FETCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS_S[attempt - 1])
            self.fetches.append(url)
            try:
                return await asyncio.wait_for(self.fetch_once(url, limit, max(1, settings["cacheTtlSeconds"])), timeout)
            except CimdError as exc:
                last = exc
            except asyncio.TimeoutError:
                last = CimdError("Client metadata fetch timed out.")
            except (httpx.HTTPError, OSError):
                last = CimdError("Unable to fetch client metadata.")
        raise last

    @staticmethod
    async def fetch_once(url: str, limit: int, ttl_ceiling: int) -> tuple[dict[str, Any], float | None]:
        async with httpx.AsyncClient(follow_redirects=False, verify=False, trust_env=False) as client:
            async with client.stream("GET", url) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if limit and len(body) > limit:
                        raise CimdError("Response exceeds configured max size.")
                if response.status_code != 200:
                    raise CimdError(f"Client metadata endpoint returned HTTP {response.status_code}.")
                if not body:
                    raise CimdError("Client metadata endpoint returned an empty body.")
                try:
                    metadata = json.loads(body)
                except ValueError:
                    raise CimdError("Client metadata response is not valid JSON.") from None
                if not isinstance(metadata, dict):
                    raise CimdError("Client metadata response is not valid JSON.")
                return metadata, cache_ttl(response.headers.get("cache-control"), ttl_ceiling)


def cache_ttl(cache_control: str | None, ceiling: int) -> float | None:
    """resolveCacheRequirements: no-store -> not cached; max-age -> min(max-age, cacheTtlSeconds);
    otherwise cacheTtlSeconds."""
    if cache_control:
        if re.search(r"(?:^|,)\s*no-store\s*(?:,|$)", cache_control, re.IGNORECASE):
            return None
        match = re.search(r"(?:^|,)\s*max-age\s*=\s*(\d+)", cache_control, re.IGNORECASE)
        if match:
            return min(int(match.group(1)), ceiling)
    return ceiling


def string_array(metadata: dict[str, Any], key: str, default: list[str] | None = None) -> list[str] | None:
    if key not in metadata:
        return default
    value = metadata[key]
    if not isinstance(value, list) or any(not isinstance(i, str) or not i.strip() for i in value):
        raise CimdError(f"Invalid {key}.")
    return value


def synthesize(client_id: str, template: dict[str, Any], metadata: dict[str, Any], domain_id: str) -> dict[str, Any]:
    """CimdMetadataServiceImpl#synthesizeClient: the template client with the document's metadata."""
    document_id = metadata.get("client_id")
    if not isinstance(document_id, str) or canonicalize(document_id) != client_id:
        raise CimdError("client_id in metadata does not match requested client_id.")
    redirect_uris = string_array(metadata, "redirect_uris")
    if not redirect_uris:
        raise CimdError("Missing or invalid redirect_uris.")
    method = metadata.get("token_endpoint_auth_method", "none")
    if method in FORBIDDEN_AUTH_METHODS:
        raise CimdError("Secret-based token_endpoint_auth_method is not allowed for CIMD clients.")
    if "client_secret" in metadata or "client_secret_expires_at" in metadata:
        raise CimdError("client_secret metadata is not allowed for CIMD clients.")
    if method == "private_key_jwt" and not isinstance(metadata.get("jwks"), dict) and not metadata.get("jwks_uri"):
        raise CimdError("private_key_jwt requires jwks or jwks_uri.")
    grant_types = [g for g in string_array(metadata, "grant_types", ["authorization_code"]) if g in template["grantTypes"]]
    response_types = [r for r in string_array(metadata, "response_types", ["code"]) if r in template["responseTypes"]]
    scopes, default_scopes = template["scopes"], template["defaultScopes"]
    requested = metadata.get("scope")
    if isinstance(requested, str) and requested.strip() and scopes:
        wanted = set(requested.split())
        scopes = [s for s in scopes if s in wanted]
        default_scopes = [s for s in default_scopes if s in wanted]
    client = copy.deepcopy(template)
    client.update({
        "clientId": client_id, "redirectUris": list(redirect_uris), "tokenEndpointAuthMethod": method,
        "grantTypes": grant_types, "responseTypes": response_types, "scopes": list(scopes),
        "defaultScopes": list(default_scopes), "secrets": [], "template": False, "domainId": domain_id,
        "cimd": True,
    })
    if isinstance(metadata.get("client_name"), str):
        client["clientName"] = metadata["client_name"]
    return client
