"""Run job templates the way AWX / Automation Controller runs a job: ansible-runner on a private data dir.

What AWX does for a job (awx/main/tasks/jobs.py, RunJob), and what ``AwxSite.launch`` does here:
- the project is copied into ``<private data dir>/project``; the collections that the project's
  ``collections/requirements.yml`` names were installed at the project's sync into ``requirements_collections``, which
  is copied next to it and put first on ANSIBLE_COLLECTIONS_PATH (``RunJob.build_env``). Here that install is the
  collection built from this tree (Galaxy is out of reach), with ``ansible-galaxy collection install``;
- the extra variables are the job template's, then its survey's defaults, then the answers (and, in a workflow, the
  set_stats data of the jobs before, then the workflow's survey answers), in ``env/extravars``; every value the job
  template did not set itself is tagged ``!unsafe``, as AWX's safe_dump does (so Ansible never templates an answer);
- each credential's injectors are rendered with its inputs (the sandbox AWX uses; a file injector writes into
  ``env/``) into the environment, with AWX's own variables (JOB_ID, ANSIBLE_RETRY_FILES_ENABLED...). AWX hands that
  environment to ansible-runner as a parameter; ansible-runner's file interface, used here, reads it from
  ``env/envvars``: the same data;
- the inventory is a script ``inventory/hosts`` printing JSON, as AWX writes it; the command line (verbosity, forks) is
  ``env/cmdline``; runner settings are ``env/settings``;
- ``ansible-runner run`` runs the playbook, without process isolation (AWX runs it inside an execution environment's
  container; there is no container engine here), with a minimal environment of its own as a container has.
Artifacts are then read back: ``artifacts/<job id>/job_events/*.json``, ``stdout``, ``status``, ``rc``; the
``playbook_on_stats`` event's ``artifact_data`` is what AWX stores as the job's artifacts (the set_stats data) and
gives to the next jobs of a workflow.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.integration.ecosystem_support import REPO_ROOT, VENV_BIN, build_collection, install_collection
from tests.integration.test_awx_credential_types import load_credential_types, render_injection

AWX_DIR = REPO_ROOT / "extensions" / "awx"
PROJECT = AWX_DIR / "project"
CONTROLLER_PLAYBOOK = AWX_DIR / "controller.yml"


# -- what extensions/awx/controller.yml asks AWX to hold ----------------------------------------------------------------

@dataclass
class JobTemplate:
    name: str
    playbook: str
    credentials: list[str]
    extra_vars: dict[str, Any]
    verbosity: int = 0
    survey: dict[str, Any] | None = None


@dataclass
class Workflow:
    name: str
    survey: dict[str, Any] | None
    # (identifier, job template name, identifiers of the nodes run on its success)
    nodes: list[tuple[str, str, list[str]]]


def _survey_of(args: dict[str, Any]) -> dict[str, Any] | None:
    """The survey file a survey_spec lookup names (surveys/<name>.yml), loaded."""
    if not args.get("survey_enabled"):
        return None
    spec = args["survey_spec"]
    name = spec.split("/surveys/", 1)[1].split("'", 1)[0]
    return yaml.safe_load((AWX_DIR / "surveys" / name).read_text())


def controller_objects() -> tuple[dict[str, JobTemplate], dict[str, Workflow]]:
    """The job templates and workflows that extensions/awx/controller.yml creates, by name."""
    tasks = yaml.safe_load(CONTROLLER_PLAYBOOK.read_text())[0]["tasks"]
    templates, workflows = {}, {}
    for task in tasks:
        if "awx.awx.job_template" in task:
            args = task["awx.awx.job_template"]
            templates[args["name"]] = JobTemplate(
                args["name"], args["playbook"], list(args.get("credentials") or []), dict(args.get("extra_vars") or {}),
                int(args.get("verbosity", 0)), _survey_of(args),
            )
        elif "awx.awx.workflow_job_template" in task:
            args = task["awx.awx.workflow_job_template"]
            nodes = [
                (node["identifier"], node["unified_job_template"]["name"],
                 [child["identifier"] for child in node.get("related", {}).get("success_nodes", [])])
                for node in args["workflow_nodes"]
            ]
            workflows[args["name"]] = Workflow(args["name"], _survey_of(args), nodes)
    return templates, workflows


# -- surveys, as AWX checks the answers and applies the defaults -----------------------------------------------------

def survey_errors(survey: dict[str, Any], answers: dict[str, Any]) -> list[str]:
    """What AWX would refuse in these answers (its survey element validation: required, types, lengths, choices)."""
    errors = []
    for question in survey["spec"]:
        name, kind = question["variable"], question["type"]
        if name not in answers:
            if question["required"] and question.get("default") is None:
                errors.append(f"{name}: value missing")
            continue
        value = answers[name]
        if kind in ("text", "textarea", "password"):
            if not isinstance(value, str):
                errors.append(f"{name}: expected a string")
            elif len(value) < int(question.get("min") or 0) or len(value) > int(question.get("max") or len(value)):
                errors.append(f"{name}: length {len(value)} outside {question.get('min')}..{question.get('max')}")
        elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):  # AWX refuses a bool too
            errors.append(f"{name}: expected an integer")
        elif kind == "multiplechoice" and value not in question["choices"]:
            errors.append(f"{name}: {value!r} is not one of {question['choices']}")
    return errors


def survey_defaults(survey: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults AWX adds to a job's extra variables (each one that passes the question's own validation)."""
    if not survey:
        return {}
    return {
        q["variable"]: q["default"] for q in survey["spec"]
        if q.get("default") is not None and not survey_errors({"spec": [q]}, {q["variable"]: q["default"]})
    }


# -- ansible-runner ----------------------------------------------------------------------------------------------------

class _UnsafeDumper(yaml.SafeDumper):
    """Every string as ``!unsafe``: how AWX writes the extra variables a job template did not set itself."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def extravars_yaml(extra_vars: dict[str, Any], trusted: dict[str, Any]) -> str:
    """Top-level variables equal to the job template's own stay as they are; all others are ``!unsafe``."""
    parts = []
    for name, value in extra_vars.items():
        dumper = yaml.SafeDumper if name in trusted and trusted[name] == value else _UnsafeDumper
        parts.append(yaml.dump({name: value}, Dumper=dumper, default_flow_style=False))
    return "".join(parts)


INVENTORY_SCRIPT = "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n"
# AWX's Demo Inventory: localhost, run locally with the Python that runs Ansible (the execution environment's).
DEMO_INVENTORY = {
    "all": {"hosts": ["localhost"]},
    "_meta": {"hostvars": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "remote_tower_enabled": "true", "remote_tower_id": 1,
    }}},
}


@dataclass
class Job:
    id: int
    template: JobTemplate
    private_data_dir: Path
    extra_vars: dict[str, Any]
    rc: int
    status: str
    events: list[dict[str, Any]]
    stdout: str
    runner_output: str

    @property
    def artifact_dir(self) -> Path:
        return self.private_data_dir / "artifacts" / str(self.id)

    @property
    def stats(self) -> dict[str, Any]:
        return next(e["event_data"] for e in self.events if e["event"] == "playbook_on_stats")

    @property
    def artifacts(self) -> dict[str, Any]:
        """What AWX keeps as the job's artifacts: the set_stats data, from the stats event."""
        return self.stats.get("artifact_data") or {}

    def results(self, event: str = "runner_on_ok") -> list[dict[str, Any]]:
        return [e["event_data"] for e in self.events if e["event"] == event]

    def task(self, suffix: str) -> dict[str, Any]:
        """The result of the (last) task whose name ends with ``suffix``, from its runner_on_ok/failed event."""
        done = [e["event_data"] for e in self.events if e["event"] in ("runner_on_ok", "runner_on_failed")]
        return [d for d in done if d["task"].endswith(suffix)][-1]["res"]

    def failures(self) -> list[str]:
        return [f"{d['task']}: {d['res'].get('msg')}" for d in self.results("runner_on_failed")] or [self.stdout[-3000:]]


@dataclass
class Credential:
    name: str
    type_key: str  # the credential type's file name under extensions/awx/credential_types/
    inputs: dict[str, Any]


@dataclass
class AwxSite:
    """What one AWX holds for these tests: credentials, the synced project's collections, a job counter."""

    root: Path
    credentials: dict[str, Credential]
    requirements_collections: Path = field(init=False)
    _ids: Any = field(default_factory=lambda: itertools.count(101))

    def __post_init__(self) -> None:
        # The project sync: `ansible-galaxy collection install` of what collections/requirements.yml names. That is
        # mcpgate.gravitee from Galaxy; here, the collection built from this tree.
        sync = self.root / "project-sync"
        sync.mkdir()
        self.requirements_collections = sync / "requirements_collections"
        install_collection(build_collection(sync), self.requirements_collections)
        (self.root / "home").mkdir()

    def launch(
        self,
        template: JobTemplate,
        answers: dict[str, Any] | None = None,
        ancestor_artifacts: dict[str, Any] | None = None,
        workflow_vars: dict[str, Any] | None = None,
        verbosity: int | None = None,
    ) -> Job:
        job_id = next(self._ids)
        answers = answers or {}
        if template.survey is not None and workflow_vars is None:
            problems = survey_errors(template.survey, answers)
            assert problems == [], f"AWX would refuse to launch {template.name}: {problems}"
        extra_vars = {
            **copy.deepcopy(template.extra_vars), **survey_defaults(template.survey), **answers,
            **(ancestor_artifacts or {}), **(workflow_vars or {}),
            # AWX's own variables (awx_meta_vars), which override the others.
            "awx_job_id": job_id, "awx_job_template_name": template.name, "awx_job_launch_type": "manual",
            "tower_job_id": job_id,
        }

        pdd = self.root / f"job_{job_id}"
        shutil.copytree(PROJECT, pdd / "project")
        shutil.copytree(self.requirements_collections, pdd / "requirements_collections")
        env_dir, inventory_dir = pdd / "env", pdd / "inventory"
        env_dir.mkdir()
        inventory_dir.mkdir()
        (env_dir / "extravars").write_text(extravars_yaml(extra_vars, template.extra_vars))

        envvars = {
            "JOB_ID": str(job_id), "INVENTORY_ID": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
            "AWX_PRIVATE_DATA_DIR": str(pdd), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(pdd / "cp"),
        }
        for variable, folder, default in (
            ("ANSIBLE_COLLECTIONS_PATHS", "requirements_collections", "~/.ansible/collections:/usr/share/ansible/collections"),
            ("ANSIBLE_ROLES_PATH", "requirements_roles", "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"),
            ("ANSIBLE_COLLECTIONS_PATH", "requirements_collections", "~/.ansible/collections:/usr/share/ansible/collections"),
        ):
            envvars[variable] = os.pathsep.join([str(pdd / folder), default])
        credential_types = load_credential_types()
        for name in template.credentials:
            credential = self.credentials[name]
            cred_file = tempfile.mkstemp(dir=env_dir)[1]
            envvars.update(render_injection(credential_types[credential.type_key], credential.inputs, cred_file))
        (env_dir / "envvars").write_text(json.dumps(envvars))
        (env_dir / "settings").write_text(json.dumps(
            {"job_timeout": 600, "suppress_ansible_output": True, "suppress_output_file": False}
        ))
        level = template.verbosity if verbosity is None else verbosity
        (env_dir / "cmdline").write_text("-u root" + (f" -{'v' * level}" if level else ""))
        inventory = inventory_dir / "hosts"
        inventory.write_text(INVENTORY_SCRIPT % json.dumps(DEMO_INVENTORY))
        inventory.chmod(0o700)

        # An execution environment's own environment: a PATH to its Python (the one with requests), its HOME.
        runner_env = {
            "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        }
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-runner"), "run", str(pdd), "--ident", str(job_id), "--playbook", template.playbook],
            env=runner_env, capture_output=True, text=True, timeout=900, check=False,
        )
        artifacts = pdd / "artifacts" / str(job_id)
        events = sorted(
            (json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")),
            key=lambda event: event["counter"],
        )
        return Job(
            job_id, template, pdd, extra_vars,
            rc=int((artifacts / "rc").read_text()) if (artifacts / "rc").exists() else proc.returncode,
            status=(artifacts / "status").read_text() if (artifacts / "status").exists() else "error",
            events=events,
            stdout=(artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else "",
            runner_output=proc.stdout + proc.stderr,
        )


def files_holding(folder: Path, secrets: dict[str, str]) -> list[tuple[str, str]]:
    """(secret name, file relative to ``folder``) for each file under ``folder`` that holds a secret's value."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [(name, str(path.relative_to(folder))) for name, value in secrets.items() if value.encode() in data]
    return found
