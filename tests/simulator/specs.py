"""Checks every request to, and every response from, the simulated management APIs against the real
OpenAPI specs in the shared specs folder (never copied here: read at runtime from ``sim.specs_dir``).

* A request that violates its operation's spec is answered 400, in the server's own error format, with
  a message naming the violation, and is not served; the recorded request gets a ``spec_violation``.
* A request for an operation the spec does not have is recorded as a violation but served: the
  server answers it as the real one would (404, 405...).
* A response that violates its spec is recorded (``spec_violation`` with ``phase: response``) and
  logged, and sent as is.
* ``GET /_sim/violations`` lists every violation since the simulator started (resets do not clear it).
* A test that breaks the spec on purpose says so with the header ``X-Sim-Expect-Violation``: ``true``
  (the checker answers the 400 itself) or ``serve`` (the request still reaches the server, to assert
  how the real server answers it).  Either way the violation is recorded, marked ``expected``.

Specs are loaded lazily, once per process.  The known differences between a spec and the running
server are exempted in :data:`EXEMPTIONS`, each with the fact it rests on.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import yaml

from tests.simulator.profiles import at_least

log = logging.getLogger("simulator.specs")

EXPECT_HEADER = "x-sim-expect-violation"
NOTICE = "specs not found, requests are not spec-checked"


@dataclass(frozen=True)
class SpecFile:
    """One OpenAPI document serving the paths under ``prefix`` (a regex on the request path)."""

    path: str  # relative to the specs folder
    prefix: str


# Which spec answers which request, per server and profile.  The APIM plugin endpoints have their own
# file; the deprecated root form /management/v2/plugins/... is only in openapi-plugins-deprecated.yaml,
# copied from 4.12.17 alone (SOURCE.md), so both profiles check that form against it.
SPECS: dict[tuple[str, str], list[SpecFile]] = {
    ("apim", "4.12"): [
        SpecFile("apim/mapi-v2/openapi-plugins.yaml", r"^/management/v2/organizations/[^/]+/plugins/"),
        SpecFile("apim/mapi-v2/openapi-plugins-deprecated.yaml", r"^/management/v2/plugins/"),
        SpecFile("apim/mapi-v2/openapi-apis.yaml", r"^/management/v2/"),
    ],
    ("apim", "4.10"): [
        SpecFile("apim/mapi-v2-4.10.0/openapi-plugins.yaml", r"^/management/v2/organizations/[^/]+/plugins/"),
        SpecFile("apim/mapi-v2/openapi-plugins-deprecated.yaml", r"^/management/v2/plugins/"),
        SpecFile("apim/mapi-v2-4.10.0/openapi-apis.yaml", r"^/management/v2/"),
    ],
    # No APIM 4.11 document is in the shared specs: the 4.11 profile is checked against 4.12.17's, the nearest.
    ("apim", "4.11"): [
        SpecFile("apim/mapi-v2/openapi-plugins.yaml", r"^/management/v2/organizations/[^/]+/plugins/"),
        SpecFile("apim/mapi-v2/openapi-plugins-deprecated.yaml", r"^/management/v2/plugins/"),
        SpecFile("apim/mapi-v2/openapi-apis.yaml", r"^/management/v2/"),
    ],
    ("am", "4.12"): [SpecFile("am/mapi/4.12.4/openapi.yaml", r"^/management/")],
    ("am", "4.11"): [SpecFile("am/mapi/4.11.14/openapi.yaml", r"^/management/")],
    ("am", "4.10"): [SpecFile("am/mapi/4.10.20/openapi.yaml", r"^/management/")],
}

# Credentials shown to the spec's security requirement (header, cookie).  Authentication is the
# server's own job (it answers 401 itself); the checker only needs the security check to pass so that it
# goes on to validate parameters and bodies.  The APIM specs declare Basic and a cookie (the deprecated
# plugins spec only the cookie) but the server also takes bearer personal access tokens
# (apim-management-api.md §2.2, TokenAuthenticationFilter).
SPEC_CREDENTIALS = {
    "apim": (("Authorization", "Basic c3BlYzpjaGVjaw=="), ("Auth-Graviteeio-APIM", "spec-check")),
    "am": (("Authorization", "Bearer spec-check"), ("Auth-Graviteeio-AM", "spec-check")),
}


@dataclass(frozen=True)
class Exemption:
    """A documented difference between a spec and the running server that is not a violation.

    ``kind``:
    * ``undocumented``: requests matching ``method``/``path`` are served by the real server but the
      spec has no such operation, or documents it wrongly: the ``phase`` (request, response or both)
      is not checked;
    * ``bare-status``: a response with this ``status`` and no body (the spec documents a JSON error);
    * ``success-status``: the code answers ``status`` where the spec documents ``documented_status``
      (the code wins): the body is checked against the documented answer;
    * ``undocumented-status``: an error response (4xx/5xx) whose status the operation does not list;
    * ``absent-parameter``: an error on a query parameter the request did not send, i.e. on the spec's
      own default value for it;
    * ``epoch-dates``: in responses, an integer where the spec has a ``date-time`` string;
    * ``enum-case``: an enum value matching the spec's enum ignoring case (``phase``);
    * ``discriminator-case``: a discriminator value matching a mapping key ignoring case;
    * ``null-values``: an explicit JSON null where the spec's schema is not nullable;
    * ``property``: errors about a property whose name matches ``pattern``.

    ``method`` (a regex), ``path`` (a regex searched in the request path), ``phase`` and ``profile``
    narrow where it applies; a ``profile`` ending with ``+`` applies from that profile on ("4.11+").
    """

    server: str
    kind: str
    reason: str  # the fact, with its source
    method: str = "*"
    path: str = ".*"
    phase: str = "both"
    profile: str = "*"
    pattern: str = ""
    status: int = 0
    documented_status: int = 0

    def applies(self, profile: str, method: str, path: str, phase: str) -> bool:
        return (
            (self.profile in ("*", profile) or (self.profile.endswith("+") and at_least(profile, self.profile[:-1])))
            and (self.method == "*" or re.fullmatch(self.method, method) is not None)
            and self.phase in ("both", phase)
            and re.search(self.path, path) is not None
        )


EXEMPTIONS: list[Exemption] = [
    # --- APIM ---
    Exemption(
        "apim", "undocumented",
        "The spec declares POST /apis/{apiId}/deployments/_verify but ApiResource.java serves it as @GET "
        "(apim-management-api.md §6 and §10).",
        method="GET", path=r"/apis/[^/]+/deployments/_verify$",
    ),
    Exemption(
        "apim", "undocumented",
        "ResourcesResource is registered at the root of the mAPI v2 (GraviteeManagementV2Application, "
        "'Resources deprecated at root level') but openapi-plugins-deprecated.yaml lists no resources.",
        method="GET", path=r"^/management/v2/plugins/resources(/|$)",
    ),
    Exemption(
        "apim", "bare-status",
        "An invalid or missing credential is refused by TokenAuthenticationFilter with res.sendError(401), "
        "not with the JSON error model (apim-management-api.md §2.2).",
        status=401,
    ),
    Exemption(
        "apim", "bare-status",
        "An If-Match mismatch is answered 412 with an empty body (PreconditionFailedExceptionMapper, "
        "apim-management-api.md §2.4).",
        status=412,
    ),
    Exemption(
        "apim", "bare-status",
        "Seen on real APIM 4.10.9: the deprecated root form /management/v2/plugins/... answers a bare 500 (it looks up "
        "'Organization [null]'); only the organization form works (tests/real/DIFFERENCES.md D6).",
        profile="4.10", path=r"^/management/v2/plugins/", status=500,
    ),
    Exemption(
        "apim", "success-status",
        "verifyPaths returns Response.accepted(...), 202, whether the path is free or not (ApisResource.java "
        "verifyPaths :469/:471 @4.12.17, :394/:396 @4.10.0; source-audit-2026-12.md); openapi-apis.yaml says 200.",
        method="POST", path=r"/apis/_verify/paths$", status=202, documented_status=200,
    ),
    Exemption(
        "apim", "absent-parameter",
        "listApiPlans declares the default of `statuses` as ['published'], outside its own upper-case enum; "
        "the server's default is PUBLISHED (ApiPlansResource.getApiPlans @DefaultValue, apim-management-api.md §4.1).",
    ),
    # --- AM (requested by the AM simulator, see FIDELITY.md "Spec exemptions needed") ---
    Exemption(
        "am", "undocumented",
        "POST /management/auth/token is served by a Spring MVC dispatcher outside the OpenAPI "
        "(am-management-api.md §1.1-1.2).",
        method="POST", path=r"^/management/auth/token$",
    ),
    Exemption(
        "am", "undocumented",
        "GET /management/openapi.json is the document itself, served by swagger's OpenApiResource "
        "(REST/ManagementApplication.java :59-60) without authentication (ManagementSecurityConfiguration "
        "#webSecurityCustomizer :82-85, same @4.10.20, @4.11.14, @4.12.4); it lists no operation for itself.",
        method="GET", path=r"^/management/openapi\.json$",
    ),
    Exemption(
        "am", "undocumented",
        "GET .../users/{user}/tokens lists the tokens (am-management-api.md §1.3) but the spec declares "
        "a single AccountAccessToken as its answer.",
        method="GET", path=r"/users/[^/]+/tokens$", phase="response",
    ),
    Exemption(
        "am", "undocumented-status",
        "Every AM error is an ErrorEntity from the exception mappers (400, 401, 403, 404, 409, 500; "
        "am-management-api.md §1.4) while most operations list only their success status and 500.",
    ),
    Exemption(
        "am", "epoch-dates",
        "The AM Management API writes Date values as epoch milliseconds (Jackson default, "
        "am-management-api.md §1.4); the 4.10.20 spec declares date-time strings.",
    ),
    Exemption(
        "am", "enum-case",
        "The AM OpenAPI enums are upper case; the runtime writes them lower case and upper-cases enums "
        "read from requests, so any case is accepted (am-management-api.md §1.4 and §7).",
    ),
    Exemption(
        "am", "discriminator-case",
        "From AM 4.11 a PUT/PATCH of an MCP server accepts the feature type `mcp_tool` as written by the "
        "GET (FIDELITY.md, AM Management API, PUT row); the spec's mapping lists only MCP_TOOL.",
        method="(PUT|PATCH)", path=r"/protected-resources/[^/]+$", phase="request", profile="4.11+",
    ),
    Exemption(
        "am", "null-values",
        "An explicit null in a domain PATCH/PUT is valid at runtime, with defined effects (reset, false; "
        "am-management-api.md §3.1); the Patch* schemas are not nullable.",
        method="(PUT|PATCH)", path=r"/domains/[^/]+$", phase="request",
    ),
    Exemption(
        "am", "undocumented",
        "The secrets sub-resource of MCP servers exists from AM 4.11 (am-management-api.md §2.2): 4.10 answers "
        "Jersey's 404, as the simulator does, and a client probing for the feature is not at fault.",
        path=r"/protected-resources/[^/]+/secrets(/|$)", profile="4.10",
    ),
    Exemption(
        "am", "property",
        "The OpenAPI lists non-`is` DCR keys; only the `is...` keys work (am-management-api.md §7).",
        pattern=r"^(is[A-Z]\w*|dynamicClientRegistrationEnabled|openDynamicClientRegistrationEnabled|clientTemplateEnabled)$",
    ),
    # am-management-api.md §7 also notes that `type` is optional in the spec of the protected-resource
    # GET/DELETE/list but required at runtime: sending it is valid against the spec, so no exemption.
]


# --- spec loading ---------------------------------------------------------------------------------


def _prepare_discriminators(node: Any) -> Any:
    """Make the specs' discriminators usable by openapi-core without changing what they accept.

    * The Gravitee specs put the discriminator of a oneOf family on the shared parent too (GenericApi,
      GenericPlan...), which each member then includes through ``allOf``; a validator that follows it
      recurses forever.  On a parent used through allOf it carries no constraint: it is dropped there.
    * A mapping value may be a bare schema name (``MCP: McpSelector``, valid OpenAPI); openapi-core
      only resolves references, so the name becomes ``#/components/schemas/McpSelector``.
    * HTTP authentication scheme names are case-insensitive (RFC 7235) but openapi-core compares the
      lower-cased header scheme with the spec's verbatim (AM declares ``Bearer``): lower-cased here.
    """
    if isinstance(node, dict):
        if node.get("type") == "http" and isinstance(node.get("scheme"), str):
            node = {**node, "scheme": node["scheme"].lower()}
        if "allOf" in node and "discriminator" in node:
            node = {k: v for k, v in node.items() if k != "discriminator"}
        mapping = node.get("discriminator", {}).get("mapping") if isinstance(node.get("discriminator"), dict) else None
        if mapping:
            fixed = {k: v if "#" in v or "/" in v else f"#/components/schemas/{v}" for k, v in mapping.items()}
            node = {**node, "discriminator": {**node["discriminator"], "mapping": fixed}}
        return {k: _prepare_discriminators(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_prepare_discriminators(v) for v in node]
    return node


@lru_cache(maxsize=None)
def _load_document(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as stream:
        return _prepare_discriminators(yaml.safe_load(stream))


def _file_handler(uri: str) -> Any:
    return _load_document(urlparse(uri).path)


_load_lock = threading.Lock()


@lru_cache(maxsize=None)
def load_openapi(path: str):
    """The OpenAPI object of one spec file, loaded once per process.

    Loaded with ``spec_validator_cls=None``: openapi-core rejects the APIM openapi-apis.yaml at load
    time (an operation uses an undeclared path parameter) but validates requests fine without it.
    """
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI

    with _load_lock:
        schema_path = SchemaPath.from_dict(
            _load_document(path), base_uri=Path(path).as_uri(), handlers={"file": _file_handler}
        )
        return OpenAPI(schema_path, config=Config(spec_validator_cls=None))


# --- checking -------------------------------------------------------------------------------------


@dataclass
class Violation:
    phase: str  # request | response
    message: str
    spec: str
    served: bool = False  # the request went on to the server anyway
    expected: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "message": self.message, "spec": self.spec, "served": self.served, "expected": self.expected}


@dataclass
class SpecChecker:
    server: str
    profile: str
    specs_dir: Path
    files: list[SpecFile]
    exemptions: list[Exemption] = field(default_factory=list)

    def spec_for(self, path: str) -> SpecFile | None:
        return next((f for f in self.files if re.search(f.prefix, path)), None)

    def exemption(self, kind: str, method: str, path: str, phase: str) -> Exemption | None:
        return next((e for e in self.exemptions if e.kind == kind and e.applies(self.profile, method, path, phase)), None)

    def _request(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes):
        from openapi_core.testing import MockRequest

        (name, value), (cookie, cookie_value) = SPEC_CREDENTIALS[self.server]
        headers = {k: v for k, v in headers.items() if k.lower() not in (name.lower(), "cookie")}
        headers[name] = value
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")
        return MockRequest(
            "http://simulator",
            method.lower(),
            path,
            args=parse_qsl(query, keep_blank_values=True),
            headers=headers,
            cookies={cookie: cookie_value},
            data=body or None,
            content_type=content_type.split(";")[0].strip(),
        )

    def check_request(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Violation | None:
        from openapi_core.templating.paths.exceptions import PathError

        spec = self.spec_for(path)
        if spec is None or self.exemption("undocumented", method, path, "request"):
            return None
        if not any(k.lower() in ("authorization", "cookie") for k in headers):
            return None  # no credentials at all: the server answers 401 before reading anything
        api = load_openapi(str(self.specs_dir / spec.path))
        result = api.unmarshal_request(self._request(method, path, query, headers, body))
        sent = {pair[0] for pair in parse_qsl(query, keep_blank_values=True)}
        messages = self.describe(result.errors, "request", method, path, sent)
        if not messages:
            return None
        unknown_operation = any(isinstance(e, PathError) for e in result.errors)
        return Violation("request", f"{method} {path}: " + "; ".join(messages), spec.path, served=unknown_operation)

    def check_response(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, status: int, content_type: str, payload: bytes
    ) -> Violation | None:
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from openapi_core.testing import MockResponse

        spec = self.spec_for(path)
        if spec is None or self.exemption("undocumented", method, path, "response"):
            return None
        if not payload and any(
            e.kind == "bare-status" and e.status == status and e.applies(self.profile, method, path, "response") for e in self.exemptions
        ):
            return None
        documented = next(
            (
                e.documented_status
                for e in self.exemptions
                if e.kind == "success-status" and e.status == status and e.applies(self.profile, method, path, "response")
            ),
            status,
        )
        api = load_openapi(str(self.specs_dir / spec.path))
        response = MockResponse(payload, status_code=documented, content_type=(content_type or "").split(";")[0].strip() or None)
        result = api.unmarshal_response(self._request(method, path, query, headers, body), response)
        errors = [e for e in result.errors if not isinstance(e, PathError)]  # already reported on the request
        if status >= 400 and self.exemption("undocumented-status", method, path, "response"):
            errors = [e for e in errors if not isinstance(e, ResponseNotFound) and not isinstance(e.__cause__, ResponseNotFound)]
        messages = self.describe(errors, "response", method, path)
        if not messages:
            return None
        return Violation("response", f"{method} {path} -> {status}: " + "; ".join(messages), spec.path)

    def describe(self, errors: list[Exception], phase: str, method: str, path: str, sent_query: set[str] | None = None) -> list[str]:
        """Readable messages for openapi-core errors, without the exempted ones."""
        messages = []
        for error in errors:
            cause = error.__cause__
            if (
                getattr(error, "location", None) == "query"
                and sent_query is not None
                and getattr(error, "name", None) not in sent_query
                and self.exemption("absent-parameter", method, path, phase)
            ):
                continue
            schema_errors = getattr(cause, "schema_errors", None)
            if schema_errors:
                kept = [e for e in schema_errors if not self.schema_error_exempted(e, phase, method, path)]
                messages += [schema_error_message(e) for e in kept]
                continue
            name = getattr(error, "name", None) or getattr(cause, "name", None)
            text = type(error).__name__ + (f" ({name})" if name else "")
            detail = str(cause) if cause is not None and str(cause) else str(error)
            messages.append(f"{text}: {detail}" if detail else text)
        return messages

    def schema_error_exempted(self, error, phase: str, method: str, path: str) -> bool:
        def exempt(kind: str) -> bool:
            return self.exemption(kind, method, path, phase) is not None

        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "type" and isinstance(error.instance, int) and schema.get("format") == "date-time":
            if phase == "response" and exempt("epoch-dates"):
                return True
        if error.validator == "enum" and isinstance(error.instance, str) and exempt("enum-case"):
            if error.instance.upper() in [str(v).upper() for v in error.validator_value]:
                return True
        if error.instance is None and exempt("null-values"):
            return True
        discriminator = schema.get("discriminator")
        if isinstance(discriminator, dict) and isinstance(error.instance, dict) and exempt("discriminator-case"):
            value = error.instance.get(discriminator.get("propertyName"))
            if isinstance(value, str) and value.upper() in {str(k).upper() for k in discriminator.get("mapping", {})}:
                return True
        for exemption in self.exemptions:
            if exemption.kind == "property" and exemption.pattern and exemption.applies(self.profile, method, path, phase):
                names = [p for p in error.absolute_path if isinstance(p, str)]
                extra = re.findall(r"'([^']+)'", error.message) if error.validator in ("additionalProperties", "required") else []
                if any(re.fullmatch(exemption.pattern, n) for n in names[-1:] + extra):
                    return True
        return False

    def error_response(self, violation: Violation) -> tuple[int, dict[str, Any]]:
        """A 400 in the server's own error format (APIM: components.schemas.Error; AM: ErrorEntity)."""
        message = f"Request does not match the OpenAPI spec ({violation.spec}): {violation.message}"
        if self.server == "am":
            return 400, {"message": message, "http_status": 400}
        return 400, {"httpStatus": 400, "message": message, "technicalCode": "simulator.specViolation"}


def schema_error_message(error) -> str:
    location = "/".join(str(p) for p in error.absolute_path)
    return f"{location}: {error.message}" if location else error.message


def checker_for(sim, server: str) -> SpecChecker | None:
    """The checker of a management server, or None (gateways, MCP server, or no specs folder)."""
    files = SPECS.get((server, sim.profile))
    if not files:
        return None
    if sim.specs_dir is None or not Path(sim.specs_dir).is_dir():
        if NOTICE not in sim.notices:
            sim.notices.append(NOTICE)
        return None
    exemptions = [e for e in EXEMPTIONS if e.server == server]
    return SpecChecker(server, sim.profile, Path(sim.specs_dir), files, exemptions)


def header_map(scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def expectation(headers: dict[str, str]) -> str | None:
    """``true`` or ``serve`` when a test breaks the spec on purpose (X-Sim-Expect-Violation)."""
    value = next((v.strip().lower() for k, v in headers.items() if k.lower() == EXPECT_HEADER), None)
    return value if value in ("true", "serve") else None


def is_json(content_type: str | None) -> bool:
    return bool(content_type) and "json" in content_type.lower()


def log_violation(server: str, violation: Violation) -> None:
    log.warning("spec violation on %s (%s): %s", server, violation.phase, violation.message)
