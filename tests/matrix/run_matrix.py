"""``make test-matrix``: the collection on every ansible-core it supports, 2.16 to 2.21, each on a Python it supports.

For each cell of tests/matrix/cells.py (an ansible-core minor version pinned to its newest patch, and a Python):

* setup   a virtual environment under .cache/matrix/venv-<core>, made with that Python from
          tests/matrix/requirements-<core>.txt, and made again when the file, or the Python, changes;
* unit    the unit tests (tests/unit);
* role    the role against the simulator: converge, a second run that changes nothing and sends no write, check
          mode on the converged servers, then a real MCP client through the gateway (the integration test that
          does exactly that, selected by its node id);
* check   check mode on fresh servers: no write, the changes predicted;
* demo    ``make demo``'s script (playbook twice, then the MCP SDK client through the gateway), through the
          integration test that runs it on free ports and checks what it prints;
* sanity  ``ansible-test sanity --venv`` on a copy of the tree under ansible_collections/mcpgate/gravitee, on the
          cells marked ``sanity`` (the oldest and the newest core; `make sanity` runs the project's 2.19).

The simulator, ansible-playbook and the modules all run on the cell's Python, from the cell's environment.
A cell whose Python this machine does not have is "not runnable": reported, and the run fails unless
``--allow-not-runnable`` (``make test-matrix MATRIX_ALLOW_NOT_RUNNABLE=1``). At most ``--jobs`` cells (2) run at
once, each one check after the other. Prints a table (core x check: passed, failed or not runnable, with times)
and writes it as JSON (``--json``, default .cache/matrix/results.json); logs are in .cache/matrix/logs/<core>/.

Command line: ``python3.11 -m tests.matrix.run_matrix [--cores 2.16,2.21] [--checks unit,role] [--jobs 2]``,
from the repository root. Standard library only: it needs no environment of its own.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.matrix.cells import CELLS, CORES, Cell, FoundPython, find_python

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".cache" / "matrix"

PASSED, FAILED, NOT_RUNNABLE, NOT_RUN = "passed", "failed", "not runnable", "not run"

# The simulator's newest version profile: the server-version axis (4.10 and 4.12) is `make test`'s, on 2.19.
PROFILE = "profile-4.12"
ROLE_TESTS = "tests/integration/test_role_secure_mcp.py::"
# Each pytest check: the tests it selects. A renamed test makes the check fail ("not found"), never pass silently.
PYTEST_CHECKS = {
    "unit": ["tests/unit"],
    "role": [ROLE_TESTS + f"test_converges_then_changes_nothing_predicts_nothing_and_lets_a_real_client_in[{PROFILE}]"],
    "check": [ROLE_TESTS + f"test_check_mode_on_a_fresh_install_predicts_the_run[{PROFILE}]"],
    "demo": ["tests/integration/test_demo.py::"
             "test_the_demo_secures_the_mcp_server_then_lets_a_real_client_in_and_stops_the_simulator"],
}
CHECKS = ("unit", "role", "check", "demo", "sanity")
CHECK_TIMEOUT = 1800  # seconds; a check still running then has hung
SETUP_TIMEOUT = 1200

# Files copied for ansible-test: tracked plus untracked-but-not-ignored, without local state (as `make sanity`).
SANITY_PATHSPEC = [".", ":!:.venv", ":!:.cache", ":!:tests/output", ":!:.ansible"]

print_lock = threading.Lock()


def say(message: str) -> None:
    with print_lock:
        print(message, flush=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Outcome:
    status: str  # passed | failed | not runnable | not run
    seconds: float | None = None
    summary: str = ""  # pytest's closing line, or what happened
    reasons: list[str] = field(default_factory=list)  # why it failed, one line each
    log: str | None = None


@dataclass
class CellResult:
    core: str
    pin: str
    python_minor: str
    python: dict | None = None  # executable, version, how it was found
    setup: Outcome | None = None
    checks: dict[str, Outcome] = field(default_factory=dict)

    @property
    def statuses(self) -> list[str]:
        return [o.status for o in self.checks.values()]


# --- the cell's environment ---------------------------------------------------------------------------------------


def venv_dir(cell: Cell) -> Path:
    return CACHE / f"venv-{cell.core}"


def venv_key(cell: Cell, python: FoundPython) -> dict:
    """What the environment is made from: when any of it changes, the environment is made again."""
    return {
        "requirements_sha256": hashlib.sha256(cell.requirements.read_bytes()).hexdigest(),
        "python": python.executable,
        "python_version": python.version,
    }


def run_logged(args: list[str], log: Path, timeout: float, cwd: Path = REPO_ROOT, env: dict | None = None,
               append: bool = False) -> tuple[int, str]:
    """Run ``args`` with its output to ``log``; return the exit code and the output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a" if append else "w") as out:
        out.write("$ " + " ".join(args) + "\n")
        out.flush()
        try:
            proc = subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n[timed out after {timeout:.0f} s]\n")
            code = -1
    return code, log.read_text(errors="replace")


def ensure_venv(cell: Cell, python: FoundPython, logs: Path) -> Outcome:
    started = time.monotonic()
    venv = venv_dir(cell)
    stamp = venv / ".matrix-stamp.json"
    key = venv_key(cell, python)
    log = logs / "setup.log"
    if stamp.exists() and json.loads(stamp.read_text()) == key and (venv / "bin" / "python").exists():
        log.write_text(f"reused {venv} ({cell.requirements.name} and Python {python.version} unchanged)\n")
        return Outcome(PASSED, time.monotonic() - started, "reused", log=str(log))
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [python.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "-r", str(cell.requirements)],
    ]
    for step in steps:
        code, output = run_logged(step, log, SETUP_TIMEOUT, append=True)
        if code != 0:
            shutil.rmtree(venv, ignore_errors=True)
            reason = next((line for line in reversed(output.splitlines()) if line.startswith("ERROR")), f"exit {code}")
            return Outcome(FAILED, time.monotonic() - started, "environment not made", [reason], str(log))
    stamp.write_text(json.dumps(key, indent=2) + "\n")
    return Outcome(PASSED, time.monotonic() - started, "made", log=str(log))


def cell_env(cell: Cell) -> dict[str, str]:
    """The environment of a cell's commands: its venv first on PATH, nothing inherited that would pick another."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(venv_dir(cell) / "bin") + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "300"  # pytest's short summary keeps the failure's message on one unshortened line
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- the checks ---------------------------------------------------------------------------------------------------


# pytest's closing line, with -q ("1 failed, 3 passed in 2.01s") or without ("=== ... in 2.01s ===").
SUMMARY_RE = re.compile(r"^=* ?(\d+ (?:passed|failed|errors?|skipped|deselected)\b.*|no tests ran) in [\d.]+s\b.*$")


def error_blocks(lines: list[str]) -> list[str]:
    """pytest's "E   " lines, each run of them joined into one line: the exception and its message, in full.

    The short summary names a collection error's file only, and shortens a failure's message.
    """
    blocks, current = [], []
    for line in lines + [""]:
        if line.startswith("E "):
            current.append(line[1:].strip())
        elif current:
            blocks.append(" ".join(part for part in current if part))
            current = []
    return list(dict.fromkeys(blocks))


def pytest_check(cell: Cell, name: str, logs: Path) -> Outcome:
    started = time.monotonic()
    log = logs / f"{name}.log"
    python = str(venv_dir(cell) / "bin" / "python")
    # -vv: assertion messages in full (the role tests put the failed tasks' messages there).
    args = [python, "-m", "pytest", "-p", "no:cacheprovider", "-vv", "-rfEs", "--tb=short", *PYTEST_CHECKS[name]]
    code, output = run_logged(args, log, CHECK_TIMEOUT, env=cell_env(cell))
    seconds = time.monotonic() - started
    lines = output.splitlines()
    summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY_RE.match(line))), f"pytest exit {code}")
    reasons = [line for line in lines if line.startswith(("FAILED ", "ERROR ", "SKIPPED "))]
    reasons += error_blocks(lines)[:3]
    # Passed means every selected test ran and passed: a skip is no pass.
    if code == 0 and "skipped" not in summary and "passed" in summary:
        return Outcome(PASSED, seconds, summary, log=str(log))
    if not reasons:
        reasons = [line for line in lines if line.startswith("ERROR:")] or lines[-3:]
    return Outcome(FAILED, seconds, summary, reasons, str(log))


def copy_for_sanity(destination: Path) -> None:
    """The tree as `make sanity` copies it: tracked and untracked-but-not-ignored files, no local state."""
    shutil.rmtree(destination.parents[2], ignore_errors=True)
    destination.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SANITY_PATHSPEC],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file() and not source.is_symlink():  # a tracked file deleted in the tree is left out
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def sanity_check(cell: Cell, python: FoundPython, logs: Path, work_tmp: Path) -> Outcome:
    started = time.monotonic()
    log = logs / "sanity.log"
    collection = work_tmp / f"sanity-{cell.core}" / "ansible_collections" / "mcpgate" / "gravitee"
    copy_for_sanity(collection)
    env = cell_env(cell)
    # ansible-test keeps its per-test environments and its get-pip cache under ~/.ansible/test: one home per cell.
    home = CACHE / f"ansible-test-home-{cell.core}"
    env["HOME"] = str(home)
    bin_dir = venv_dir(cell) / "bin"
    # ansible-test would download get-pip from a host these machines cannot reach; it uses a cached script named
    # after the pip version it wants instead: tests/tools/get_pip.py stands in for it (as in `make sanity`).
    pip_version = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "import types; from ansible_test._internal.python_requirements import get_venv_packages; "
         f"print(get_venv_packages(types.SimpleNamespace(version={cell.python!r}))['pip'])"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "tests" / "tools" / "get_pip.py", cache / f"get_pip_{pip_version.replace('.', '_')}.py")
    args = [str(bin_dir / "ansible-test"), "sanity", "--venv", "--python", cell.python]
    code, output = run_logged(args, log, CHECK_TIMEOUT, cwd=collection, env=env)
    seconds = time.monotonic() - started
    if code == 0:
        return Outcome(PASSED, seconds, "ansible-test sanity passed", log=str(log))
    reasons = [line for line in output.splitlines() if line.startswith(("ERROR: ", "FATAL: ")) or re.match(r"^\S+\.\w+:\d+:\d+: ", line)]
    return Outcome(FAILED, seconds, f"ansible-test sanity exit {code}", reasons[:40] or output.splitlines()[-5:], str(log))


# --- one cell -----------------------------------------------------------------------------------------------------


def run_cell(cell: Cell, checks: list[str], work_tmp: Path) -> CellResult:
    result = CellResult(cell.core, cell.pin, cell.python)
    wanted = [c for c in checks if c != "sanity" or cell.sanity]
    logs = CACHE / "logs" / cell.core
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    python, tried = find_python(cell.python)
    if python is None:
        reason = f"no Python {cell.python} on this machine (ansible-core {cell.core} needs one of " \
                 f"{', '.join(cell.controller_pythons)}; cell on {cell.python}): " + "; ".join(tried)
        result.setup = Outcome(NOT_RUNNABLE, None, "no Python", [reason])
        result.checks = {c: Outcome(NOT_RUNNABLE, None, "no Python", [reason]) for c in wanted}
        say(f"[{cell.core}] not runnable: {reason}")
        return result
    result.python = asdict(python)
    say(f"[{cell.core}] ansible-core {cell.pin} on Python {python.version} ({python.executable}, found in {python.how})")
    result.setup = ensure_venv(cell, python, logs)
    say(f"[{cell.core}] setup {result.setup.status}: environment {result.setup.summary} ({duration(result.setup.seconds)})")
    if result.setup.status != PASSED:
        result.checks = {c: Outcome(FAILED, None, "setup failed", result.setup.reasons, result.setup.log) for c in wanted}
        return result
    for check in wanted:
        outcome = sanity_check(cell, python, logs, work_tmp) if check == "sanity" else pytest_check(cell, check, logs)
        result.checks[check] = outcome
        say(f"[{cell.core}] {check} {outcome.status} ({duration(outcome.seconds)}): {outcome.summary}")
    return result


# --- the report ---------------------------------------------------------------------------------------------------


def shorten(reason: str, width: int = 400) -> str:
    """One line of a failure for the terminal (the JSON keeps it whole): a test's name without pytest's shortened
    message, the demo's own failure line (marked ✗) rather than what it printed before it."""
    if reason.startswith(("FAILED ", "ERROR ")) and " - " in reason:
        reason = reason.split(" - ", 1)[0]
    elif "✗ " in reason:
        reason = reason[reason.rindex("✗ "):]
    return reason if len(reason) <= width else reason[: width - 3] + "..."


def table(results: list[CellResult], checks: list[str]) -> str:
    headers = ["core", "ansible-core", "python", "setup", *checks]
    rows = []
    for r in results:
        row = [r.core, r.pin, (r.python or {}).get("version", r.python_minor + " (none)")]
        row.append(f"{r.setup.status} {duration(r.setup.seconds)}".strip() if r.setup else "")
        for check in checks:
            outcome = r.checks.get(check)
            row.append(f"{outcome.status} {duration(outcome.seconds)}".strip() if outcome else "-")
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.matrix.run_matrix", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cores", help=f"comma-separated minor versions (default: all of {', '.join(CORES)})")
    parser.add_argument("--checks", help=f"comma-separated checks (default: all of {', '.join(CHECKS)})")
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (at most 2 on these 2-CPU machines)")
    parser.add_argument("--allow-not-runnable", action="store_true",
                        default=os.environ.get("MATRIX_ALLOW_NOT_RUNNABLE", "") not in ("", "0"),
                        help="a cell without its Python is reported but does not fail the run")
    parser.add_argument("--json", type=Path, default=CACHE / "results.json", help="where to write the results")
    parser.add_argument("--work-tmp", type=Path, help="scratch folder for the sanity copies (default: under TMPDIR)")
    args = parser.parse_args(argv)
    cores = args.cores.split(",") if args.cores else list(CORES)
    checks = args.checks.split(",") if args.checks else list(CHECKS)
    unknown = sorted(set(cores) - set(CORES)) + sorted(set(checks) - set(CHECKS))
    if unknown:
        parser.error("unknown core or check: " + ", ".join(unknown))
    jobs = max(1, min(args.jobs, 2))
    work_tmp = args.work_tmp or Path(tempfile.gettempdir()) / (
        "mcpgate-gravitee-matrix-" + hashlib.sha1(bytes(REPO_ROOT)).hexdigest()[:10])
    cells = [cell for cell in CELLS if cell.core in cores]
    # The longest cells (those with sanity) first, so that the last cell to start is a short one.
    order = sorted(cells, key=lambda cell: not (cell.sanity and "sanity" in checks))

    CACHE.mkdir(parents=True, exist_ok=True)
    lock = (CACHE / "run.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another test-matrix run holds {CACHE / 'run.lock'}: waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)

    started = time.monotonic()
    say(f"ansible-core matrix: {', '.join(c.core for c in cells)}; checks {', '.join(checks)}; {jobs} cell(s) at once")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        by_core = {r.core: r for r in pool.map(lambda cell: run_cell(cell, checks, work_tmp), order)}
    results = [by_core[cell.core] for cell in cells]
    elapsed = time.monotonic() - started

    failed = [(r.core, c, o) for r in results for c, o in r.checks.items() if o.status == FAILED]
    not_runnable = [r.core for r in results if r.setup and r.setup.status == NOT_RUNNABLE]
    ok = not failed and (not not_runnable or args.allow_not_runnable)
    say("\n" + table(results, checks))
    for core, check, outcome in failed:
        say(f"\n{core} {check} failed: {outcome.summary}  (log: {outcome.log})")
        for reason in outcome.reasons[:12]:
            say("    " + shorten(reason))
    for core in not_runnable:
        outcome = by_core[core].setup
        say(f"\n{core} not runnable" + (" (allowed)" if args.allow_not_runnable else "") + ": " + outcome.reasons[0])
    say(f"\n{'passed' if ok else 'FAILED'}: {len(cells)} cell(s) in {duration(elapsed)}; "
        f"{len(failed)} check(s) failed, {len(not_runnable)} cell(s) not runnable; results in {args.json}")
    outcomes = [o.status for r in results for o in r.checks.values()]
    # The plain closing line CI reads (a check that could not run counts as skipped there, and fails the run above).
    say(f"test-matrix: {outcomes.count(PASSED)} passed, {outcomes.count(FAILED)} failed"
        + (f", {outcomes.count(NOT_RUNNABLE)} skipped" if NOT_RUNNABLE in outcomes else ""))

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "ok": ok,
        "seconds": round(elapsed, 1),
        "jobs": jobs,
        "complete": cores == list(CORES) and checks == list(CHECKS),
        "checks": checks,
        "cells": [asdict(r) for r in results],
    }, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
