"""GraviteeModule: options and environment fallbacks, ensure() in check mode, diff masking, errors."""

from __future__ import annotations

import json

import pytest
from tests.unit.module_args import patch_module_args

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import (
    GraviteeModule,
    ModuleError,
    changed_keys,
    differs,
    merge,
    server_root,
)

ENV_VARS = [
    f"GRAVITEE_{product}_{name}"
    for product in ("APIM", "AM")
    for name in ("URL", "USERNAME", "PASSWORD", "TOKEN", "ORG", "ENV")
] + ["GRAVITEE_VALIDATE_CERTS", "GRAVITEE_CA_PATH"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def make_module(args, product="apim", spec=None):
    with patch_module_args(args):
        return GraviteeModule(product, spec or {"name": dict(type="str")})


def run_to_exit(args, main, capsys, product="apim"):
    """Run main through a module's run() and return the JSON result Ansible would receive."""
    with patch_module_args(args), pytest.raises(SystemExit):
        GraviteeModule(product, {"name": dict(type="str")}).run(main)
    return json.loads(capsys.readouterr().out)


class Calls:
    """Stand-in server callbacks for ensure(): records which were called."""

    def __init__(self):
        self.made = []

    def create(self, desired):
        self.made.append(("create", desired))
        return dict(desired, id="new-id")

    def update(self, current, changes):
        self.made.append(("update", changes))
        return merge(current, changes)

    def delete(self, current):
        self.made.append(("delete", current["id"]))


# -- options ---------------------------------------------------------------------------------------
def test_environment_fallbacks_fill_every_connection_option(monkeypatch):
    values = {
        "GRAVITEE_APIM_URL": "https://apim.example.com",
        "GRAVITEE_APIM_USERNAME": "svc",
        "GRAVITEE_APIM_PASSWORD": "pw",
        "GRAVITEE_APIM_TOKEN": "pat",
        "GRAVITEE_APIM_ORG": "ORG1",
        "GRAVITEE_APIM_ENV": "ENV1",
        "GRAVITEE_VALIDATE_CERTS": "false",
        "GRAVITEE_CA_PATH": "/etc/ca.pem",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    params = make_module({}).params
    assert (params["url"], params["username"], params["password"], params["token"]) == (
        "https://apim.example.com",
        "svc",
        "pw",
        "pat",
    )
    assert (params["organization"], params["environment"]) == ("ORG1", "ENV1")
    assert params["validate_certs"] is False
    assert params["ca_path"] == "/etc/ca.pem"


def test_am_modules_read_the_am_variables(monkeypatch):
    monkeypatch.setenv("GRAVITEE_AM_URL", "https://am.example.com")
    monkeypatch.setenv("GRAVITEE_APIM_URL", "https://apim.example.com")
    assert make_module({}, product="am").params["url"] == "https://am.example.com"


def test_options_win_over_environment(monkeypatch):
    monkeypatch.setenv("GRAVITEE_APIM_URL", "https://from-env.example.com")
    assert make_module({"url": "https://given.example.com"}).params["url"] == "https://given.example.com"


def test_defaults():
    params = make_module({}).params
    assert (params["organization"], params["environment"], params["validate_certs"]) == ("DEFAULT", "DEFAULT", True)
    assert (params["timeout"], params["retries"]) == (30, 3)


@pytest.mark.parametrize(
    "given,root",
    [
        ("https://apim.example.com", "https://apim.example.com"),
        ("https://apim.example.com/", "https://apim.example.com"),
        ("https://apim.example.com/management/v2/", "https://apim.example.com"),
        ("https://gw.example.com/apim/management", "https://gw.example.com/apim"),
    ],
)
def test_server_root(given, root):
    assert server_root(given) == root


@pytest.mark.parametrize("bad", ["apim.example.com", "ftp://x", "https://", "https://a b", "", None])
def test_bad_url_names_the_option(bad):
    with pytest.raises(ModuleError, match="url must be an http"):
        server_root(bad)


def test_missing_credentials_say_which_variables_to_set(capsys):
    result = run_to_exit({"url": "https://apim.example.com"}, lambda m: m.client, capsys)
    assert result["failed"] is True
    assert "GRAVITEE_APIM_TOKEN" in result["msg"] and "GRAVITEE_APIM_PASSWORD" in result["msg"]


def test_empty_credentials_count_as_unset(capsys, monkeypatch):
    # AWX injects an empty string for a credential field left blank.
    monkeypatch.setenv("GRAVITEE_APIM_USERNAME", "")
    monkeypatch.setenv("GRAVITEE_APIM_PASSWORD", "")
    monkeypatch.setenv("GRAVITEE_APIM_TOKEN", "")
    result = run_to_exit({"url": "https://apim.example.com"}, lambda m: m.client, capsys)
    assert result["failed"] is True and "no APIM credentials" in result["msg"]


def test_missing_url_says_which_variable_to_set(capsys):
    result = run_to_exit({"token": "t"}, lambda m: m.client, capsys, product="am")
    assert "GRAVITEE_AM_URL" in result["msg"]


def test_validate_certs_false_warns(capsys):
    args = {"url": "https://apim.example.com", "token": "pat-value", "validate_certs": False}
    result = run_to_exit(args, lambda m: (m.client, m.exit()), capsys)
    assert "validate_certs: false" in json.dumps(result["warnings"])


# -- ensure() --------------------------------------------------------------------------------------
def test_check_mode_create_sends_nothing_and_predicts_change():
    module = make_module({"_ansible_check_mode": True})
    calls = Calls()
    result = module.ensure(None, {"name": "a"}, "present", calls.create, calls.update, calls.delete)
    assert calls.made == []
    assert module.changed is True
    assert result == {"name": "a"}


def test_check_mode_update_predicts_the_merged_object():
    module = make_module({"_ansible_check_mode": True})
    calls = Calls()
    current = {"id": "1", "name": "a", "description": "old", "kept": True}
    result = module.ensure(current, {"description": "new"}, "present", calls.create, calls.update, calls.delete)
    assert calls.made == []
    assert module.changed is True
    assert result == {"id": "1", "name": "a", "description": "new", "kept": True}


def test_check_mode_delete_sends_nothing():
    module = make_module({"_ansible_check_mode": True})
    calls = Calls()
    assert module.ensure({"id": "1"}, {}, "absent", calls.create, calls.update, calls.delete) is None
    assert calls.made == [] and module.changed is True


def test_check_mode_reports_no_change_when_nothing_differs():
    module = make_module({"_ansible_check_mode": True})
    calls = Calls()
    current = {"id": "1", "name": "a", "config": {"x": 1, "serverDefault": 2}, "updatedAt": 5}
    module.ensure(current, {"name": "a", "config": {"x": 1}}, "present", calls.create, calls.update, calls.delete)
    assert calls.made == [] and module.changed is False


def test_update_sends_only_the_changed_keys():
    module = make_module({})
    calls = Calls()
    current = {"id": "1", "name": "a", "description": "old"}
    module.ensure(current, {"name": "a", "description": "new"}, "present", calls.create, calls.update, calls.delete)
    assert calls.made == [("update", {"description": "new"})]


def test_absent_object_stays_absent_without_a_call():
    module = make_module({})
    calls = Calls()
    module.ensure(None, {}, "absent", calls.create, calls.update, calls.delete)
    assert calls.made == [] and module.changed is False


def test_diff_masks_secrets_before_and_after(capsys):
    calls = Calls()
    current = {"id": "1", "configuration": {"clientId": "c", "clientSecret": "old-very-secret"}}
    desired = {"configuration": {"clientId": "c2", "clientSecret": "new-very-secret"}}

    def main(m):
        m.ensure(current, desired, "present", calls.create, calls.update, calls.delete)
        m.exit()

    result = run_to_exit({"_ansible_diff": True, "_ansible_check_mode": True}, main, capsys)
    assert "very-secret" not in json.dumps(result)
    assert result["diff"]["before"]["configuration"] == {"clientId": "c", "clientSecret": "********"}
    assert result["diff"]["after"]["configuration"] == {"clientId": "c2", "clientSecret": "********"}


# -- comparison ------------------------------------------------------------------------------------
def test_server_defaults_and_owned_fields_are_no_difference():
    current = {"name": "a", "configuration": {"userClaim": "sub", "version": "V3_X"}, "updatedAt": 1}
    assert changed_keys({"name": "a", "configuration": {"version": "V3_X"}, "updatedAt": 2}, current) == {}


def test_lists_must_match_item_by_item():
    assert differs(["a", "b"], ["b", "a"])
    assert not differs([{"k": 1}], [{"k": 1, "extra": True}])


def test_secret_not_returned_by_the_server_is_a_wildcard():
    assert not differs({"clientSecret": "s"}, {"clientSecret": None})
    assert not differs({"clientSecret": "s"}, {})
    assert not differs({"clientSecret": "s"}, {"clientSecret": "********"})
    assert differs({"clientSecret": "s"}, {"clientSecret": "other"})
    assert not differs({"clientSecret": "s"}, {"clientSecret": "s"})


def test_update_secrets_always_resends_a_secret():
    assert differs({"clientSecret": "s"}, {"clientSecret": "s"}, update_secrets=True)


def test_merge_keeps_fields_the_user_did_not_set():
    current = {"name": "a", "resources": [{"name": "r"}], "configuration": {"a": 1, "b": 2}}
    assert merge(current, {"configuration": {"b": 3}}) == {
        "name": "a",
        "resources": [{"name": "r"}],
        "configuration": {"a": 1, "b": 3},
    }


# -- errors ----------------------------------------------------------------------------------------
def test_gravitee_error_becomes_one_sentence_without_traceback(capsys):
    def main(m):
        raise GraviteeError("Api [x] cannot be found.", status=404, code="api.notFound", method="GET", url="https://h/a")

    result = run_to_exit({}, main, capsys)
    assert result["msg"] == "GET https://h/a returned HTTP 404: Api [x] cannot be found. [api.notFound]"
    assert (result["status"], result["code"]) == (404, "api.notFound")
    assert "Traceback" not in json.dumps(result) and "exception" not in result


def test_secrets_inside_dict_options_are_hidden_like_no_log_options(capsys):
    def main(m):
        m.exit(echo=m.params["configuration"])

    args = {"configuration": {"clientId": "c", "nested": [{"clientSecret": "cs-7731-secret"}]}}
    with patch_module_args(args), pytest.raises(SystemExit):
        GraviteeModule("apim", {"configuration": dict(type="dict")}).run(main)
    result = capsys.readouterr().out
    assert "cs-7731-secret" not in result and '"clientId": "c"' in result


def test_secret_options_never_appear_in_a_failure(capsys):
    def main(m):
        raise ModuleError("server said: bad password pw-0451-secret")

    result = run_to_exit({"url": "https://h", "password": "pw-0451-secret", "username": "u"}, main, capsys)
    assert "pw-0451-secret" not in json.dumps(result)
