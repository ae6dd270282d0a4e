"""Integration test fixtures shared by every test that talks to the simulator."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture(autouse=True)
def no_spec_violations(request):
    """Every test that uses the simulator must leave no unexpected spec violation behind.

    The simulator checks each management API request and response against the real OpenAPI specs
    (tests/simulator/specs.py).  A request a test breaks on purpose carries ``X-Sim-Expect-Violation``
    and is not counted; anything else is a bug in a client or in the simulator.
    """
    if "sim" not in request.fixturenames:
        yield
        return
    sim = request.getfixturevalue("sim")
    url = sim.urls["apim"] + "/_sim/violations"
    before = len(requests.get(url, timeout=10).json())
    yield
    unexpected = [v for v in requests.get(url, timeout=10).json()[before:] if not v["expected"]]
    assert not unexpected, "spec violations:\n" + "\n".join(f"{v['server']} {v['phase']}: {v['message']}" for v in unexpected)
