"""Direct calls to the real servers for test setup and read-back (never the module under test).

"No write" is asserted against real servers by comparing the server's own state before and after a run
(``AmState.snapshot`` / ``ApimState.snapshot``): the objects, their ``updatedAt`` stamps included, must be
identical, so a write that changed anything, even to the same values, is seen.
"""

from __future__ import annotations

from typing import Any

import requests

from tests.real.servers import AM_ADMIN, APIM_ADMIN

TIMEOUT = 60


def task(module: str, name: str, args: dict[str, Any], **keywords: Any) -> dict[str, Any]:
    return {"name": name, f"mcpgate.gravitee.{module}": args, **keywords}


class Am:
    def __init__(self, real):
        self.base = real.urls["am"] + "/management"
        self.gateway = real.urls["am_gateway"]
        self.domain = real.state.am_domain
        token = requests.post(self.base + "/auth/token", auth=AM_ADMIN, timeout=TIMEOUT)
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.domains = self.base + "/organizations/DEFAULT/environments/DEFAULT/domains"

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.domains + path, params=params, headers=self.headers, timeout=TIMEOUT)

    def call(self, method: str, path: str, **keywords) -> requests.Response:
        return requests.request(method, self.domains + path, headers=self.headers, timeout=TIMEOUT, **keywords)

    def domain_doc(self) -> dict[str, Any]:
        response = self.get(f"/{self.domain['id']}")
        response.raise_for_status()
        return response.json()

    def mcp_servers(self) -> list[dict[str, Any]]:
        response = self.get(f"/{self.domain['id']}/protected-resources", type="MCP_SERVER", page=0, size=200)
        response.raise_for_status()
        return sorted(response.json()["data"], key=lambda s: s["id"])

    def snapshot(self) -> dict[str, Any]:
        """The domain and every MCP server of it, as the server has them now."""
        base = f"/{self.domain['id']}/protected-resources/"
        servers = [self.get(base + s["id"], type="MCP_SERVER").json() for s in self.mcp_servers()]
        return {"domain": self.domain_doc(), "mcp_servers": servers}


class Apim:
    def __init__(self, real):
        self.base = real.urls["apim"] + "/management/v2/organizations/DEFAULT/environments/DEFAULT"
        self.gateway = real.urls["apim_gateway"]
        self.auth = APIM_ADMIN

    def call(self, method: str, path: str, **keywords) -> requests.Response:
        return requests.request(method, self.base + path, auth=self.auth, timeout=TIMEOUT, **keywords)

    def create_proxy_api(self, name: str, context_path: str, target: str) -> dict[str, Any]:
        """A V4 HTTP PROXY API (open source: http-proxy entrypoint and endpoint), made here because the collection's
        apim_api manages MCP_PROXY APIs only."""
        body = {
            "name": name, "apiVersion": "1.0", "definitionVersion": "V4", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": context_path}], "entrypoints": [{"type": "http-proxy"}]}],
            "endpointGroups": [{"name": "default-group", "type": "http-proxy", "endpoints": [
                {"name": "default", "type": "http-proxy", "weight": 1, "inheritConfiguration": False,
                 "configuration": {"target": target}}]}],
        }
        response = self.call("POST", "/apis", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def api(self, api_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/apis/{api_id}")
        response.raise_for_status()
        return response.json()

    def plans(self, api_id: str) -> list[dict[str, Any]]:
        response = self.call("GET", f"/apis/{api_id}/plans", params={"statuses": "STAGING,PUBLISHED,DEPRECATED,CLOSED", "perPage": 100})
        response.raise_for_status()
        return sorted(response.json()["data"], key=lambda p: p["id"])

    def snapshot(self, api_id: str) -> dict[str, Any]:
        return {"api": self.api(api_id), "plans": self.plans(api_id)}

    def subscribe_client_id(self, api_id: str, client_id: str) -> dict[str, Any]:
        """An application whose OAuth client id is ``client_id``, subscribed to the API's published OAuth2 plan.

        On a V4 PROXY API the OAuth2 policy (5.1.4) lets a token in only with a subscription for the client id AM's
        introspection states; for a token asked with ``resource`` AM states the resource identifier there
        (DIFFERENCES.md D3). An MCP_PROXY API needs no subscription."""
        v1 = self.base.replace("/management/v2/", "/management/", 1)
        app = requests.post(v1 + "/applications", auth=self.auth, timeout=TIMEOUT, json={
            "name": "client " + client_id, "description": "real tier", "settings": {"app": {"client_id": client_id}}})
        assert app.status_code == 201, app.text
        (oauth2,) = [p for p in self.plans(api_id) if p["security"]["type"] == "OAUTH2" and p["status"] == "PUBLISHED"]
        subscription = self.call("POST", f"/apis/{api_id}/subscriptions",
                                 json={"planId": oauth2["id"], "applicationId": app.json()["id"]})
        assert subscription.status_code == 201, subscription.text
        return subscription.json()

    def delete_api(self, api_id: str) -> None:
        self.call("POST", f"/apis/{api_id}/_stop")
        self.call("DELETE", f"/apis/{api_id}", params={"closePlans": "true"})
