"""Commands run from a clone work as written: the ansible-playbook lines in playbooks/*.yml and playbooks/*/*.yml
resolve mcpgate.gravitee.* (ansible.cfg, collections/ holding a link to the tree), and so does ansible-doc of every
module and of the role. No ANSIBLE_COLLECTIONS_PATH or ANSIBLE_CONFIG from the caller.

Each playbook command is syntax-checked (a parse resolves every role and module name) rather than run: the servers
it names are the user's. Variable files the user writes (a vault, their own variables) are left out.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def clone_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def documented_commands() -> list[tuple[str, str]]:
    commands = []
    for path in sorted(REPO_ROOT.glob("playbooks/*.yml")) + sorted(REPO_ROOT.glob("playbooks/*/*.yml")):
        for line in path.read_text().splitlines():
            match = re.search(r"^#.*?(ansible-playbook .*)$", line)
            if match:
                commands.append((str(path.relative_to(REPO_ROOT)), match.group(1).strip()))
    return commands


def as_syntax_check(command: str) -> list[str]:
    """The command with --syntax-check, without the files only the user has and without prompts."""
    words, kept = shlex.split(command), []
    for i, word in enumerate(words):
        if word == "-e" and words[i + 1].startswith("@") and not (REPO_ROOT / words[i + 1][1:]).is_file():
            continue
        if word.startswith("@") and not (REPO_ROOT / word[1:]).is_file():
            continue
        if word in ("--ask-vault-pass", "--check", "--diff"):
            continue
        kept.append(word)
    return kept + ["--syntax-check"]


COMMANDS = documented_commands()


def test_the_playbooks_document_their_commands():
    documented = {path for path, _command in COMMANDS}
    assert {"playbooks/secure_mcp.yml", "playbooks/teardown.yml", "playbooks/rotate_secret.yml"} <= documented


@pytest.mark.parametrize("source, command", COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_a_documented_playbook_command_resolves_the_collection_from_a_clone(source, command):
    result = subprocess.run(as_syntax_check(command), cwd=REPO_ROOT, env=clone_env(), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"{source}: {command}\n{result.stdout}{result.stderr}"


def test_ansible_doc_of_every_module_and_the_role_from_a_clone():
    modules = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    names = [f"mcpgate.gravitee.{m}" for m in modules]
    result = subprocess.run(["ansible-doc", "-t", "module", *names], cwd=REPO_ROOT, env=clone_env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # "> MODULE mcpgate.gravitee.x" from ansible-core 2.17, "> MCPGATE.GRAVITEE.X" before
    shown = re.findall(r"^> (?:MODULE )?(mcpgate\.gravitee\.\w+)", result.stdout, re.M | re.I)
    assert sorted(name.lower() for name in shown) == names, result.stderr
    role = subprocess.run(["ansible-doc", "-t", "role", "mcpgate.gravitee.secure_mcp"], cwd=REPO_ROOT, env=clone_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert role.returncode == 0 and "ENTRY POINT" in role.stdout, role.stderr
