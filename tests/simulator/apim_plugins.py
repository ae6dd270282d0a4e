"""The APIM plugins the simulator knows: their catalogue entries, their configuration schemas, and the
schema-driven validation and sanitising the Management API applies to plugin configurations.

Schemas are never copied into this repository: the real schema files are read from
``<specs_dir>/apim/plugins/`` at runtime (see ``shared/specs/apim/SOURCE.md``).  The MCP proxy
entrypoint and endpoint plugins are closed source, so their schemas are knowingly minimal.

Validation and default injection follow the real server (``JsonSchemaServiceImpl.validate``, a
networknt validator with defaults applied): a configuration is checked against the plugin schema,
then every absent property whose schema declares a ``default`` gets it, recursively inside objects
that are present.  An object that is absent and has no default of its own is not created.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.simulator import apim_mcp_acl

# Versions shipped with each profile (shared/specs/apim/SOURCE.md, root pom.xml of APIM 4.10.0 and 4.12.17).
PLUGIN_VERSIONS = {
    "4.10": {"oauth2": "5.1.4", "oauth2-am-resource": "4.0.0", "mcp-proxy": "1.0.1"},
    "4.11": {"oauth2": "5.2.1", "oauth2-am-resource": "4.0.1", "mcp-proxy": "1.1.2"},
    "4.12": {"oauth2": "5.3.1", "oauth2-am-resource": "5.0.0", "mcp-proxy": "3.1.6"},
}

# Schema files under <specs_dir>/apim/plugins, per profile.  AM resource 4.0.0, 4.0.1 and 5.0.0-beta.1
# have byte-identical schemas (SOURCE.md notes), so the 4.0.1 copy serves every profile.  The oauth2 policy's
# schema-form.json is byte-identical at 5.2.0, 5.2.1 and 5.3.1 (git diff of the tags), so 5.3.1's serves 4.11 too.
SCHEMA_FILES = {
    ("policies", "oauth2"): {
        "4.10": "policy-oauth2-5.1.4.schema-form.json",
        "4.11": "policy-oauth2-5.3.1.schema-form.json",
        "4.12": "policy-oauth2-5.3.1.schema-form.json",
    },
    ("resources", "oauth2-am-resource"): {
        profile: "resource-oauth2-am-resource-4.0.1.schema-form.json" for profile in ("4.10", "4.11", "4.12")
    },
}

# The closed-source MCP proxy connector schemas: only ``target`` is attested (apim-management-api.md §3.1).
MINIMAL_CONNECTOR_SCHEMAS = {
    ("entrypoints", "mcp-proxy", "schema"): {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {}},
    ("endpoints", "mcp-proxy", "schema"): {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"target": {"title": "Target URL", "type": "string"}},
    },
    ("endpoints", "mcp-proxy", "shared-configuration-schema"): {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {},
    },
    # The closed-source mcp-acl policy: its schema is not public (apim_mcp_acl.py), so none is invented.
    ("policies", "mcp-acl", "schema"): {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
}

# Security type of a plan -> the policy plugin that implements it.
PLAN_SECURITY_POLICIES = {"OAUTH2": "oauth2", "KEY_LESS": "key-less", "API_KEY": "api-key", "JWT": "jwt", "MTLS": "mtls"}


def catalogue(profile: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Plugin catalogue entries by kind and id, shaped like the spec's ConnectorPlugin/PolicyPlugin/ResourcePlugin."""
    versions = PLUGIN_VERSIONS[profile]
    mcp_connector = {
        "version": versions["mcp-proxy"],
        "deployed": True,
        "supportedApiType": "MCP_PROXY",
        "supportedListenerType": "HTTP",
        "supportedModes": ["REQUEST_RESPONSE"],
        "supportedQos": ["AUTO"],
    }
    return {
        "entrypoints": {"mcp-proxy": {"id": "mcp-proxy", "name": "MCP Proxy", **mcp_connector}},
        "endpoints": {"mcp-proxy": {"id": "mcp-proxy", "name": "MCP Proxy", **mcp_connector}},
        "policies": {
            "oauth2": {"id": "oauth2", "name": "OAuth2", "category": "security", "version": versions["oauth2"], "deployed": True},
            apim_mcp_acl.POLICY_ID: apim_mcp_acl.catalogue_entry(profile),
        },
        "resources": {
            "oauth2-am-resource": {
                "id": "oauth2-am-resource",
                "name": "Gravitee.io AM Authorization Server",
                "category": "OAuth2",
                "version": versions["oauth2-am-resource"],
                "deployed": True,
            }
        },
    }


@dataclass
class InvalidConfiguration(Exception):
    """A configuration rejected by its plugin schema (the server answers 400 ``data.invalid``)."""

    message: str


class PluginSchemas:
    """Plugin schemas of one profile, read from the shared specs folder (None when it is absent)."""

    def __init__(self, profile: str, specs_dir: Path | None):
        self.profile = profile
        self.folder = specs_dir / "apim" / "plugins" if specs_dir else None

    @property
    def available(self) -> bool:
        return self.folder is not None and self.folder.is_dir()

    def raw(self, kind: str, plugin_id: str) -> dict[str, Any] | None:
        """The schema file as the plugin ships it, or None when unknown or not readable."""
        name = SCHEMA_FILES.get((kind, plugin_id), {}).get(self.profile)
        if not name or not self.available:
            return None
        return _load_json(self.folder / name)

    def served(self, kind: str, plugin_id: str) -> dict[str, Any] | None:
        """The schema as ``GET /plugins/{kind}/{id}/schema`` serves it."""
        schema = self.raw(kind, plugin_id)
        if schema is None:
            return None
        return _resolve_external_definitions(schema)

    def sanitize(self, kind: str, plugin_id: str, configuration: Any) -> Any:
        """Validate ``configuration`` against the plugin schema and inject the schema defaults.

        Unknown plugins and missing schemas leave the configuration untouched (nothing to check against).
        """
        schema = self.served(kind, plugin_id)
        if schema is None or configuration is None:
            return configuration
        errors = sorted(_validator(schema).iter_errors(configuration), key=lambda e: list(e.absolute_path))
        if errors:
            raise InvalidConfiguration(_networknt_style(errors[0]))
        result = copy.deepcopy(configuration)
        _inject_defaults(schema, schema, result)
        return result


@lru_cache(maxsize=None)
def _load_json_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_load_json_text(str(path)))
    except (OSError, ValueError):
        return None


def _resolve_external_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """Make ``#/gioExternalDefinitions/...`` references resolvable, minimally.

    The real plugin package bundles platform definitions (HTTP client, proxy and SSL options) under
    ``gioExternalDefinitions`` at build time; their exact content is not public in the copied files.
    Here ``httpClientOptions`` resolves to the plugin's own local ``definitions.httpClientOptions``
    (only ``maxConcurrentConnections``, default 100) and every other external definition to a plain
    object.  Knowingly minimal; see FIDELITY.md.
    """
    schema = copy.deepcopy(schema)
    wanted = set()

    def collect(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/gioExternalDefinitions/"):
                wanted.add(ref.rsplit("/", 1)[1])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    if wanted and "gioExternalDefinitions" not in schema:
        local = schema.get("definitions", {})
        schema["gioExternalDefinitions"] = {
            name: copy.deepcopy(local[name]) if name in local else {"type": "object"} for name in sorted(wanted)
        }
    return schema


def _validator(schema: dict[str, Any]):
    return jsonschema.Draft7Validator(schema)


def _networknt_style(error: jsonschema.ValidationError) -> str:
    """An error message shaped like the real validator's: ``$.<path>: <reason>``."""
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "; ".join(
            f"{path}.{name}: is not defined in the schema and the schema does not allow additional properties" for name in extra
        )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{path}.{missing}: is missing but it is required"
    return f"{path}: {error.message}"


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref`` pointers (``#/a/b``) until a schema without one."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and seen < 20:
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, seen = target, seen + 1
    return node


def _inject_defaults(root: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    schema = _resolve(root, schema)
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(root, prop)
        if name not in instance:
            if isinstance(prop, dict) and "default" in prop:
                instance[name] = copy.deepcopy(prop["default"])
        else:
            _inject_defaults(root, prop, instance[name])
