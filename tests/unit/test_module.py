"""GraviteeModule: options and environment fallbacks, the client, errors."""

from __future__ import annotations

import json
import os

import pytest
from tests.unit.module_args import patch_module_args

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError, server_root

ENV_VARS = [
    f"GRAVITEE_{product}_{name}"
    for product in ("APIM", "AM")
    for name in ("URL", "USERNAME", "PASSWORD", "TOKEN", "ORG", "ENV", "CLIENT_CERT", "CLIENT_KEY")
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


def test_client_certificate_options_fall_back_to_the_product_variables(monkeypatch):
    monkeypatch.setenv("GRAVITEE_APIM_CLIENT_CERT", "/etc/apim-client.pem")
    monkeypatch.setenv("GRAVITEE_APIM_CLIENT_KEY", "/etc/apim-client.key")
    monkeypatch.setenv("GRAVITEE_AM_CLIENT_CERT", "/etc/am-client.pem")
    apim = make_module({}).params
    am = make_module({}, product="am").params
    assert (apim["client_cert"], apim["client_key"]) == ("/etc/apim-client.pem", "/etc/apim-client.key")
    assert (am["client_cert"], am["client_key"]) == ("/etc/am-client.pem", None)


def test_an_empty_client_certificate_counts_as_unset(monkeypatch):
    # AWX injects an empty string for a credential without a client certificate.
    monkeypatch.setenv("GRAVITEE_APIM_CLIENT_CERT", "")
    monkeypatch.setenv("GRAVITEE_APIM_CLIENT_KEY", "")
    module = make_module({"url": "https://apim.example.com", "token": "pat-value"})
    assert module.client.cert is None


def test_client_certificate_paths_reach_the_client():
    module = make_module({"url": "https://apim.example.com", "token": "pat-value", "client_cert": "/c.pem", "client_key": "/c.key"})
    assert module.client.cert == ("/c.pem", "/c.key")


def test_a_client_key_without_its_certificate_fails_clearly(capsys):
    result = run_to_exit({"url": "https://apim.example.com", "token": "pat-value", "client_key": "/c.key"},
                         lambda module: module.client, capsys)
    assert result["failed"] and "client_key is set without client_cert" in result["msg"]


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


def test_check_mode_client_refuses_any_write_before_sending_it():
    module = make_module({"url": "https://apim.example.com", "token": "pat-value", "_ansible_check_mode": True})
    with pytest.raises(GraviteeError, match="would change the server in check mode"):
        module.client.post("/management/v2/organizations/DEFAULT/environments/DEFAULT/apis", {"name": "x"})
    assert module.client.session is None  # refused before any connection


def test_a_failure_carries_the_option_at_fault_as_a_field(capsys):
    def main(m):
        raise ModuleError("tools[2].key: 'a b' is not a valid tool key", "tools[2].key")

    result = run_to_exit({"url": "https://h", "token": "pat-0193-value"}, main, capsys)
    assert result["failed"] and result["option"] == "tools"
    assert result["msg"].startswith("tools[2].key:")


def test_module_error_keeps_the_path_and_names_the_option():
    error = ModuleError("cimd.template: no such application", "cimd.template")
    assert (error.option, error.path, str(error)) == ("cimd", "cimd.template", "cimd.template: no such application")
    assert ModuleError("APIM has no deployable mcp-proxy entrypoint").option is None


def test_rest_classes_and_errors_import_nothing_from_ansible_nor_from_the_module_base():
    for name in ("errors", "client", "apim", "am", "mcp", "mcp_acl"):
        path = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils", name + ".py")
        with open(path, encoding="utf-8") as source:
            imports = [line for line in source if line.startswith(("import ", "from "))]
        assert not [line for line in imports if "ansible.module_utils" in line or "module_utils.module " in line], name
