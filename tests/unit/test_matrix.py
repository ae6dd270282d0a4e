"""The ansible-core matrix's own machinery (tests/matrix): its cells, the Python lookup, and how it reports."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.matrix import cells as matrix_cells
from tests.matrix import run_matrix
from tests.matrix.cells import CELLS, find_python


def test_each_cell_pins_the_newest_patch_it_names_in_its_own_requirements_on_a_python_it_supports():
    assert [cell.core for cell in CELLS] == ["2.16", "2.17", "2.18", "2.19", "2.20", "2.21"]
    for cell in CELLS:
        assert cell.pin.startswith(cell.core + ".")
        assert cell.python in cell.controller_pythons
        pins = dict(line.split("==") for line in cell.requirements.read_text().splitlines() if "==" in line)
        assert pins["ansible-core"] == cell.pin, cell.requirements.name
        # What the tests, the simulator and the MCP client need is in every cell.
        assert {"pytest", "requests", "PyYAML", "mcp", "starlette", "uvicorn", "openapi-core"} <= set(pins)
    assert [cell.core for cell in CELLS if cell.sanity] == ["2.16", "2.21"]


def test_a_python_is_found_by_its_minor_version_and_checked_by_running_it(monkeypatch):
    minor = "%d.%d" % sys.version_info[:2]
    monkeypatch.setenv("MATRIX_PYTHON_" + minor.replace(".", "_"), sys.executable)
    found, tried = find_python(minor)
    assert found is not None and found.version.startswith(minor + ".")
    assert (found.executable, found.how) == (sys.executable, "MATRIX_PYTHON_" + minor.replace(".", "_"))
    assert not tried


def test_a_python_that_is_another_version_is_not_taken(monkeypatch, tmp_path):
    monkeypatch.setenv("MATRIX_PYTHON_3_99", sys.executable)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setattr(matrix_cells, "_pyenv_roots", lambda: [str(tmp_path)])
    found, tried = find_python("3.99")
    assert found is None
    assert tried[0].startswith(sys.executable) and "not a working CPython 3.99" in tried[0]


def test_none_stands_for_a_machine_without_that_python(monkeypatch):
    monkeypatch.setenv("MATRIX_PYTHON_3_10", "none")
    assert find_python("3.10") == (None, ["MATRIX_PYTHON_3_10=none"])


def test_a_cell_without_its_python_is_not_runnable_and_fails_the_run_unless_allowed(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(run_matrix, "CACHE", tmp_path / "cache")
    monkeypatch.setenv("MATRIX_PYTHON_3_10", "none")
    results = tmp_path / "results.json"
    assert run_matrix.main(["--cores", "2.16", "--json", str(results)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^2\.16 .*not runnable .*not runnable", out, re.M)
    assert "2.16 not runnable: no Python 3.10 on this machine" in out
    assert out.rstrip().endswith("test-matrix: 0 passed, 0 failed, 5 skipped")
    cell = json.loads(results.read_text())["cells"][0]
    assert {name: outcome["status"] for name, outcome in cell["checks"].items()} == dict.fromkeys(
        ["unit", "role", "check", "demo", "sanity"], "not runnable")
    assert run_matrix.main(["--cores", "2.16", "--json", str(results), "--allow-not-runnable"]) == 0
    assert json.loads(results.read_text())["ok"] is True


@pytest.mark.parametrize("closing, summary", [
    ("3 failed, 128 passed, 1 warning in 6.62s", "3 failed, 128 passed, 1 warning"),
    ("======== 1 passed in 31.88s ========", "1 passed"),
    ("1 error in 0.78s", "1 error"),
    ("=== no tests ran in 0.01s ===", "no tests ran"),
])
def test_pytest_closing_lines_are_read(closing, summary):
    assert run_matrix.SUMMARY_RE.match(closing).group(1) == summary


def test_a_failure_is_reported_with_its_whole_message():
    lines = ["x", "E   AssertionError: ['Preflight | a task: it failed", "E     ", "E     on line 3']", "E   assert 2 == 0",
             "next", "E   ImportError: nope"]
    assert run_matrix.error_blocks(lines) == [
        "AssertionError: ['Preflight | a task: it failed on line 3'] assert 2 == 0", "ImportError: nope"]
