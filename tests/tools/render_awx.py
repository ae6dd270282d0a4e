"""Render the AWX / Automation Controller surveys in extensions/awx/surveys/ from the secure_mcp role's argument specs.

    python -m tests.tools.render_awx           # regenerate them in the tree (`make docs` runs it)
    python -m tests.tools.render_awx --check   # fail if a survey differs from what the argument specs give

Each survey is the ``survey_spec`` of a job template, as AWX's API (``/api/v2/job_templates/<id>/survey_spec/``) and
``awx.awx.job_template`` take it. Which role variable becomes which question, by rule (no list of variables is kept
here, so a variable added to ``roles/secure_mcp/meta/argument_specs.yml`` is asked for after ``make docs``):

- ``secure_mcp_state`` is not asked: each job template sets it in its extra variables (present, or absent to tear down).
- Connection settings (the options whose description names a ``GRAVITEE_*`` environment variable) are not asked: the
  Gravitee APIM, AM and TLS credentials inject them (extensions/awx/credential_types/).
- Booleans, lists and dicts are not asked: an AWX survey answers with text or numbers (a multiple choice ``false``
  would reach the role as the string "false", which Ansible takes as true), so they stay in the job template's extra
  variables. The survey's header lists them with their defaults.
- ``str`` becomes a ``text`` question, or ``multiplechoice`` with the option's choices, or ``password`` when the name
  says it holds a secret (``..._secret``, ``..._password``, ``..._token``): AWX encrypts the answer and hides it in the
  job's extra variables. ``int`` becomes ``integer``, ``float`` becomes ``float``.
- A question is required when the option is, or when its description starts "Required with secure_mcp_state present"
  (the survey of the job template that secures); its default is the option's default. Text and password answers
  must have 1 character at least: AWX passes a blank optional answer to the job as an empty string (or null) on some
  versions, and the role would take "" for a value (an empty client secret is not an absent one), so AWX refuses a
  blank answer rather than start the job with it; where AWX leaves blank optional answers out, the role's default
  applies.
- The teardown survey asks only for what ``tasks/absent.yml`` uses.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "secure_mcp"
ARGUMENT_SPECS = ROLE / "meta" / "argument_specs.yml"
ABSENT_TASKS = ROLE / "tasks" / "absent.yml"
SURVEYS_DIR = REPO_ROOT / "extensions" / "awx" / "surveys"

STATE_VARIABLE = "secure_mcp_state"
REQUIRED_TO_SECURE = re.compile(r"^Required with secure_mcp_state present\b")
CREDENTIAL_SETTING = re.compile(r"E\(GRAVITEE_[A-Z_]+\)")
SECRET_NAME = re.compile(r"_(secret|password|token)$")
QUESTION_TYPES = {"str": "text", "int": "integer", "float": "float"}
# The longest answer AWX's UI proposes for a text question; it is also the limit for the secret.
TEXT_MAX = 1024
# Words of a variable name written as people write them in a label.
LABEL_WORDS = {
    "am": "AM", "apim": "APIM", "api": "API", "mcp": "MCP", "url": "URL", "dcr": "DCR", "oauth2": "OAuth2", "id": "id",
}
MARKUP = re.compile(r"\b[CVEIBOM]\(([^()]*)\)")

SURVEYS = {
    "secure_mcp": {
        "name": "Secure an MCP server",
        "description": "The MCP server to put behind a Gravitee APIM MCP proxy API with an OAuth2 plan and tokens from Gravitee AM.",
        "state": "present",
        "job_template": "Secure an MCP server",
    },
    "teardown": {
        "name": "Take down a secured MCP server",
        "description": "Which MCP server to take down: its MCP proxy API in APIM and its MCP server in AM.",
        "state": "absent",
        "job_template": "Take down a secured MCP server",
    },
}


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as the project's YAML (ansible-lint's yamllint rules) writes them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def role_options() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(ARGUMENT_SPECS.read_text())["argument_specs"]["main"]["options"]


def plain(description: str | list[str]) -> str:
    """An option's description without Ansible's markup (C(), V(), E()...), as one line."""
    text = " ".join(description) if isinstance(description, list) else description
    return " ".join(MARKUP.sub(r"\1", text).split())


def label(variable: str) -> str:
    words = [LABEL_WORDS.get(word, word) for word in variable.removeprefix("secure_mcp_").split("_")]
    first = words[0] if words[0] in LABEL_WORDS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def left_out(name: str, option: dict[str, Any]) -> str | None:
    """Why a role variable is not a question of the survey, or None when it is one."""
    if name == STATE_VARIABLE:
        return "state"
    description = option.get("description", "")
    if CREDENTIAL_SETTING.search(" ".join(description) if isinstance(description, list) else description):
        return "credential"
    if option.get("type", "str") not in QUESTION_TYPES:
        return "extra_vars"
    return None


def question(name: str, option: dict[str, Any], state: str) -> dict[str, Any]:
    description = plain(option.get("description", ""))
    kind = option.get("type", "str")
    required = bool(option.get("required")) or (state == "present" and bool(REQUIRED_TO_SECURE.match(description)))
    if REQUIRED_TO_SECURE.match(description):
        description = REQUIRED_TO_SECURE.sub("", description).lstrip(". ")
    entry: dict[str, Any] = {
        "question_name": label(name),
        "question_description": description,
        "variable": name,
        "type": QUESTION_TYPES[kind],
        "required": required,
    }
    if kind == "str":
        if option.get("choices"):
            entry["type"] = "multiplechoice"
            entry["choices"] = [str(choice) for choice in option["choices"]]
        elif SECRET_NAME.search(name):
            entry["type"] = "password"
        if entry["type"] != "multiplechoice":
            entry.update(min=1, max=TEXT_MAX)
    if option.get("default") is not None:
        entry["default"] = option["default"] if kind != "str" else str(option["default"])
    return entry


def variables_used_by(path: Path) -> set[str]:
    return set(re.findall(r"\bsecure_mcp_[a-z0-9_]+", path.read_text()))


def survey(key: str, options: dict[str, dict[str, Any]] | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The survey spec of one job template, and the role variables it leaves out (by reason)."""
    options = role_options() if options is None else options
    meta = SURVEYS[key]
    wanted = list(options)
    if meta["state"] == "absent":
        used = variables_used_by(ABSENT_TASKS)
        wanted = [name for name in wanted if name in used]
    questions, left = [], {"state": [], "credential": [], "extra_vars": []}
    for name in wanted:
        reason = left_out(name, options[name])
        if reason:
            left[reason].append(name)
        else:
            questions.append(question(name, options[name], meta["state"]))
    # Required questions first, each group in the argument specs' order.
    questions.sort(key=lambda entry: not entry["required"])
    return {"name": meta["name"], "description": meta["description"], "spec": questions}, left


def _default(option: dict[str, Any]) -> str:
    return "unset" if option.get("default") is None else json.dumps(option["default"])


def render(key: str) -> str:
    options = role_options()
    spec, left = survey(key, options)
    meta = SURVEYS[key]
    header = [
        "---",
        "# Generated by tests/tools/render_awx.py from roles/secure_mcp/meta/argument_specs.yml: do not edit, run",
        "# `make docs` (`make test` fails while this file differs from what the argument specs give).",
        f"# The survey of the job template \"{meta['job_template']}\" (extensions/awx/controller.yml), which sets",
        f"# {STATE_VARIABLE}: {meta['state']} in its extra variables.",
    ]
    if left["credential"]:
        header += textwrap.wrap(
            "Not asked, the Gravitee credentials inject them: " + ", ".join(left["credential"]) + ".",
            width=118, initial_indent="# ", subsequent_indent="#   ",
        )
    if left["extra_vars"]:
        header.append("# Not asked (a survey answers with text or numbers); set them in the job template's extra variables:")
        header += [f"#   {name} ({options[name].get('type')}, default {_default(options[name])})" for name in left["extra_vars"]]
    body = yaml.dump(spec, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def rendered() -> dict[Path, str]:
    return {SURVEYS_DIR / f"{key}.yml": render(key) for key in SURVEYS}


def differences() -> list[str]:
    problems = []
    for path, text in rendered().items():
        if not path.exists():
            problems.append(f"{path.relative_to(REPO_ROOT)} is missing")
        elif path.read_text() != text:
            problems.extend(difflib.unified_diff(
                path.read_text().splitlines(), text.splitlines(), str(path.relative_to(REPO_ROOT)), "regenerated",
                lineterm="", n=1,
            ))
    problems.extend(f"{path.relative_to(REPO_ROOT)} is not generated any more"
                    for path in sorted(SURVEYS_DIR.glob("*.yml")) if path not in rendered())
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the tree instead of writing")
    args = parser.parse_args()
    if args.check:
        problems = differences()
        print("\n".join(problems) or "extensions/awx/surveys/ is up to date")
        return 1 if problems else 0
    SURVEYS_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
    for path in SURVEYS_DIR.glob("*.yml"):
        if path not in rendered():
            path.unlink()
    print(f"wrote {SURVEYS_DIR.relative_to(REPO_ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
