"""Helpers for the tests of what users install: the Galaxy artifact, playbook files, generated docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.integration.ansible_run import HERE, PlaybookRun, TaskResult

REPO_ROOT = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
TARBALL_NAME = "{namespace}-{name}-{version}.tar.gz".format(**GALAXY)


def tool(name: str) -> str:
    return str(VENV_BIN / name)


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for the venv's tools: its bin first on PATH, Ansible's state in a scratch HOME."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", tool_env())
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def build_collection(dest: Path) -> Path:
    """`ansible-galaxy collection build` of this tree into ``dest``; the tarball's path."""
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(dest), str(REPO_ROOT)], cwd=dest)
    tarball = dest / TARBALL_NAME
    assert tarball.is_file(), list(dest.iterdir())
    return tarball


def tarball_files(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as archive:
        return sorted(member.name for member in archive.getmembers() if not member.isdir())


def install_collection(tarball: Path, collections_path: Path) -> Path:
    """`ansible-galaxy collection install <tarball> -p <collections_path>`; the installed collection's folder."""
    run(
        [tool("ansible-galaxy"), "collection", "install", str(tarball), "-p", str(collections_path)],
        env=tool_env(ANSIBLE_HOME=str(collections_path / ".ansible-home"), ANSIBLE_COLLECTIONS_PATH=str(collections_path)),
    )
    installed = collections_path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file()
    return installed


def run_playbook(
    playbook: str,
    env: dict[str, str],
    extra_vars: dict[str, Any] | None = None,
    cwd: Path | None = None,
    args: list[str] | None = None,
) -> PlaybookRun:
    """ansible-playbook ``playbook`` (a path, or a collection playbook's FQCN) on localhost with ``env``.

    Each task's result is read back through the tests' record_results callback, as in ansible_run.
    """
    with tempfile.TemporaryDirectory(prefix="mcpgate-playbook-") as tmp:
        results_file = Path(tmp) / "results.json"
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra_vars or {}))
        full_env = tool_env(
            MCPGATE_RESULTS_FILE=str(results_file),
            ANSIBLE_CALLBACKS_ENABLED="record_results",
            ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="true",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCAL_TEMP=str(Path(tmp) / "local"),
            ANSIBLE_HOME=str(Path(tmp) / "home"),
        )
        full_env.update(env)
        command = [tool("ansible-playbook"), "-i", "localhost,", playbook, "-e", f"@{vars_file}", *(args or [])]
        proc = subprocess.run(
            command, env=full_env, cwd=cwd or tmp, capture_output=True, text=True, timeout=600, check=False
        )
        results = json.loads(results_file.read_text()) if results_file.exists() else []
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, [TaskResult.from_record(r) for r in results])
