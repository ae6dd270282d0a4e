"""am_mcp_server as real Ansible tasks against the simulated AM, on the 4.10 and 4.12 profiles.

The guide's step "AM: create the MCP Server resource": create, change, a second run that changes
nothing and sends no write, check mode, diff, delete, bad input, and the client secret that AM
shows only once.
"""

from __future__ import annotations

import requests

from tests.integration.am_support import (
    AmAdmin,
    am_writes,
    call_shape,
    contains_null,
    runs_per_task,
    successful_writes,
    task,
)
from tests.integration.ansible_run import run_tasks

URL = "https://gw.example.com/weather-mcp"
URL_2 = "https://gw2.example.com/weather-mcp"
GIVEN_SECRET = "Given-Secret-7d1c9e44b2a6"


def mcp(name, args, **keywords):
    return task("am_mcp_server", name, {"domain": "mcp", **args}, **keywords)


WEATHER = {
    "name": "Weather MCP",
    "resource_identifiers": URL,
    "client_id": "weather-mcp",
    "client_secret": GIVEN_SECRET,
    "description": "Forecasts",
    "tools": [{"key": "get_forecast", "description": "Forecast for a city", "scopes": ["mcp:tools"]}],
}
WEATHER_V2 = dict(
    WEATHER,
    description="Forecasts and alerts",
    resource_identifiers=[URL, URL_2.upper().replace("HTTPS://", "https://")],
    tools=[
        {"key": "set_alert", "scopes": ["mcp:tools", "openid"]},
        {"key": "get_forecast", "description": "Forecast for a city", "scopes": ["mcp:tools"]},
    ],
)


def test_create_update_rerun_check_mode_and_delete(sim):
    run = run_tasks(sim, [mcp("create", WEATHER), mcp("update", WEATHER_V2)], diff=True)
    assert run.rc == 0, run.stdout
    create, update = run.results

    assert create.changed
    server = create.result["mcp_server"]
    assert (server["clientId"], server["name"], server["description"]) == ("weather-mcp", "Weather MCP", "Forecasts")
    assert server["resourceIdentifiers"] == [URL]
    assert [(t["key"], t["scopes"], t["type"]) for t in server["features"]] == [("get_forecast", ["mcp:tools"], "mcp_tool")]
    assert create.result["id"] == server["id"] and create.result["client_id"] == "weather-mcp"
    assert "client_secret" not in create.result  # given by the user: never echoed
    assert create.result["diff"]["before"] == {} and create.result["diff"]["after"]["clientId"] == "weather-mcp"

    assert update.changed
    assert update.result["diff"]["before"]["description"] == "Forecasts"
    assert update.result["diff"]["after"]["description"] == "Forecasts and alerts"
    assert update.result["mcp_server"]["resourceIdentifiers"] == sorted([URL, URL_2])
    assert [t["key"] for t in update.result["mcp_server"]["features"]] == ["get_forecast", "set_alert"]
    assert any("lower-cased" in w for w in update.result.get("warnings", []))  # the capitalised identifier

    post, patch = am_writes(sim)
    assert (post["method"], post["status"]) == ("POST", 201)
    assert post["body"] == {
        "name": "Weather MCP",
        "type": "MCP_SERVER",
        "resourceIdentifiers": [URL],
        "description": "Forecasts",
        "clientId": "weather-mcp",
        "clientSecret": GIVEN_SECRET,
        "features": [{"type": "MCP_TOOL", "key": "get_forecast", "scopes": ["mcp:tools"], "description": "Forecast for a city"}],
    }
    assert (patch["method"], patch["status"]) == ("PATCH", 200)
    assert patch["path"].endswith("/protected-resources/" + server["id"])
    # Only the changed fields; the complete tool list; never the client id, the secret, a type of the server or a null.
    assert set(patch["body"]) == {"description", "resourceIdentifiers", "features"}
    assert patch["body"]["resourceIdentifiers"] == [URL, URL_2]
    assert {f["key"]: (f["type"], f["scopes"]) for f in patch["body"]["features"]} == {
        "set_alert": ("MCP_TOOL", ["mcp:tools", "openid"]),
        "get_forecast": ("MCP_TOOL", ["mcp:tools"]),
    }
    assert not contains_null(post["body"]) and not contains_null(patch["body"])

    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            mcp("same again", WEATHER_V2),
            mcp("tools in another order, another secret", dict(WEATHER_V2, tools=WEATHER_V2["tools"][::-1], client_secret="x-other")),
            mcp("check: rename", dict(WEATHER_V2, name="Weather"), check_mode=True, diff=True),
            mcp("check: create", {"name": "Other", "resource_identifiers": "https://gw.example.com/other", "client_id": "other"}, check_mode=True, diff=True),
            mcp("check: delete", {"client_id": "weather-mcp", "state": "absent"}, check_mode=True, diff=True),
        ],
    )
    assert run.rc == 0, run.stdout
    again, reordered, rename, create_other, delete = run.results
    assert not again.changed and not reordered.changed
    assert again.result["mcp_server"]["id"] == server["id"]
    assert rename.changed and rename.result["mcp_server"]["name"] == "Weather"
    assert rename.result["diff"]["before"]["name"] == "Weather MCP" and rename.result["diff"]["after"]["name"] == "Weather"
    assert create_other.changed and create_other.result["mcp_server"]["clientId"] == "other"
    assert "id" not in create_other.result and "client_secret" not in create_other.result
    assert delete.changed and delete.result["diff"]["after"] == {} and delete.result["mcp_server"] == {}
    assert am_writes(sim) == []
    # A run that changes nothing: the token, the domain by hrid, the MCP server narrowed by client id.
    first = [call_shape(r) for r in runs_per_task(sim)[0]]
    domain_id = AmAdmin(sim).domain()["id"]
    assert first == [
        ("POST", "/management/auth/token"),
        ("GET", "/domains/_hrid/mcp"),
        ("GET", f"/domains/{domain_id}/protected-resources?type=MCP_SERVER&q=weather-mcp&page=0&size=100"),
    ]

    sim.clear_requests()
    run = run_tasks(sim, [mcp("delete", {"client_id": "weather-mcp", "state": "absent"})] * 2, diff=True)
    assert run.rc == 0, run.stdout
    assert run[0].changed and run[0].result["diff"]["before"]["clientId"] == "weather-mcp"
    assert not run[1].changed
    assert [call_shape(w) for w in am_writes(sim)] == [
        ("DELETE", f"/domains/{domain_id}/protected-resources/{server['id']}?type=MCP_SERVER")
    ]
    assert AmAdmin(sim).mcp_servers(domain_id) == []


def test_generated_secret_is_returned_once_and_never_printed(sim, tmp_path):
    secret_file, client_file = tmp_path / "secret", tmp_path / "client_id"
    generated = {"name": "Generated", "resource_identifiers": [URL]}
    # The given secrets come from the environment, as from a vault: Ansible shows the playbook lines
    # around a failed task, and a secret written in them would be shown by Ansible, not by the module.
    secrets = {"GIVEN_SECRET": GIVEN_SECRET, "OTHER_SECRET": "Another-Given-Secret-55aa"}
    given = {
        "name": "Given",
        "resource_identifiers": [URL_2],
        "client_id": "given-mcp",
        "client_secret": "{{ lookup('env', 'GIVEN_SECRET') }}",
    }
    run = run_tasks(
        sim,
        [
            mcp("create, AM generates the credentials", generated, register="created", no_log=True),
            {
                "name": "keep the secret",
                "ansible.builtin.copy": {"content": "{{ created.client_secret }}", "dest": str(secret_file)},
                "no_log": True,
            },
            {"name": "keep the client id", "ansible.builtin.copy": {"content": "{{ created.client_id }}", "dest": str(client_file)}},
            mcp("found again by its identifier", generated),
            mcp("create with a given secret", given),
            mcp("another secret for an existing server", dict(given, client_secret="{{ lookup('env', 'OTHER_SECRET') }}")),
            mcp("fails with a secret given", dict(given, resource_identifiers="not a url"), ignore_errors=True),
        ],
        verbosity=3,
        diff=True,
        extra_env=secrets,
    )
    assert run.rc == 0, run.stdout
    secret, client_id = secret_file.read_text(), client_file.read_text()
    assert len(secret) >= 16 and client_id
    created, _keep_secret, _keep_id, found, with_given, other_secret, failed = run.results
    assert created.changed and created.result.get("censored")  # no_log hides the whole result
    assert not found.changed and "client_secret" not in found.result  # never again after creation
    assert found.result["client_id"] == client_id
    assert with_given.changed and "client_secret" not in with_given.result
    assert not other_secret.changed  # a secret can't be compared: no change reported, nothing sent
    assert failed.failed and "resource_identifiers" in failed.msg
    for value in (secret, *secrets.values()):
        assert value not in run.stdout and value not in run.stderr
    assert all("clientSecret" not in (w["body"] or {}) for w in am_writes(sim) if w["method"] == "PATCH")

    # The secret returned is the one AM keeps: the AM gateway authenticates the MCP server's client with it.
    introspect = f"{sim.urls['am_gateway']}/mcp/oauth/introspect"
    good = requests.post(introspect, auth=(client_id, secret), data={"token": "unknown"}, timeout=10)
    bad = requests.post(introspect, auth=(client_id, secret + "x"), data={"token": "unknown"}, timeout=10)
    assert (good.status_code, good.json()) == (200, {"active": False})
    assert bad.status_code == 401


def test_found_by_identifier_without_client_id_and_by_id(sim):
    admin = AmAdmin(sim)
    domain_id = admin.domain()["id"]
    existing = admin.create_mcp_server(domain_id, name="Existing", resourceIdentifiers=[URL], clientId="existing-mcp")
    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            mcp("by identifier, written differently", {"name": "Existing", "resource_identifiers": " HTTPS://GW.EXAMPLE.COM/weather-mcp "}),
            mcp("by id", {"id": existing["id"], "name": "Existing", "resource_identifiers": URL, "description": "Now described"}),
            mcp("by id, absent", {"id": "0" * 32, "state": "absent"}),
        ],
    )
    assert run.rc == 0, run.stdout
    by_identifier, by_id, absent = run.results
    assert not by_identifier.changed and by_identifier.result["client_id"] == "existing-mcp"
    assert by_id.changed and by_id.result["mcp_server"]["description"] == "Now described"
    assert not absent.changed
    assert [(w["method"], w["body"]) for w in am_writes(sim)] == [("PATCH", {"description": "Now described"})]


def test_finds_a_server_beyond_the_first_page(sim):
    admin = AmAdmin(sim)
    domain_id = admin.domain()["id"]
    for number in range(105):
        admin.create_mcp_server(domain_id, name=f"s{number}", resourceIdentifiers=[f"https://gw.example.com/s{number}"], clientId=f"s{number}")
    sim.clear_requests()
    # The list is sorted by updatedAt, newest first: the first server created is on the second page.
    run = run_tasks(
        sim,
        [
            mcp("by client id", {"name": "s0", "resource_identifiers": "https://gw.example.com/s0", "client_id": "s0"}),
            mcp("by identifier", {"name": "s1", "resource_identifiers": "https://gw.example.com/s1"}),
        ],
    )
    assert run.rc == 0, run.stdout
    assert not run[0].changed and not run[1].changed
    assert am_writes(sim) == []
    pages = [r["query"] for r in sim.requests("am") if r["path"].endswith("/protected-resources")]
    assert any("page=1" in q for q in pages)


def test_bad_input_fails_with_a_clear_message_and_no_write(sim):
    admin = AmAdmin(sim)
    domain_id = admin.domain()["id"]
    admin.create_mcp_server(domain_id, name="Taken", resourceIdentifiers=[URL], clientId="taken-mcp")
    sim.clear_requests()
    other = {"name": "Other", "client_id": "other-mcp"}
    cases = [
        ("unknown domain", {"domain": "no-such-domain", "name": "X", "resource_identifiers": URL_2}, ["domain", "'no-such-domain'"]),
        ("identifier not a URL", dict(other, resource_identifiers="weather mcp"), ["resource_identifiers", "'weather mcp'"]),
        ("identifier with a fragment", dict(other, resource_identifiers=URL_2 + "#tools"), ["resource_identifiers", "fragment"]),
        ("identifier not http", dict(other, resource_identifiers="ftp://gw.example.com/mcp"), ["resource_identifiers", "http(s)"]),
        ("identifier of another MCP server", dict(other, resource_identifiers=[URL_2, URL]), ["resource_identifiers", URL, "'Taken'"]),
        ("another client id for an existing server", dict(other, resource_identifiers=URL), ["client_id", "'taken-mcp'", "can't change"]),
        ("no such id", {"id": "0" * 32, "name": "X", "resource_identifiers": URL_2}, ["id", "0" * 32]),
        ("bad tool key", dict(other, resource_identifiers=URL_2, tools=[{"key": "get forecast"}]), ["tools[0].key"]),
        ("tool twice", dict(other, resource_identifiers=URL_2, tools=[{"key": "a"}, {"key": "a"}]), ["tools[1].key", "twice"]),
        ("name too long", dict(other, resource_identifiers=URL_2, name="n" * 65), ["name", "64"]),
        ("nothing to find it by", {"state": "absent"}, ["client_id", "resource_identifiers", "id"]),
        ("wrong credentials", dict(other, resource_identifiers=URL_2, password="wrong-password-123"), ["401", "credentials"]),
    ]
    tasks = []
    for name, args, _expected in cases:
        args = {"domain": "mcp", **args}
        tasks.append(task("am_mcp_server", name, args, ignore_errors=True))
    run = run_tasks(sim, tasks)
    assert run.rc == 0, run.stdout
    for (name, _args, expected), result in zip(cases, run.results):
        assert result.failed, name
        for text in expected:
            assert text in result.msg, (name, result.msg)
        assert "Traceback" not in result.msg
    assert "wrong-password-123" not in run.stdout
    assert am_writes(sim) == []
    # Input errors are found before any request; the unknown domain only after the lookups that could find it: by hrid,
    # by name, by id last (AM answers that one 403).
    assert [call_shape(r) for r in runs_per_task(sim)[0]] == [
        ("POST", "/management/auth/token"),
        ("GET", "/domains/_hrid/no-such-domain"),
        ("GET", "/domains?q=no-such-domain&page=0&size=50"),
        ("GET", "/domains/no-such-domain"),
    ]


def test_a_client_id_differing_only_in_case_does_not_hide_the_holder_of_the_identifier(sim):
    """AM's q matches client ids ignoring case: its answer for weather-mcp can hold Weather-MCP alone, which is no
    list of every MCP server; the holder of the identifier is found by listing them all, before any write."""
    admin = AmAdmin(sim)
    domain_id = admin.domain()["id"]
    admin.create_mcp_server(domain_id, name="Case variant", resourceIdentifiers=[URL_2], clientId="Weather-MCP")
    admin.create_mcp_server(domain_id, name="Holder", resourceIdentifiers=[URL], clientId="holder-mcp")
    sim.clear_requests()
    run = run_tasks(sim, [mcp("create", dict(WEATHER, client_secret=None), ignore_errors=True)])
    (create,) = run.results
    assert create.failed and "'Holder'" in create.msg and "'holder-mcp'" in create.msg, create.msg
    assert am_writes(sim) == []


def test_server_side_refusals_name_the_option(sim):
    """What only AM can check: a client id used by an application, a tool scope missing from the domain."""
    run = run_tasks(
        sim,
        [
            task("am_domain_settings", "open registration", {"domain": "mcp", "dynamic_client_registration": {"enabled": True, "open": True}}),
            mcp("an MCP server", {"name": "Weather", "resource_identifiers": URL, "client_id": "weather-mcp"}),
        ],
    )
    assert run.rc == 0, run.stdout
    registration = requests.post(
        f"{sim.urls['am_gateway']}/mcp/oidc/register", json={"redirect_uris": ["https://client.example.com/cb"]}, timeout=10
    )
    application_client_id = registration.json()["client_id"]
    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            mcp("client id of an application", {"name": "X", "resource_identifiers": URL_2, "client_id": application_client_id}, ignore_errors=True),
            mcp(
                "a scope the domain lacks",
                {"name": "Weather", "resource_identifiers": URL, "client_id": "weather-mcp", "tools": [{"key": "t", "scopes": ["no:such"]}]},
                ignore_errors=True,
            ),
        ],
    )
    taken, scope = run.results
    assert taken.failed and "client_id" in taken.msg and "HTTP 400" in taken.msg and "already exists" in taken.msg
    assert scope.failed and "tools" in scope.msg and "scopes" in scope.msg
    assert successful_writes(sim) == []
    domain_id = AmAdmin(sim).domain()["id"]
    assert [s["clientId"] for s in AmAdmin(sim).mcp_servers(domain_id)] == ["weather-mcp"]


def test_unknown_domain_and_server_ids_are_named_as_missing_not_as_a_permission_problem(sim):
    """Real AM (4.10.20) answers 403 "Permission denied" to a GET of a domain or MCP server id it does not know (its
    permission check resolves the id first); _hrid answers 404, and ?q= finds a domain by name. The module reads a 403
    on an id as "no such object (or no permission)", names the option, and still finds what exists."""
    admin = AmAdmin(sim)
    domain = admin.domain()
    existing = admin.create_mcp_server(domain["id"], name="Existing", resourceIdentifiers=[URL], clientId="existing-mcp")
    sim.clear_requests()
    missing_id = "0" * 32
    run = run_tasks(sim, [
        mcp("domain by id", {"domain": domain["id"], "name": "Existing", "resource_identifiers": URL}),
        mcp("domain with other capitals", {"domain": "MCP", "name": "X", "resource_identifiers": URL_2}, ignore_errors=True),
        mcp("no such domain id", {"domain": "f" * 32, "name": "X", "resource_identifiers": URL_2}, ignore_errors=True),
        mcp("no such server id", {"id": missing_id, "name": "X", "resource_identifiers": URL_2}, ignore_errors=True),
        mcp("no such server id, absent", {"id": missing_id, "state": "absent"}),
        mcp("server by id", {"id": existing["id"], "name": "Existing", "resource_identifiers": URL}),
    ])
    assert run.rc == 0, run.stdout
    by_domain_id, capitals, no_domain, no_server, absent, by_id = run.results
    assert not by_domain_id.failed and not by_domain_id.changed, by_domain_id.msg
    assert capitals.failed and "domain: no AM domain named 'MCP'" in capitals.msg
    assert "did you mean the domain named 'mcp'" in capitals.msg
    assert no_domain.failed and "domain: no AM domain named '%s'" % ("f" * 32) in no_domain.msg
    assert "or no permission to read it" in no_domain.msg
    assert no_server.failed and "id: no MCP server with id '%s'" % missing_id in no_server.msg
    assert "or no permission to read it" in no_server.msg
    for result in (capitals, no_domain, no_server):
        assert "lack the permission" not in result.msg and "Traceback" not in result.msg, result.msg
    assert not absent.failed and not absent.changed, absent.msg
    assert not by_id.failed and not by_id.changed, by_id.msg
    assert am_writes(sim) == []
    # A domain given by its id is read with one GET.
    domain_reads = [r for r in sim.requests("am") if r["method"] == "GET" and r["path"].endswith("/domains/" + domain["id"])]
    assert domain_reads
