# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action that runs every module of the collection: Ansible's own module action, plus two steps that spare
each task's worker process work the controller can do once.

In the worker: freeze the inherited heap.

Ansible runs each task in a worker process forked from ``ansible-playbook``, and builds the task's module
payload (AnsiballZ) in that worker, parsing the module and all its module_utils. That parse allocates enough to
start a full garbage collection, which walks every object the worker inherited from the controller and, by
touching each one, copies the controller's memory page by page: about 0.03 to 0.05 s per module task on a play the
size of the secure_mcp role (``make bench`` shows the effect), more on a larger play. The worker runs this one task
and exits, so collecting what it inherited would free next to nothing: ``gc.freeze()`` takes those objects out of
the collector's reach (the remedy Python's ``gc`` documentation gives for fork without exec). Objects the task
itself creates are collected as usual. Only a forked worker does this: in a process without a parent (one that
outlives the task), the action leaves the collector alone, since there frozen objects would never be freed.

In the controller: load Ansible's Jinja filter and test plugins before the workers are forked. Ansible loads them
at the first filter or test a process renders; the controller itself renders none in a play like the secure_mcp
role, where every ``when`` and argument is rendered in the task's worker, so each worker loaded them again, about
7 ms per task. The controller imports this file (to read the action's class) before it queues the first task that
runs one of the collection's modules, and renders one template with a filter and a test then: the workers forked
after that inherit the loaded plugins.
"""

from __future__ import annotations

import gc
import multiprocessing

from ansible.plugins.action.normal import ActionModule as ModuleAction
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core 2.18 renders any string
    def trust_as_template(value):
        return value


def load_template_plugins():
    """Render one template with a filter and a test, which loads all of Ansible's filter and test plugins."""
    try:
        Templar(loader=None).template(trust_as_template("{{ none | default(true) is boolean }}"))
    except Exception:  # pylint: disable=broad-exception-caught
        pass  # only a saving: a task whose worker loads the plugins itself runs the same


if multiprocessing.parent_process() is None:  # the controller, before it forks the workers
    load_template_plugins()


class ActionModule(ModuleAction):
    """Run the module as ``ansible.builtin.normal`` does, in a worker whose inherited heap the collector skips."""

    def run(self, tmp=None, task_vars=None):
        if multiprocessing.parent_process() is not None:
            gc.freeze()
        return super().run(tmp, task_vars)
