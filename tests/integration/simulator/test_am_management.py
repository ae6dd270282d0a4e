"""The simulated AM Management API behaves as AM 4.10 / 4.12 do (rules: shared/gravitee/am-management-api.md).

Successful calls, checked against the real OpenAPI specs on the way; the error answers are in
``test_am_management_errors.py``.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV


def is_412(sim) -> bool:
    return sim.profile == "4.12"


# --- authentication ------------------------------------------------------------------------------
def test_token_is_a_jwt_with_java_date_expiry(sim):
    response = requests.post(f"{sim.urls['am']}/management/auth/token", auth=("admin", "adminadmin"), json={"ignored": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", body["expires_at"])


def test_token_with_bad_credentials_is_a_basic_challenge(sim):
    response = requests.post(f"{sim.urls['am']}/management/auth/token", auth=("admin", "wrong"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Gravitee.io AM Management API"'


def test_account_access_token_without_a_dot_authenticates(am):
    claims = am.headers["Authorization"].split(".")[1]
    user_id = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
    created = am.call("POST", f"/management/organizations/DEFAULT/users/{user_id}/tokens", json={"name": "ansible"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert "." not in token
    listed = am.call("GET", f"/management/organizations/DEFAULT/users/{user_id}/tokens").json()
    assert [t["name"] for t in listed] == ["ansible"] and "token" not in listed[0]
    response = requests.get(f"{am.base}{ORG_ENV}/domains/_hrid/mcp", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


# --- domains -------------------------------------------------------------------------------------
def test_seeded_domain_found_by_hrid_and_id(am, domain):
    assert (domain["name"], domain["hrid"], domain["path"], domain["enabled"]) == ("mcp", "mcp", "/mcp", True)
    assert domain["referenceType"] == "environment"
    assert am.call("GET", am.domain_path(domain["id"])).json()["id"] == domain["id"]


def test_domain_search_is_exact_unless_star(am):
    am.call("POST", f"{ORG_ENV}/domains", json={"name": "My MCP Domain", "dataPlaneId": "default"}).raise_for_status()

    def names(q):
        body = am.call("GET", f"{ORG_ENV}/domains", params={"q": q}).json()
        assert set(body) == {"data", "currentPage", "totalCount"}
        return sorted(d["name"] for d in body["data"])

    assert names("my-mcp-domain") == ["My MCP Domain"]  # by hrid
    assert names("My MCP") == []  # exact only
    assert names("my*") == ["My MCP Domain"]  # '*' makes a case-insensitive prefix regex
    assert names("m*") == ["My MCP Domain", "mcp"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_domain_patch_and_put_are_both_partial(am, domain, method):
    response = am.patch_domain(
        domain["id"],
        {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": True, "defaultScopes": ["openid"]}}},
        method=method,
    )
    assert response.status_code == 200
    dcr = response.json()["oidc"]["clientRegistrationSettings"]
    assert dcr["isDynamicClientRegistrationEnabled"] is True and dcr["defaultScopes"] == ["openid"]
    assert dcr["allowLocalhostRedirectUri"] is False  # untouched
    assert response.json()["description"] == domain["description"]  # absent key: unchanged


def test_new_domain_has_the_14_system_scopes_of_ams_scope_enum(am):
    created = am.call("POST", f"{ORG_ENV}/domains", json={"name": "Scoped", "dataPlaneId": "default"})
    assert created.status_code == 201
    assert created.headers["Location"] == f"{am.base}/organizations/DEFAULT/environments/DEFAULT/domains/{created.json()['id']}"
    scopes = am.call("GET", am.domain_path(created.json()["id"]) + "/scopes").json()
    assert scopes["totalCount"] == 14
    by_key = {s["key"]: s for s in scopes["data"]}
    assert sorted(by_key) == sorted([
        "profile", "full_profile", "email", "address", "phone", "openid", "offline_access", "dcr", "dcr_admin", "scim",
        "uma_protection", "consent_admin", "groups", "roles"])
    assert all(s["system"] for s in scopes["data"])
    assert by_key["openid"]["name"] == "Openid" and by_key["openid"]["discovery"] is True
    assert by_key["dcr_admin"]["discovery"] is False


def test_domains_are_listed_by_name_ignoring_case(am):
    for name in ("beta", "Alpha", "gamma"):
        am.call("POST", f"{ORG_ENV}/domains", json={"name": name, "dataPlaneId": "default"}).raise_for_status()
    names = [d["name"] for d in am.call("GET", f"{ORG_ENV}/domains").json()["data"]]
    assert names == sorted(names, key=str.lower) and names.index("Alpha") < names.index("beta")


def test_renaming_a_domain_recomputes_its_hrid(am):
    created = am.call("POST", f"{ORG_ENV}/domains", json={"name": "First Name", "dataPlaneId": "default"}).json()
    renamed = am.patch_domain(created["id"], {"name": "Second Name"}).json()
    assert renamed["hrid"] == "second-name"
    assert am.call("GET", f"{ORG_ENV}/domains/_hrid/second-name").status_code == 200


# --- MCP servers: create -------------------------------------------------------------------------
def test_create_mcp_server_returns_the_secret_once(sim, am, domain):
    response = am.create_mcp_server(
        domain["id"], resourceIdentifiers=["HTTPS://GW.Example.com/Weather"], clientId="weather-mcp",
        description="  Weather tools  ",
        features=[{"type": "MCP_TOOL", "key": "get_weather", "description": "Forecast", "scopes": ["unknown:scope"]}],
    )
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "name", "clientId", "clientSecret"}
    assert created["clientId"] == "weather-mcp" and created["clientSecret"]
    # JAX-RS resolves the absolute path against the base URI: /management is lost (seen on AM 4.10.20)
    assert response.headers["Location"] == (
        f"{am.base}/organizations/DEFAULT/environments/DEFAULT/domains/{domain['id']}/protected-resources/{created['id']}"
    )
    read = am.call("GET", f"{am.resources_path(domain['id'])}/{created['id']}", params={"type": "MCP_SERVER"}).json()
    assert read["type"] == "mcp_server"
    assert read["resourceIdentifiers"] == ["https://gw.example.com/weather"]  # lower-cased
    assert read["description"] == "Weather tools"
    assert read["features"][0]["type"] == "mcp_tool" and read["features"][0]["scopes"] == ["unknown:scope"]
    assert "clientSecret" not in read and created["clientSecret"] not in json.dumps(read)
    if is_412(sim):
        assert read["settings"]["oauth"]["tokenEndpointAuthMethod"] == "client_secret_basic"
        assert read["settings"]["oauth"]["grantTypes"] == ["client_credentials"]
        assert "clientSecret" not in read["settings"]["oauth"]
    else:
        assert "settings" not in read and "secretSettings" not in read


def test_features_come_back_sorted_by_key_ignoring_case(am, domain):
    tools = [{"type": "MCP_TOOL", "key": key, "scopes": []} for key in ("zeta", "Beta", "alpha", "_x")]
    created = am.create_mcp_server(domain["id"], features=tools).json()
    path = f"{am.resources_path(domain['id'])}/{created['id']}"
    response = am.call("GET", path, params={"type": "MCP_SERVER"})
    read = response.json()
    assert [f["key"] for f in read["features"]] == ["_x", "alpha", "Beta", "zeta"]
    # Jackson writes the subtype id, then the type enum: "type" twice per feature (seen on AM 4.10.20)
    assert response.text.count('{"type":"MCP_TOOL","key":') == 4 and response.text.count('"type":"mcp_tool"') == 4
    patched = am.call("PATCH", path, json={"features": [{"type": "MCP_TOOL", "key": "b"}, {"type": "MCP_TOOL", "key": "A"}]})
    assert [f["key"] for f in patched.json()["features"]] == ["A", "b"]


def test_an_identifier_with_spaces_is_refused(am, domain):
    response = am.create_mcp_server(domain["id"], resourceIdentifiers=[" https://totrim.example.com  "])
    assert response.status_code == 400
    assert response.json()["message"] == "[ https://totrim.example.com  : Invalid URL]"


def test_list_sort_by_name_or_updated_at(am, domain):
    for name in ("b-server", "a-server", "c-server"):
        am.create_mcp_server(domain["id"], name=name, resourceIdentifiers=[f"https://gw.example.com/{name}"])

    def names(sort=None):
        params = {"type": "MCP_SERVER", **({"sort": sort} if sort else {})}
        return [s["name"] for s in am.call("GET", am.resources_path(domain["id"]), params=params).json()["data"]]
    assert names() == ["c-server", "a-server", "b-server"] == names("updatedAt.desc")
    assert names("name") == ["a-server", "b-server", "c-server"] == names("name.asc")
    assert names("name.desc") == ["c-server", "b-server", "a-server"]
    assert names("createdAt.asc") == ["b-server", "a-server", "c-server"]  # JDBC: any other field is updatedAt


def test_generated_client_id_and_secret(am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    assert len(created["clientId"]) >= 16 and len(created["clientSecret"]) >= 16


# --- MCP servers: read, list ---------------------------------------------------------------------
def test_list_is_paged(am, domain):
    for index in range(3):
        am.create_mcp_server(domain["id"], name=f"server {index}", resourceIdentifiers=[f"https://gw.example.com/{index}"])
    body = am.call("GET", am.resources_path(domain["id"]), params={"type": "MCP_SERVER", "page": 1, "size": 2}).json()
    assert body["currentPage"] == 1 and body["totalCount"] == 3 and len(body["data"]) == 1
    assert "clientSecret" not in body["data"][0]


def test_list_query_q_only_from_411(sim, am, domain):
    am.create_mcp_server(domain["id"], name="Weather", clientId="weather").raise_for_status()
    am.create_mcp_server(domain["id"], name="Files", clientId="files", resourceIdentifiers=["https://gw.example.com/f"])
    path = am.resources_path(domain["id"])
    if is_412(sim):
        # q searches clientId or name, exactly but ignoring case, or as a '*' prefix; type is required with q too.
        def names(q):
            return [r["name"] for r in am.call("GET", path, params={"q": q, "type": "MCP_SERVER"}).json()["data"]]

        assert names("weather") == ["Weather"] and names("WEATHER") == ["Weather"] and names("files") == ["Files"]
        assert names("fi*") == ["Files"] and names("weath") == []
        assert am.call("GET", path, params={"q": "weather"}).status_code == 500
    else:
        body = am.call("GET", path, params={"q": "weather", "type": "MCP_SERVER"}).json()
        assert body["totalCount"] == 2  # 4.10 has no q: it is ignored
