"""Run real Ansible tasks (ansible-playbook) against a simulator and read back each task's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


@dataclass
class TaskResult:
    task: str
    status: str  # ok | failed | skipped
    result: dict[str, Any]
    host: str = "localhost"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TaskResult":
        """A record of the record_results callback (which also holds the task's module, host and timing)."""
        return cls(record["task"], record["status"], record["result"], record.get("host", "localhost"))

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: list[TaskResult]

    def __getitem__(self, index: int) -> TaskResult:
        return self.results[index]

    def task(self, name: str) -> TaskResult:
        return next(r for r in self.results if r.task == name)


def run_tasks(
    sim,
    tasks: list[dict[str, Any]],
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    extra_env: dict[str, str] | None = None,
    extra_vars: dict[str, Any] | None = None,
    roles_path: str | None = None,
    connection_env: bool = True,
    hosts: dict[str, dict[str, Any]] | None = None,
) -> PlaybookRun:
    """Run ``tasks`` in one play on localhost, or on ``hosts`` (name -> host variables; all run locally);
    connection options come from the simulator's env vars."""
    play = {
        "name": "test play",
        "hosts": "all" if hosts else "localhost",
        "connection": "local",
        "gather_facts": False,
        # ansible-core 2.19 may discover a non-working interpreter here; use the one running Ansible.
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", **(extra_vars or {})},
        "tasks": tasks,
    }
    with tempfile.TemporaryDirectory(prefix="mcpgate-play-") as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        results_file = Path(tmp) / "results.json"
        inventory = "localhost,"
        if hosts:
            inventory = str(Path(tmp) / "inventory.yml")
            Path(inventory).write_text(yaml.safe_dump(
                {"all": {"hosts": {name: {"ansible_connection": "local", **host_vars} for name, host_vars in hosts.items()}}}
            ))
        env = {
            **os.environ,
            **(sim.env() if (sim is not None and connection_env) else {}),
            "MCPGATE_RESULTS_FILE": str(results_file),
            "ANSIBLE_CALLBACKS_ENABLED": "record_results",
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "true",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCAL_TEMP": str(Path(tmp) / "local"),
            "ANSIBLE_HOME": str(Path(tmp) / "home"),
            **({"ANSIBLE_ROLES_PATH": roles_path} if roles_path else {}),
            **(extra_env or {}),
        }
        args = [ANSIBLE_PLAYBOOK, "-i", inventory, str(playbook)]
        if check:
            args.append("--check")
        if diff:
            args.append("--diff")
        if verbosity:
            args.append("-" + "v" * verbosity)
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
        results = json.loads(results_file.read_text()) if results_file.exists() else []
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, [TaskResult.from_record(r) for r in results])
