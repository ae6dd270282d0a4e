"""Fixtures of the reliability tests: one 4.12 simulator per pytest worker, and a record per test.

Every test fills ``record`` (a dict) with what it tried; at teardown the record is written, with the
test's outcome, as one JSON file in the results folder (``MCPGATE_RELIABILITY_RESULTS``, default
tests/output/reliability). ``python -m tests.reliability.render`` turns the folder into docs/reliability.md.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.role_support import failures, run_role
from tests.reliability.support import RESULTS_DIR, snapshot
from tests.simulator.harness import start_simulator


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


@pytest.fixture(scope="session")
def sim412():
    """The reliability tests run on the 4.12 profile only (the version differences are covered elsewhere)."""
    simulator = start_simulator("4.12")
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(sim412):
    sim412.reset()
    return sim412


@pytest.fixture
def record(request):
    """What the test tried and measured; written with the outcome when the test ends."""
    data: dict = {"test": request.node.nodeid}
    yield data
    call = getattr(request.node, "rep_call", None)
    data["passed"] = bool(call and call.passed)
    if call is not None and call.failed:
        data["failure"] = str(call.longrepr).splitlines()[-1][:500]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:150]
    (RESULTS_DIR / f"{data.get('category', 'other')}--{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.fixture(scope="session")
def clean_run(sim412):
    """A clean run on a fresh simulator: its writes and the state it leaves (per worker: its own simulator)."""
    sim412.reset()
    run = run_role(sim412)
    assert run.rc == 0, failures(run)
    return {"writes": sim412.writes(), "snapshot": snapshot(sim412)}
