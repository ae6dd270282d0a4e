"""The action every module of the collection runs through: Ansible's module action, after gc.freeze() in the worker,
with Ansible's template plugins loaded in the controller.

The action is controller code: importing it (through ``ansible.plugins.action``) switches ansible-core into
controller mode for the whole process, after which the other unit tests' modules would no longer return their
warnings. Each check therefore runs in a fresh interpreter and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import COLLECTIONS_PATH

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
MODULES = sorted(path.stem for path in (PLUGINS / "modules").glob("*.py") if path.stem != "__init__")

PRELUDE = """
import gc, importlib, json, multiprocessing
from ansible.plugins.action.normal import ActionModule as ModuleAction
from ansible_collections.mcpgate.gravitee.plugins.plugin_utils import module_action

seen = {}

def recording_run(self, tmp=None, task_vars=None):
    # Ansible's module action replaced by a recorder of what it saw.
    seen["frozen_objects"] = gc.get_freeze_count()
    seen["task_vars"] = task_vars
    return {"changed": False, "from": "module"}

ModuleAction.run = recording_run
action = object.__new__(module_action.ActionModule)  # run() uses nothing set by ActionBase.__init__
"""


# Which of Ansible's filter and test plugin files are loaded (Ansible imports each under its name plus a suffix).
TEMPLATE_PLUGINS = """
import json, multiprocessing, sys
from ansible.template import Templar, trust_as_template

def template_plugins():
    return sorted(name.rsplit("_", 1)[0] for name in sys.modules if name.startswith(("ansible.plugins.filter.", "ansible.plugins.test.")))

def render_like_a_task():
    Templar(variables={"secure_mcp_timeout": 10}).template(trust_as_template("{{ secure_mcp_timeout | default(omit) is number }}"))

def load_the_action():
    from ansible_collections.mcpgate.gravitee.plugins.plugin_utils import module_action
"""


def run_isolated(code: str, prelude: str = PRELUDE) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COLLECTIONS_PATH), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_module_has_the_action_and_no_other_action_exists():
    actions = sorted(path.stem for path in (PLUGINS / "action").glob("*.py") if path.stem != "__init__")
    assert actions == MODULES
    seen = run_isolated(
        """
        names = %r
        print(json.dumps({name: importlib.import_module("ansible_collections.mcpgate.gravitee.plugins.action." + name).ActionModule
                          is module_action.ActionModule for name in names}))
        """ % MODULES
    )
    assert seen == {name: True for name in MODULES}


def test_the_action_is_ansibles_module_action():
    seen = run_isolated(
        """
        print(json.dumps({"subclass": issubclass(module_action.ActionModule, ModuleAction),
                          "own_run": module_action.ActionModule.run is not ModuleAction.run}))
        """
    )
    assert seen == {"subclass": True, "own_run": True}


def test_run_in_a_worker_freezes_what_it_inherited_then_runs_the_module():
    seen = run_isolated(
        """
        multiprocessing.parent_process = lambda: "ansible-playbook"  # as in a forked worker
        frozen_before = gc.get_freeze_count()
        tracked_before = len(gc.get_objects())
        result = action.run(task_vars={"inventory_hostname": "mcp-001"})
        print(json.dumps({"result": result, "frozen_before": frozen_before, "tracked_before": tracked_before, **seen}))
        """
    )
    assert seen["result"] == {"changed": False, "from": "module"}
    assert seen["task_vars"] == {"inventory_hostname": "mcp-001"}
    assert seen["frozen_before"] == 0
    # Every object alive before the module ran (what the worker inherited from the controller) is frozen.
    assert seen["frozen_objects"] >= seen["tracked_before"] - 100 > 0


def test_run_outside_a_worker_leaves_the_collector_alone():
    seen = run_isolated(
        """
        parent = multiprocessing.parent_process()
        result = action.run(task_vars={})
        print(json.dumps({"parent": parent, "result": result, **seen}))
        """
    )
    assert seen["parent"] is None
    assert seen["result"] == {"changed": False, "from": "module"}
    assert seen["frozen_objects"] == 0


def test_loaded_in_the_controller_it_loads_the_template_plugins_the_workers_then_inherit():
    seen = run_isolated(
        """
        before = template_plugins()
        load_the_action()
        loaded = template_plugins()
        render_like_a_task()  # what a worker forked now does first
        print(json.dumps({"before": before, "loaded": loaded, "after_rendering": template_plugins()}))
        """,
        prelude=TEMPLATE_PLUGINS,
    )
    assert seen["before"] == []
    assert {"ansible.plugins.filter.core", "ansible.plugins.test.core"} <= set(seen["loaded"])
    assert seen["after_rendering"] == seen["loaded"]


def test_without_the_action_the_first_template_of_a_worker_loads_the_plugins():
    # What the test above spares the workers (and proof that it can fail).
    seen = run_isolated(
        """
        before = template_plugins()
        render_like_a_task()
        print(json.dumps({"before": before, "after_rendering": template_plugins()}))
        """,
        prelude=TEMPLATE_PLUGINS,
    )
    assert seen["before"] == []
    assert {"ansible.plugins.filter.core", "ansible.plugins.test.core"} <= set(seen["after_rendering"])


def test_loaded_in_a_worker_it_leaves_the_template_plugins_to_the_task():
    seen = run_isolated(
        """
        multiprocessing.parent_process = lambda: "ansible-playbook"  # as in a forked worker
        load_the_action()
        print(json.dumps({"loaded": template_plugins()}))
        """,
        prelude=TEMPLATE_PLUGINS,
    )
    assert seen["loaded"] == []
