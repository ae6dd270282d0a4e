"""A thin client for the simulated AM Management API and gateway, shared by the AM and e2e tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

ORG_ENV = "/management/organizations/DEFAULT/environments/DEFAULT"


class AmApi:
    def __init__(self, sim):
        self.sim = sim
        self.base = sim.urls["am"]
        self.gateway = sim.urls["am_gateway"]
        response = requests.post(f"{self.base}/management/auth/token", auth=("admin", "adminadmin"), timeout=10)
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else f"{self.base}{path}"
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    # -- domains --
    def domain(self, hrid: str = "mcp") -> dict[str, Any]:
        response = self.call("GET", f"{ORG_ENV}/domains/_hrid/{hrid}")
        response.raise_for_status()
        return response.json()

    def domain_path(self, domain_id: str) -> str:
        return f"{ORG_ENV}/domains/{domain_id}"

    def patch_domain(self, domain_id: str, body: Any, method: str = "PATCH") -> requests.Response:
        return self.call(method, self.domain_path(domain_id), json=body)

    def open_dcr(self, domain_id: str, **extra: Any) -> dict[str, Any]:
        settings = {
            "isDynamicClientRegistrationEnabled": True,
            "isOpenDynamicClientRegistrationEnabled": True,
            "allowLocalhostRedirectUri": True,
            "allowHttpSchemeRedirectUri": True,
            **extra,
        }
        response = self.patch_domain(domain_id, {"oidc": {"clientRegistrationSettings": settings}})
        response.raise_for_status()
        return response.json()

    # -- MCP servers --
    def resources_path(self, domain_id: str) -> str:
        return f"{self.domain_path(domain_id)}/protected-resources"

    def create_mcp_server(self, domain_id: str, **fields: Any) -> requests.Response:
        body = {"name": "Weather MCP", "type": "MCP_SERVER", "resourceIdentifiers": ["https://gw.example.com/weather"]}
        body.update(fields)
        return self.call("POST", self.resources_path(domain_id), json=body)

    # -- gateway --
    def gw(self, domain_path: str = "/mcp") -> str:
        return f"{self.gateway}{domain_path}"

    def register_client(self, redirect_uri: str = "http://127.0.0.1:33418/callback", **metadata: Any) -> requests.Response:
        body = {"redirect_uris": [redirect_uri], "client_name": "test client", **metadata}
        return requests.post(f"{self.gw()}/oidc/register", json=body, timeout=10)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
