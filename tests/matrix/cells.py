"""The cells of `make test-matrix`: which ansible-core, on which Python, and how that Python is found.

Standard library only: the matrix runs before (and without) the project's own virtual environment.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS_IN = HERE / "requirements.in"


@dataclass(frozen=True)
class Cell:
    """One ansible-core minor version, pinned to its newest patch, on one Python it supports as controller."""

    core: str  # minor version, e.g. "2.16"
    pin: str  # the exact ansible-core release installed
    python: str  # "3.10": the controller Python of the cell (the modules run on it too)
    controller_pythons: tuple[str, ...]  # what that ansible-core supports on the controller
    sanity: bool = False  # ansible-test sanity runs on this cell

    @property
    def requirements(self) -> Path:
        return HERE / f"requirements-{self.core}.txt"


# The controller Pythons are ansible-core's own (its python_requires and the support matrix of each release).
# Each Python the machine has (3.10 to 3.13) is used at least once; 2.19 runs on 3.11 like the project's .venv.
# ansible-test sanity runs on the oldest and the newest core (`make sanity` runs it on the project's 2.19).
CELLS = (
    Cell("2.16", "2.16.19", "3.10", ("3.10", "3.11", "3.12"), sanity=True),
    Cell("2.17", "2.17.14", "3.12", ("3.10", "3.11", "3.12")),
    Cell("2.18", "2.18.19", "3.11", ("3.11", "3.12", "3.13")),
    Cell("2.19", "2.19.14", "3.11", ("3.11", "3.12", "3.13")),
    Cell("2.20", "2.20.10", "3.12", ("3.12", "3.13", "3.14")),
    Cell("2.21", "2.21.5", "3.13", ("3.12", "3.13", "3.14"), sanity=True),
)
CORES = tuple(cell.core for cell in CELLS)


def cell_for(core: str) -> Cell:
    for cell in CELLS:
        if cell.core == core:
            return cell
    raise KeyError(f"no cell for ansible-core {core}; known: {', '.join(CORES)}")


@dataclass(frozen=True)
class FoundPython:
    executable: str  # absolute path, symlinks resolved
    version: str  # full version, e.g. "3.10.13"
    how: str  # where it was found, for the report


def _probe(candidate: str, minor: str) -> str | None:
    """The full version of ``candidate`` if it is a working CPython ``minor`` with venv and ensurepip, else None."""
    code = (
        "import sys, venv, ensurepip, ssl, sqlite3; "
        "print('%d.%d.%d' % sys.version_info[:3], sys.implementation.name)"
    )
    try:
        proc = subprocess.run([candidate, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    version, implementation = proc.stdout.split()
    if implementation != "cpython" or not (version + ".").startswith(minor + "."):
        return None
    return version


def _patch_key(path: str) -> tuple[int, ...]:
    """Sort key: the version in a pyenv folder name (3.10.13 > 3.10.9); pre-releases and oddities sort first."""
    match = re.search(r"/(\d+)\.(\d+)\.(\d+)/bin/", path)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def _pyenv_roots() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            root = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False).stdout.strip()
            roots.insert(0, root)
        except (OSError, subprocess.TimeoutExpired):
            pass
    seen, unique = set(), []
    for root in roots:
        if root and os.path.isdir(root) and os.path.realpath(root) not in seen:
            seen.add(os.path.realpath(root))
            unique.append(root)
    return unique


def candidates(minor: str) -> list[tuple[str, str]]:
    """Where a Python ``minor`` may be, in order of preference, each with a word on where it came from.

    1. ``MATRIX_PYTHON_3_10`` (for 3.10): an explicit interpreter, for a machine laid out differently; ``none``
       stands for a machine without that Python (to see how a cell that cannot run is reported);
    2. pyenv's installs, newest patch first (``pyenv root``, ``$PYENV_ROOT``, ``~/.pyenv``): real interpreters,
       unlike pyenv's shims, which run only the versions pyenv has activated;
    3. ``python3.10`` on PATH (pyenv shims skipped), then /usr/local/bin and /usr/bin (a distribution's Python).
    """
    found: list[tuple[str, str]] = []
    variable = "MATRIX_PYTHON_" + minor.replace(".", "_")
    override = os.environ.get(variable)
    if override == "none":
        return []
    if override:
        found.append((override, variable))
    for root in _pyenv_roots():
        installs = glob.glob(os.path.join(root, "versions", minor + ".*", "bin", "python" + minor))
        for path in sorted(installs, key=_patch_key, reverse=True):
            found.append((path, "pyenv " + root))
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and "/shims" not in d]
    for directory in path_dirs + ["/usr/local/bin", "/usr/bin"]:
        path = os.path.join(directory, "python" + minor)
        if os.access(path, os.X_OK):
            found.append((path, "PATH" if directory in path_dirs else directory))
    return found


def find_python(minor: str) -> tuple[FoundPython | None, list[str]]:
    """The first working Python ``minor`` among the candidates, and what was tried (for a 'not runnable' report)."""
    tried = []
    seen = set()
    for path, how in candidates(minor):
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        version = _probe(path, minor)
        if version:
            return FoundPython(os.path.abspath(path), version, how), tried
        tried.append(f"{path} ({how}): not a working CPython {minor} with venv and ensurepip")
    if not tried:
        variable = "MATRIX_PYTHON_" + minor.replace(".", "_")
        tried.append(f"{variable}=none" if os.environ.get(variable) == "none" else f"no python{minor} in {variable}, pyenv or PATH")
    return None, tried
