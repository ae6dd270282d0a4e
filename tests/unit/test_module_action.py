"""The action every module of the collection runs through: Ansible's module action, after gc.freeze()."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
from pathlib import Path

import pytest
from ansible.plugins.action.normal import ActionModule as ModuleAction

from ansible_collections.mcpgate.gravitee.plugins.plugin_utils import module_action

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
MODULES = sorted(path.stem for path in (PLUGINS / "modules").glob("*.py") if path.stem != "__init__")


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_every_module_has_the_action_and_no_other_action_exists():
    actions = sorted(path.stem for path in (PLUGINS / "action").glob("*.py") if path.stem != "__init__")
    assert actions == MODULES
    for name in MODULES:
        plugin = importlib.import_module("ansible_collections.mcpgate.gravitee.plugins.action." + name)
        assert plugin.ActionModule is module_action.ActionModule, name


def test_the_action_is_ansibles_module_action():
    assert issubclass(module_action.ActionModule, ModuleAction)
    assert module_action.ActionModule.run is not ModuleAction.run


@pytest.fixture
def module_run(monkeypatch):
    """Ansible's module action replaced by a recorder of what it saw."""
    seen = {}

    def run(self, tmp=None, task_vars=None):
        seen["frozen_objects"] = gc.get_freeze_count()
        seen["task_vars"] = task_vars
        return {"changed": False, "from": "module"}

    monkeypatch.setattr(ModuleAction, "run", run)
    return seen


def test_run_in_a_worker_freezes_what_it_inherited_then_runs_the_module(monkeypatch, module_run, unfrozen):
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: "ansible-playbook")  # as in a forked worker
    seen = module_run
    action = object.__new__(module_action.ActionModule)  # run() uses nothing set by ActionBase.__init__
    assert gc.get_freeze_count() == 0
    tracked_before = len(gc.get_objects())

    result = action.run(task_vars={"inventory_hostname": "mcp-001"})

    assert result == {"changed": False, "from": "module"}
    assert seen["task_vars"] == {"inventory_hostname": "mcp-001"}
    # Every object alive before the module ran (what the worker inherited from the controller) is frozen.
    assert seen["frozen_objects"] >= tracked_before - 100 > 0


def test_run_outside_a_worker_leaves_the_collector_alone(module_run, unfrozen):
    assert multiprocessing.parent_process() is None
    action = object.__new__(module_action.ActionModule)

    assert action.run(task_vars={}) == {"changed": False, "from": "module"}
    assert module_run["frozen_objects"] == 0
