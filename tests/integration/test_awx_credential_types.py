"""The AWX/Automation Controller credential types in extensions/awx/credential_types/.

Their injectors must set exactly the environment variables the modules fall back to: the variables are
read from the modules themselves (each module's argument spec, as its main() builds it), not from a list
kept here. The injection is then rendered the way AWX renders it (a Jinja sandbox whose namespace holds
only the inputs that were given, booleans never given being false) and a job's worth of modules runs
against the simulator with nothing but that environment.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from jinja2 import meta, sandbox

from tests.integration.ansible_run import run_tasks
from tests.integration.ecosystem_support import REPO_ROOT

CREDENTIAL_TYPES = REPO_ROOT / "extensions" / "awx" / "credential_types"
COLLECTION_MODULES = "ansible_collections.mcpgate.gravitee.plugins.modules"


class _SpecRead(Exception):
    pass


def module_argument_specs() -> dict[str, dict[str, Any]]:
    """Each module's argument spec, captured when its main() creates its AnsibleModule."""
    package = importlib.import_module(COLLECTION_MODULES)
    specs = {}
    original = basic.AnsibleModule.__init__

    def capture(self, argument_spec, *args, **kwargs):
        raise _SpecRead(argument_spec)

    basic.AnsibleModule.__init__ = capture
    try:
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{COLLECTION_MODULES}.{info.name}")
            with pytest.raises(_SpecRead) as read:
                module.main()
            specs[info.name] = read.value.args[0]
    finally:
        basic.AnsibleModule.__init__ = original
    return specs


def env_fallbacks(spec: dict[str, Any]) -> set[str]:
    names = set()
    for option in spec.values():
        fallback = option.get("fallback")
        if fallback and fallback[0] is basic.env_fallback:
            names.update(fallback[1])
        names |= env_fallbacks(option.get("options") or {})
    return names


def load_credential_types() -> dict[str, dict[str, Any]]:
    import yaml

    types = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(CREDENTIAL_TYPES.glob("*.yml"))}
    assert set(types) == {"gravitee_apim", "gravitee_am", "gravitee_tls"}
    return types


def render_injection(credential_type: dict[str, Any], inputs: dict[str, Any], filename: str) -> dict[str, str]:
    """The environment AWX gives a job for a credential of this type with these inputs (awx CredentialType).

    A ``file`` injector ``template`` is written to ``filename`` (``tower.filename``); with several files,
    ``template.<name>`` is written to ``<filename>.<name>`` (``tower.filename.<name>``), as AWX writes each to a
    file of its own in the job's private data dir.
    """
    namespace: dict[str, Any] = {name: value for name, value in inputs.items() if isinstance(value, bool) or len(value)}
    for field in credential_type["inputs"]["fields"]:
        if field.get("type") == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    env = sandbox.ImmutableSandboxedEnvironment()
    injectors = credential_type["injectors"]
    files: dict[str, str] = {}
    for label, template in injectors.get("file", {}).items():
        path = filename if label == "template" else f"{filename}.{label.split('.', 1)[1]}"
        Path(path).write_text(env.from_string(template).render(**namespace))
        Path(path).chmod(0o600)
        if label == "template":
            namespace["tower"] = {"filename": path}
        else:
            files[label.split(".", 1)[1]] = path
    if files:
        namespace["tower"] = {"filename": files}
    return {name: env.from_string(template).render(**namespace) for name, template in injectors["env"].items()}


def test_the_credential_types_inject_exactly_the_variables_the_modules_read():
    specs = module_argument_specs()
    assert {"apim_api", "apim_plan", "apim_resource", "apim_info", "am_mcp_server", "am_domain_settings", "am_info",
            "mcp_probe"} <= set(specs)
    read_by_modules = set().union(*(env_fallbacks(spec) for spec in specs.values()))
    assert {"GRAVITEE_APIM_TOKEN", "GRAVITEE_AM_URL", "GRAVITEE_CA_PATH"} <= read_by_modules

    injected: dict[str, str] = {}
    for type_name, credential_type in load_credential_types().items():
        for env_var in credential_type["injectors"]["env"]:
            assert env_var not in injected, f"{env_var} injected by both {injected[env_var]} and {type_name}"
            injected[env_var] = type_name
    assert set(injected) == read_by_modules


@pytest.mark.parametrize("type_name", ["gravitee_apim", "gravitee_am", "gravitee_tls"])
def test_a_credential_type_is_well_formed(type_name):
    credential_type = load_credential_types()[type_name]
    assert set(credential_type) == {"name", "description", "kind", "inputs", "injectors"}
    assert credential_type["kind"] == "cloud"
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert set(credential_type["inputs"].get("required", [])) <= set(fields)
    for field in fields.values():
        assert {"id", "label", "type"} <= set(field) and field["type"] in ("string", "boolean")
    # Secrets are encrypted by AWX and never shown again.
    assert {name for name, field in fields.items() if field.get("secret")} == (
        {"password", "token", "client_key"} if type_name != "gravitee_tls" else set()
    )
    # AWX takes one file injector "template", or several "template.<name>", never both.
    labels = set(credential_type["injectors"].get("file", {}))
    assert labels <= {"template"} or all(label.startswith("template.") for label in labels), labels
    # Every template names only the type's own inputs (or the injected file's name).
    env = sandbox.ImmutableSandboxedEnvironment()
    for template in [*credential_type["injectors"]["env"].values(), *credential_type["injectors"].get("file", {}).values()]:
        assert meta.find_undeclared_variables(env.parse(template)) <= set(fields) | {"tower"}, template


def test_injected_values_reach_the_modules_in_a_job(sim, tmp_path):
    """An APIM credential with a token only, an AM one with username and password, a TLS one left empty."""
    types = load_credential_types()
    env = {
        **render_injection(types["gravitee_apim"], {"url": sim.urls["apim"], "token": sim.apim_token}, str(tmp_path / "a")),
        **render_injection(
            types["gravitee_am"],
            {"url": sim.urls["am"], "username": "admin", "password": "adminadmin", "organization": ""},
            str(tmp_path / "b"),
        ),
        **render_injection(types["gravitee_tls"], {}, str(tmp_path / "c")),
    }
    assert env["GRAVITEE_APIM_USERNAME"] == "" and env["GRAVITEE_AM_ORG"] == "DEFAULT"
    assert env["GRAVITEE_VALIDATE_CERTS"] == "true" and env["GRAVITEE_CA_PATH"] == ""
    assert env["GRAVITEE_APIM_CLIENT_CERT"] == env["GRAVITEE_AM_CLIENT_KEY"] == ""  # no certificate given: unset
    tasks = [
        {"name": "apim", "mcpgate.gravitee.apim_info": {}},
        {"name": "am", "mcpgate.gravitee.am_info": {"domain": "mcp"}},
    ]
    run = run_tasks(sim, tasks, connection_env=False, extra_env=env)
    assert run.rc == 0, [r.result for r in run.results] or run.stderr
    assert run.task("apim").result["mcp_proxy_entrypoint"] is not None
    assert run.task("am").result["domain"]["hrid"] == "mcp"
    assert "adminadmin" not in run.stdout + run.stderr

    # Skipping verification is what the TLS credential's one switch does; a CA file lands in GRAVITEE_CA_PATH.
    tls = render_injection(types["gravitee_tls"], {"skip_tls_verify": True, "ca_certificate": "PEM"}, str(tmp_path / "d"))
    assert tls == {"GRAVITEE_VALIDATE_CERTS": "false", "GRAVITEE_CA_PATH": str(tmp_path / "d")}
    assert (tmp_path / "d").read_text() == "PEM"


def test_a_client_certificate_credential_injects_two_private_files(tmp_path):
    for type_name, product in (("gravitee_apim", "APIM"), ("gravitee_am", "AM")):
        credential_type = load_credential_types()[type_name]
        inputs = {"url": "https://x.example.com", "token": "t", "client_certificate": "CERT PEM", "client_key": "KEY PEM"}
        env = render_injection(credential_type, inputs, str(tmp_path / type_name))
        cert, key = Path(env[f"GRAVITEE_{product}_CLIENT_CERT"]), Path(env[f"GRAVITEE_{product}_CLIENT_KEY"])
        assert (cert.read_text(), key.read_text()) == ("CERT PEM", "KEY PEM")
        assert cert != key and key.stat().st_mode & 0o077 == 0
