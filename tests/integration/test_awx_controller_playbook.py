"""extensions/awx/controller.yml: a playbook of awx.awx tasks that configures AWX for the collection.

Always: it is valid YAML, one play whose keys are play keywords, tasks whose keys are task keywords plus one awx.awx
module each, and extensions/awx/requirements.yml names that collection. When awx.awx is installed where Ansible looks
(``ansible-galaxy collection install -r extensions/awx/requirements.yml`` puts it in ~/.ansible/collections; the PyPI
package ``ansible`` bundles it): ``ansible-playbook --syntax-check`` resolves every module, and each task passes only
options (or aliases) the module's documentation lists. Ansible Galaxy is out of reach on the build machines, so there
that part is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.playbook.play import Play
from ansible.playbook.task import Task

from tests.conftest import COLLECTIONS_PATH
from tests.integration.ecosystem_support import REPO_ROOT, tool

AWX_DIR = REPO_ROOT / "extensions" / "awx"
CONTROLLER = AWX_DIR / "controller.yml"
# Task keywords that are not attributes of Task but are accepted in a task (loop_with is spelt with_<lookup>).
EXTRA_TASK_KEYWORDS = {"local_action", "with_items"}


def controller_play() -> dict:
    plays = yaml.safe_load(CONTROLLER.read_text())
    assert isinstance(plays, list) and len(plays) == 1
    return plays[0]


def modules_of(task: dict) -> list[str]:
    return [key for key in task if key not in set(Task.fattributes) | EXTRA_TASK_KEYWORDS]


def ansible_env(tmp_path: Path) -> dict[str, str]:
    """This collection (as the tests link it) first, then Ansible's default places, where awx.awx is installed."""
    default_places = [str(Path.home() / ".ansible" / "collections"), "/usr/share/ansible/collections"]
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([str(COLLECTIONS_PATH), *default_places]),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"),
        "ANSIBLE_NOCOLOR": "true",
    }


def test_the_playbook_is_one_play_of_known_keywords_and_awx_awx_modules():
    play = controller_play()
    assert set(play) <= set(Play.fattributes), set(play) - set(Play.fattributes)
    modules = set()
    for task in play["tasks"]:
        assert set(task) - set(modules_of(task)) <= set(Task.fattributes) | EXTRA_TASK_KEYWORDS
        names = modules_of(task)
        assert len(names) == 1, f"task {task.get('name')!r}: one module expected, got {names}"
        assert isinstance(task[names[0]], dict), f"task {task.get('name')!r}: options as a mapping"
        modules.add(names[0])
    assert modules and all(name.startswith("awx.awx.") for name in modules), modules
    # ansible-lint (offline) mocks exactly these modules.
    lint = yaml.safe_load((REPO_ROOT / ".ansible-lint").read_text())
    assert modules <= set(lint["mock_modules"]), modules - set(lint["mock_modules"])


def test_the_requirements_file_names_awx_awx_and_the_controller_playbook_says_how_to_install_it():
    requirements = yaml.safe_load((AWX_DIR / "requirements.yml").read_text())
    assert [item["name"] for item in requirements["collections"]] == ["awx.awx"]
    assert "ansible-galaxy collection install -r extensions/awx/requirements.yml" in CONTROLLER.read_text()


def test_with_awx_awx_installed_every_module_resolves_and_gets_only_its_options(tmp_path):
    env = ansible_env(tmp_path)
    play = controller_play()
    modules = sorted({modules_of(task)[0] for task in play["tasks"]})
    doc = subprocess.run([tool("ansible-doc"), "--json", "-t", "module", *modules], env=env, capture_output=True,
                         text=True, timeout=300, check=False, cwd=tmp_path)
    docs = json.loads(doc.stdout) if doc.returncode == 0 and doc.stdout.strip() else {}
    if set(docs) != set(modules):
        pytest.skip("awx.awx is not installed where Ansible looks (~/.ansible/collections, /usr/share/ansible/collections"
                    " or the Python environment's ansible package); Ansible Galaxy is out of reach here. "
                    "Install it with: ansible-galaxy collection install -r extensions/awx/requirements.yml")
    syntax = subprocess.run([tool("ansible-playbook"), "--syntax-check", str(CONTROLLER)], env=env, capture_output=True,
                            text=True, timeout=300, check=False, cwd=tmp_path)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    for task in play["tasks"]:
        module = modules_of(task)[0]
        options = docs[module]["doc"]["options"]
        known = set(options) | {alias for option in options.values() for alias in option.get("aliases", [])}
        assert set(task[module]) <= known, f"{task['name']}: {module} has no option {sorted(set(task[module]) - known)}"
