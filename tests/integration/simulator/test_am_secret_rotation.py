"""Rotating an MCP server's client secret (AM 4.11+ ``protected-resources/{id}/secrets``): a new secret is
returned once, every unexpired secret authenticates at the same time (SecretService#validateSecret), and
a deleted or renewed secret stops working at once (the simulator has no gateway sync delay)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.simulator.test_am_gateway import RESOURCE, introspect, user_token
from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # the secrets sub-resource exists from AM 4.11 (tests/conftest.py)


@pytest.fixture
def dcr_client(am, domain) -> dict:
    am.open_dcr(domain["id"])
    response = am.register_client(token_endpoint_auth_method="none", grant_types=["authorization_code"], scope="openid")
    assert response.status_code == 201, response.text
    return response.json()


def client_credentials(am, client_id: str, secret: str) -> requests.Response:
    return requests.post(f"{am.gw()}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
                         timeout=10)


def test_old_and_new_secrets_work_together_until_the_old_one_is_deleted(sim, am, domain, dcr_client):
    if sim.profile == "4.10":
        pytest.skip("the secrets sub-resource exists from AM 4.11")
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    path = f"{am.resources_path(domain['id'])}/{server['id']}/secrets"
    token = user_token(am, dcr_client)["access_token"]
    old_secret = server["clientSecret"]

    added = am.call("POST", path, json={"name": "rotation-2026-12"})
    assert added.status_code == 201
    new_secret = added.json()["secret"]
    assert set(added.json()) == {"id", "settingsId", "name", "secret", "createdAt"}
    listed = am.call("GET", path).json()
    assert [s["name"] for s in listed] == ["Default", "rotation-2026-12"] and all("secret" not in s for s in listed)

    for secret in (old_secret, new_secret):
        assert introspect(am, token, server["clientId"], secret)["active"] is True
        assert client_credentials(am, server["clientId"], secret).status_code == 200

    default_id = next(s["id"] for s in listed if s["name"] == "Default")
    assert am.call("DELETE", f"{path}/{default_id}").status_code == 204
    refused = requests.post(f"{am.gw()}/oauth/introspect", data={"token": token}, auth=(server["clientId"], old_secret),
                            timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert introspect(am, token, server["clientId"], new_secret)["active"] is True


def test_renew_replaces_the_value_of_one_secret(sim, am, domain, dcr_client):
    if sim.profile == "4.10":
        pytest.skip("the secrets sub-resource exists from AM 4.11")
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    path = f"{am.resources_path(domain['id'])}/{server['id']}/secrets"
    default_id = am.call("GET", path).json()[0]["id"]
    renewed = am.call("POST", f"{path}/{default_id}/_renew")
    assert renewed.status_code == 200 and renewed.json()["id"] == default_id
    assert client_credentials(am, server["clientId"], server["clientSecret"]).status_code == 401
    assert client_credentials(am, server["clientId"], renewed.json()["secret"]).status_code == 200


def test_domain_expiry_settings_date_new_secrets(sim, am, domain):
    """SecretService#determinateExpireDate: the domain's enabled secretSettings give new secrets an expiresAt."""
    if sim.profile == "4.10":
        pytest.skip("the secrets sub-resource exists from AM 4.11")
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    path = f"{am.resources_path(domain['id'])}/{server['id']}/secrets"
    assert "expiresAt" not in am.call("GET", path).json()[0]
    am.patch_domain(domain["id"], {"secretSettings": {"enabled": True, "expiryTimeSeconds": 120}}).raise_for_status()
    before = time.time() * 1000
    added = am.call("POST", path, json={"name": "expiring"}).json()
    assert before + 115_000 < added["expiresAt"] < time.time() * 1000 + 125_000
    renewed = am.call("POST", f"{path}/{added['id']}/_renew").json()
    assert renewed["expiresAt"] >= added["expiresAt"]
    am.patch_domain(domain["id"], {"secretSettings": {"enabled": False}}).raise_for_status()
    assert "expiresAt" not in am.call("POST", path, json={"name": "forever"}).json()
