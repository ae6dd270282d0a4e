"""What users install: the Galaxy artifact, run from an installed copy, and its execution environment.

`ansible-galaxy collection build` of this tree must hold the collection and nothing of its development
(tests, caches, virtual environments, CI and build files); installed with `ansible-galaxy collection
install` into a collections path of its own, its playbook runs the role against the simulator. The
execution environment check runs `ansible-builder create` (no container build) and then the
introspection the image build runs, on the installed copy, with the script the context holds.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from tests.integration.ecosystem_support import (
    GALAXY,
    REPO_ROOT,
    TARBALL_NAME,
    build_collection,
    install_collection,
    run,
    run_playbook,
    tarball_files,
    tool,
    tool_env,
)
from tests.integration.role_support import role_vars

# Top-level entries of the artifact: the collection and what documents it.
ALLOWED_TOP_LEVEL = {
    "MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "COPYING", "requirements.txt",
    "changelogs", "docs", "extensions", "meta", "playbooks", "plugins", "roles",
}
# Development files that must never ship.
FORBIDDEN = [
    "tests/*", "*/tests/*", ".venv/*", ".cache/*", ".ci/*", ".git/*", ".gitignore", ".pytest_cache/*", ".ansible/*",
    ".ansible-lint", "Makefile", "requirements-dev.txt", "extensions/molecule/*", "*__pycache__*", "*.pyc",
    "*.tar.gz", "collections/*", "ansible.cfg", "changelogs/fragments/*", "changelogs/.plugin-cache.yaml", "playbooks/vars/demo.yml",
]
MUST_SHIP = [
    "README.md", "CHANGELOG.md", "COPYING", "requirements.txt", "meta/runtime.yml", "meta/execution-environment.yml",
    "changelogs/changelog.yaml", "playbooks/secure_mcp.yml", "playbooks/vars/example.yml",
    "playbooks/examples/module_defaults.yml", "roles/secure_mcp/meta/argument_specs.yml",
    "extensions/awx/credential_types/gravitee_apim.yml", "extensions/awx/credential_types/gravitee_am.yml",
    "extensions/awx/credential_types/gravitee_tls.yml", "docs/collection/index.rst",
]

CONTEXT_PATH = "/weather-mcp"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return build_collection(tmp_path_factory.mktemp("galaxy-build"))


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory) -> Path:
    """The artifact installed into a collections path of its own; returns that collections path."""
    collections_path = tmp_path_factory.mktemp("galaxy-install") / "collections"
    install_collection(artifact, collections_path)
    return collections_path


def test_the_artifact_holds_the_collection_and_no_development_files(artifact):
    files = tarball_files(artifact)
    assert {name.split("/")[0] for name in files} <= ALLOWED_TOP_LEVEL, files
    shipped_dev_files = [name for name in files if any(fnmatch.fnmatch(name, pattern) for pattern in FORBIDDEN)]
    assert shipped_dev_files == []
    assert [name for name in MUST_SHIP if name not in files] == []
    modules = sorted(p.name for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
    assert modules and [m for m in modules if f"plugins/modules/{m}" not in files] == []
    role_files = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "roles").rglob("*") if p.is_file())
    assert [f for f in role_files if f not in files] == []


def test_the_installed_copy_runs_the_playbook_and_protects_the_mcp_server(installed, simulators):
    sim = simulators("4.12")
    sim.reset()
    only_the_install = {
        "ANSIBLE_COLLECTIONS_PATH": str(installed),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_ROLES_PATH": str(installed / "no-roles"),
        **sim.env(),
    }
    listed = run([tool("ansible-galaxy"), "collection", "list", "mcpgate.gravitee"], env=tool_env(**only_the_install))
    assert str(installed / "ansible_collections") in listed.stdout and str(REPO_ROOT) not in listed.stdout

    # The collection's playbook by its name, as a user of the installed collection runs it.
    variables = role_vars(sim, CONTEXT_PATH, secure_mcp_probe_retries=5)
    playbook = f"{GALAXY['namespace']}.{GALAXY['name']}.secure_mcp"
    result = run_playbook(playbook, only_the_install, variables, cwd=installed)
    assert result.rc == 0, [f"{r.task}: {r.msg}" for r in result.results if r.failed] or result.stdout[-3000:] + result.stderr
    assert re.search(r"localhost\s+: ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=0", result.stdout), result.stdout
    verify = "Verification | An MCP client gets the 401 challenge, then a token from AM, then the tools"
    verification = next(r for r in result.results if r.task.endswith(verify))
    assert not verification.failed and verification.result["authenticated"]["verified"] is True

    response = requests.post(
        sim.urls["apim_gateway"] + CONTEXT_PATH,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_execution_environment_gets_the_collection_and_its_python_requirements(artifact, installed, tmp_path):
    meta = yaml.safe_load((REPO_ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 3 and meta["dependencies"]["python"] == "requirements.txt"

    # An execution environment definition that installs the built collection, as a user writes one.
    (tmp_path / TARBALL_NAME).write_bytes(artifact.read_bytes())
    definition = {
        "version": 3,
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core>=2.16"},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": f"/build/collections/{TARBALL_NAME}", "type": "file"}]},
        },
        "additional_build_files": [{"src": TARBALL_NAME, "dest": "collections"}],
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "--file", "execution-environment.yml", "--context", str(context)], cwd=tmp_path)
    assert (context / "_build" / "collections" / TARBALL_NAME).read_bytes() == artifact.read_bytes()
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"][0]["type"] == "file"
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert "introspect.py introspect" in containerfile

    # The image build installs the collection, then introspects it: run that script of the context on
    # the installed copy. It must find the collection's Python requirements through meta/execution-environment.yml.
    introspected = subprocess.run(
        [tool("python"), str(context / "_build" / "scripts" / "introspect.py"), "introspect", "--sanitize", str(installed)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    found = yaml.safe_load(introspected.stdout)["python"]
    required = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert required and [f"{line}  # from collection mcpgate.gravitee" for line in required] == found
