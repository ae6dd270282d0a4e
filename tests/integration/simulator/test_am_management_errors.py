"""How the simulated AM Management API answers bad input, as AM 4.10 / 4.12 do.

These requests break the OpenAPI spec on purpose (bean validation, ``Malformed json``, explicit nulls in
a PATCH) or get answers the spec does not document (400/401/403/404/409/500 with AM's error entity).
The spec checker would answer the former itself, so this module runs against a simulator without spec
checks: the module's ``sim`` fixture overrides the shared one.
"""

from __future__ import annotations

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV
from tests.integration.simulator.conftest import PROFILES


@pytest.fixture(params=PROFILES, ids=lambda p: f"profile-{p}")
def sim(request, unchecked_simulators):
    simulator = unchecked_simulators(request.param)
    simulator.reset()
    return simulator


def is_412(sim) -> bool:
    return sim.profile == "4.12"


@pytest.mark.parametrize("authorization", [None, "Bearer not.a.jwt", "Bearer unknown-account-token", "Basic YWRtaW46YWRtaW5hZG1pbg=="])
def test_rest_calls_need_a_valid_bearer_token(sim, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(f"{sim.urls['am']}{ORG_ENV}/domains", headers=headers)
    assert response.status_code == 401
    assert response.json()["http_status"] == 401 and response.json()["message"]


def test_other_organisation_is_permission_denied_before_existence(am):
    response = am.call("GET", "/management/organizations/OTHER/environments/DEFAULT/domains/nope")
    assert response.status_code == 403
    assert response.json() == {"message": "Permission denied", "http_status": 403}


def test_unknown_domain_id_is_permission_denied_and_unknown_hrid_is_404(am):
    # Real AM 4.10.20: the permission check resolves the id's parent first; an unknown id is "inconsistent" (403).
    response = am.call("GET", am.domain_path("missing-id"))
    assert response.status_code == 403
    assert response.json() == {"message": "Permission denied", "http_status": 403}
    for path in ("/scopes", "/applications", "/identities", "/protected-resources?type=MCP_SERVER"):
        assert am.call("GET", am.domain_path("missing-id") + path).status_code == 403, path
    response = am.call("GET", f"{ORG_ENV}/domains/_hrid/missing-hrid")
    assert response.status_code == 404
    assert response.json()["message"] == "Domain [missing-hrid] can not be found."


def test_validation_and_empty_patches_come_before_the_permission_check(am):
    assert am.call("PATCH", am.domain_path("missing-id"), json={}).status_code == 400
    assert am.call("PATCH", am.domain_path("missing-id"), json={"nope": 1}).status_code == 400
    assert am.call("POST", am.resources_path("missing-id"), json={"name": "x"}).status_code == 400
    assert am.call("GET", am.resources_path("missing-id")).status_code == 500  # no type: before everything


def test_unknown_and_foreign_mcp_servers_and_applications_are_permission_denied(am, domain):
    other = am.call("POST", f"{ORG_ENV}/domains", json={"name": "Other Domain", "dataPlaneId": "default"}).json()
    server = am.create_mcp_server(other["id"]).json()
    app = am.call("POST", am.domain_path(other["id"]) + "/applications",
                  json={"name": "svc", "type": "SERVICE"}).json()
    typed = {"type": "MCP_SERVER"}
    for server_id in ("no-such-id", server["id"]):
        path = f"{am.resources_path(domain['id'])}/{server_id}"
        assert am.call("GET", path, params=typed).json() == {"message": "Permission denied", "http_status": 403}
        assert am.call("DELETE", path, params=typed).status_code == 403
        assert am.call("PATCH", path, json={"name": "x"}).status_code == 403
    for app_id in ("no-such-id", app["id"]):
        path = am.domain_path(domain["id"]) + "/applications/" + app_id
        assert am.call("GET", path).status_code == 403
        assert am.call("PATCH", path, json={"name": "x"}).status_code == 403
        assert am.call("DELETE", path).status_code == 403
    assert am.call("GET", f"{am.resources_path(other['id'])}/{server['id']}", params=typed).status_code == 200


def test_an_id_deleted_moments_ago_answers_404(am, domain):
    # PermissionService caches resolved parents 60 s: seen on AM 4.10.20, GET after DELETE is a 404.
    server = am.create_mcp_server(domain["id"]).json()
    path = f"{am.resources_path(domain['id'])}/{server['id']}"
    assert am.call("DELETE", path, params={"type": "MCP_SERVER"}).status_code == 204
    response = am.call("GET", path, params={"type": "MCP_SERVER"})
    assert response.status_code == 404
    assert response.json()["message"] == f"ProtectedResource [{server['id']}] can not be found."


def test_create_domain_is_disabled_with_hrid_path_and_unique(am):
    response = am.call("POST", f"{ORG_ENV}/domains", json={"name": "Équipe Données", "dataPlaneId": "default"})
    assert response.status_code == 201
    created = response.json()
    assert (created["hrid"], created["path"], created["enabled"]) == ("equipe-donnees", "/equipe-donnees", False)
    again = am.call("POST", f"{ORG_ENV}/domains", json={"name": "equipe donnees", "dataPlaneId": "default"})
    assert again.status_code == 400 and again.json()["message"] == "A domain [equipe donnees] already exists."
    assert am.call("DELETE", am.domain_path(created["id"])).status_code == 204
    assert am.call("GET", am.domain_path(created["id"])).status_code == 404


def test_domain_patch_only_accepts_the_is_prefixed_dcr_keys(am, domain):
    response = am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {"dynamicClientRegistrationEnabled": True}}})
    assert response.status_code == 400
    assert response.json()["message"] == "Property [dynamicClientRegistrationEnabled] is not recognized as a valid property"


def test_empty_domain_patch_is_refused(am, domain):
    response = am.patch_domain(domain["id"], {})
    assert response.status_code == 400
    assert response.json()["message"] == "You need to specify at least one value to update."


def test_explicit_nulls_in_domain_patch(am, domain):
    am.open_dcr(domain["id"], defaultScopes=["openid"])
    # A null boolean becomes false, a null list becomes null (absent from the NON_NULL output).
    body = am.patch_domain(
        domain["id"], {"oidc": {"clientRegistrationSettings": {"allowLocalhostRedirectUri": None, "defaultScopes": None}}}
    ).json()
    dcr = body["oidc"]["clientRegistrationSettings"]
    assert dcr["allowLocalhostRedirectUri"] is False and "defaultScopes" not in dcr
    assert dcr["isDynamicClientRegistrationEnabled"] is True
    # "clientRegistrationSettings": null resets DCR to defaults; "oidc": null resets all of OIDC.
    am.open_dcr(domain["id"])
    dcr = am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": None}}).json()["oidc"]["clientRegistrationSettings"]
    assert not any(dcr.values())
    am.patch_domain(domain["id"], {"oidc": {"redirectUriStrictMatching": True}})
    oidc = am.patch_domain(domain["id"], {"oidc": None}).json()["oidc"]
    assert oidc["redirectUriStrictMatching"] is False
    # "loginSettings": null is ignored.
    am.patch_domain(domain["id"], {"loginSettings": {"registerEnabled": True}})
    assert am.patch_domain(domain["id"], {"loginSettings": None}).json()["loginSettings"]["registerEnabled"] is True


def test_login_settings_patch_starts_from_model_defaults(sim, am, domain):
    body = am.patch_domain(domain["id"], {"loginSettings": {"registerEnabled": True}}).json()
    assert body["loginSettings"] == {"inherited": True, "registerEnabled": True}
    magic = am.patch_domain(domain["id"], {"loginSettings": {"magicLinkAuthEnabled": True}})
    assert magic.status_code == (200 if is_412(sim) else 400)


def test_unknown_top_level_domain_property_is_refused(am, domain):
    response = am.patch_domain(domain["id"], {"enabled": True, "colour": "blue"})
    assert response.status_code == 400
    assert response.json() == {"message": "Property [colour] is not recognized as a valid property", "http_status": 400}


def test_malformed_json_body(am, domain):
    response = am.call("PATCH", am.domain_path(domain["id"]), data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["message"] == "Malformed json"


def test_scopes_list_and_create(am, domain):
    path = f"{am.domain_path(domain['id'])}/scopes"
    keys = [s["key"] for s in am.call("GET", path, params={"size": 100}).json()["data"]]
    assert {"openid", "profile", "email", "mcp:tools"} <= set(keys)
    created = am.call("POST", path, json={"key": "files:read", "name": "Read files", "description": "Read files"})
    assert created.status_code == 201 and created.json()["key"] == "files:read"
    assert am.call("POST", path, json={"key": "files:read", "name": "x", "description": "x"}).status_code == 400
    missing = am.call("POST", path, json={"key": "files:write", "name": "Write files"})
    assert missing.status_code == 400 and missing.json()["message"] == "[description: must not be null]"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": "x" * 65}, "Name must be between 1 and 64 characters"),
        ({"name": " leading space"}, "Name must begin with a non-whitespace character"),
        ({"name": None}, "name: must not be blank"),
        ({"type": "mcp_server"}, "mcp_server: Available types: [MCP_SERVER]"),
        ({"type": None}, "type: must not be empty"),
        ({"resourceIdentifiers": []}, "[]: must not be empty"),
        ({"resourceIdentifiers": ["not a url"]}, "not a url: Invalid URL"),
        ({"resourceIdentifiers": ["https://gw.example.com/a#frag"]}, "Invalid URL"),
        ({"resourceIdentifiers": ["/relative/path"]}, "Invalid URL"),
        ({"features": [{"type": "MCP_TOOL", "key": "bad key!"}]}, "must match regex ^[a-zA-Z0-9_-]+$"),
    ],
)
def test_create_validation_messages(am, domain, fields, message):
    response = am.create_mcp_server(domain["id"], **fields)
    assert response.status_code == 400
    assert message in response.json()["message"] and response.json()["message"].startswith("[")


def test_create_refuses_unknown_properties_and_lower_case_feature_type(sim, am, domain):
    response = am.create_mcp_server(domain["id"], colour="blue")
    assert response.json()["message"] == "Property [colour] is not recognized as a valid property"
    response = am.create_mcp_server(domain["id"], features=[{"type": "mcp_tool", "key": "a"}])
    assert response.status_code == 400 and response.json()["message"] == "Malformed json"
    response = am.create_mcp_server(domain["id"], features=[{"key": "a"}])
    assert response.json()["message"] == "Malformed json"
    settings = am.create_mcp_server(domain["id"], settings={"oauth": {}}, resourceIdentifiers=["https://other.example.com/x"])
    assert settings.status_code == (201 if is_412(sim) else 400)


def test_resource_identifiers_are_unique_in_the_domain(am, domain):
    am.create_mcp_server(domain["id"], resourceIdentifiers=["https://gw.example.com/weather"]).raise_for_status()
    response = am.create_mcp_server(domain["id"], resourceIdentifiers=["HTTPS://GW.EXAMPLE.COM/weather"])
    assert response.status_code == 400
    assert response.json()["message"] == "Resource identifier already exists"


def test_client_id_is_unique_in_the_domain(am, domain):
    am.create_mcp_server(domain["id"], clientId="same").raise_for_status()
    response = am.create_mcp_server(domain["id"], clientId="same", resourceIdentifiers=["https://gw.example.com/other"])
    assert response.status_code == 400
    assert response.json()["message"] == f"A client [same] already exists for domain [{domain['id']}]"


def test_client_id_of_a_dcr_application_is_taken_too(am, domain):
    am.open_dcr(domain["id"])
    app_client_id = am.register_client().json()["client_id"]
    response = am.create_mcp_server(domain["id"], clientId=app_client_id)
    assert response.json()["message"] == f"A client [{app_client_id}] already exists for domain [{domain['id']}]"


def test_feature_keys_must_be_unique(am, domain):
    features = [{"type": "MCP_TOOL", "key": "tool"}, {"type": "MCP_TOOL", "key": "tool"}]
    response = am.create_mcp_server(domain["id"], features=features)
    assert response.status_code == 400 and response.json()["message"] == "Feature key names must be unique"


def test_unknown_domain_on_create(am):
    response = am.create_mcp_server("nope")
    assert response.status_code == 403 and response.json()["message"] == "Permission denied"


def test_type_query_parameter_is_required(am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    base = am.resources_path(domain["id"])
    for path in (base, f"{base}/{created['id']}"):
        missing = am.call("GET", path)
        assert missing.status_code == 500
        assert missing.json() == {"message": "Internal error", "http_status": 500}
        assert am.call("GET", path, params={"type": "mcp_server"}).status_code == 200  # any case
        assert am.call("GET", path, params={"type": "OTHER"}).status_code == 500
    assert am.call("DELETE", f"{base}/{created['id']}").status_code == 500


def test_get_unknown_mcp_server_is_permission_denied(am, domain):
    response = am.call("GET", f"{am.resources_path(domain['id'])}/nope", params={"type": "MCP_SERVER"})
    assert response.status_code == 403
    assert response.json()["message"] == "Permission denied"


def test_put_with_create_only_properties(sim, am, domain):
    created = am.create_mcp_server(domain["id"], clientId="fixed").json()
    body = {"name": "Renamed", "resourceIdentifiers": ["https://gw.example.com/weather"], "features": [],
            "clientId": "changed", "type": "MCP_SERVER"}
    response = am.call("PUT", f"{am.resources_path(domain['id'])}/{created['id']}", json=body)
    if is_412(sim):
        assert response.status_code == 200
        assert response.json()["clientId"] == "fixed" and response.json()["name"] == "Renamed"
    else:
        assert response.status_code == 400
        assert response.json()["message"] == "Property [clientId] is not recognized as a valid property"


def test_put_feature_type_case(sim, am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    body = {"name": "n", "resourceIdentifiers": ["https://gw.example.com/weather"],
            "features": [{"type": "mcp_tool", "key": "tool", "scopes": ["openid"]}]}
    response = am.call("PUT", f"{am.resources_path(domain['id'])}/{created['id']}", json=body)
    assert response.status_code == (200 if is_412(sim) else 400)
    if not is_412(sim):
        assert response.json()["message"] == "Malformed json"


def test_patch_rules(am, domain):
    created = am.create_mcp_server(
        domain["id"], features=[{"type": "MCP_TOOL", "key": "keep", "scopes": ["openid"]}]
    ).json()
    path = f"{am.resources_path(domain['id'])}/{created['id']}"
    before = am.call("GET", path, params={"type": "MCP_SERVER"}).json()

    empty = am.call("PATCH", path, json={})
    assert empty.status_code == 400 and empty.json()["message"] == "You need to specify at least one value to update."
    unknown = am.call("PATCH", path, json={"clientId": "x"})
    assert unknown.json()["message"] == "Property [clientId] is not recognized as a valid property"

    bad_scope = am.call("PATCH", path, json={"features": [{"type": "MCP_TOOL", "key": "keep", "scopes": ["nope"]}]})
    assert bad_scope.status_code == 400 and bad_scope.json()["message"] == "One or more scopes are not valid"

    features = [{"type": "MCP_TOOL", "key": "keep", "scopes": ["mcp:tools"]}, {"type": "MCP_TOOL", "key": "new"}]
    patched = am.call("PATCH", path, json={"description": "d", "features": features})
    assert patched.status_code == 200
    after = patched.json()
    assert after["name"] == before["name"] and after["description"] == "d"
    by_key = {f["key"]: f for f in after["features"]}
    assert by_key["keep"]["createdAt"] == before["features"][0]["createdAt"]  # kept per key
    assert by_key["keep"]["scopes"] == ["mcp:tools"]

    empty_ids = am.call("PATCH", path, json={"resourceIdentifiers": []})
    assert empty_ids.json()["message"] == "Field [resourceIdentifiers] must not be empty"


def test_patch_identifier_taken_by_another_server(am, domain):
    am.create_mcp_server(domain["id"], resourceIdentifiers=["https://gw.example.com/a"]).raise_for_status()
    other = am.create_mcp_server(domain["id"], resourceIdentifiers=["https://gw.example.com/b"]).json()
    path = f"{am.resources_path(domain['id'])}/{other['id']}"
    response = am.call("PATCH", path, json={"resourceIdentifiers": ["https://gw.example.com/A"]})
    assert response.status_code == 400 and response.json()["message"] == "Resource identifier already exists"


def test_delete(am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    path = f"{am.resources_path(domain['id'])}/{created['id']}"
    assert am.call("DELETE", path, params={"type": "MCP_SERVER"}).status_code == 204
    assert am.call("DELETE", path, params={"type": "MCP_SERVER"}).status_code == 404
    assert am.call("GET", path, params={"type": "MCP_SERVER"}).status_code == 404


def test_secrets_endpoints(sim, am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    path = f"{am.resources_path(domain['id'])}/{created['id']}/secrets"
    if not is_412(sim):
        assert am.call("GET", path).status_code == 404
        return
    listed = am.call("GET", path).json()
    assert [s["name"] for s in listed] == ["Default"] and "secret" not in listed[0]

    added = am.call("POST", path, json={"name": "rotation"})
    assert added.status_code == 201 and added.json()["secret"] and added.json()["name"] == "rotation"
    duplicate = am.call("POST", path, json={"name": "rotation"})
    assert duplicate.status_code == 400 and duplicate.json()["message"] == "Secret with description rotation already exists"
    assert am.call("POST", path, json={"name": " "}).status_code == 400

    renewed = am.call("POST", f"{path}/{added.json()['id']}/_renew")
    assert renewed.status_code == 200 and renewed.json()["secret"] not in (added.json()["secret"], None)

    unknown = am.call("DELETE", f"{path}/no-such-secret")
    assert unknown.status_code == 404 and unknown.json()["message"] == "Secret [no-such-secret] can not be found."
    default_id = listed[0]["id"]
    assert am.call("DELETE", f"{path}/{default_id}").status_code == 204
    last = am.call("DELETE", f"{path}/{added.json()['id']}")
    assert last.status_code == 400 and last.json()["message"] == "Cannot remove last secret"
    # deleteSecret counts the secrets before it looks for the one named: with one left, any id is refused
    unknown = am.call("DELETE", f"{path}/no-such-secret")
    assert unknown.status_code == 400 and unknown.json()["message"] == "Cannot remove last secret"


def test_secrets_are_capped(sim, am, domain):
    created = am.create_mcp_server(domain["id"]).json()
    path = f"{am.resources_path(domain['id'])}/{created['id']}/secrets"
    if not is_412(sim):  # AM 4.10 has no secrets endpoint, so no second secret at all
        assert am.call("POST", path, json={"name": "s0"}).status_code == 404
        return
    for index in range(9):
        am.call("POST", path, json={"name": f"s{index}"}).raise_for_status()
    response = am.call("POST", path, json={"name": "one too many"})
    assert response.status_code == 400  # TooManyClientSecretsException is a 400 in 4.10.20, 4.11.14 and 4.12.4
    assert response.json()["message"] == "Too many Client Secrets. Cannot create more than 10 secrets"


def test_new_domain_needs_a_name_and_a_data_plane(am):
    response = am.call("POST", f"{ORG_ENV}/domains", json={"name": "No plane"})
    assert response.status_code == 400 and response.json()["message"] == "[dataPlaneId: must not be null]"
    response = am.call("POST", f"{ORG_ENV}/domains", json={"dataPlaneId": "default"})
    assert response.status_code == 400 and response.json()["message"] == "[name: must not be blank]"
