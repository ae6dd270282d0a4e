"""Fixtures for the simulator's own tests.

``unchecked_simulators``: simulators started without the OpenAPI checks (``--specs-dir`` pointing
nowhere), once per profile.  The spec checker answers a request that breaks the spec itself, so tests
of how the real server answers such input (bean validation messages, ``Malformed json``, explicit nulls
in a PATCH, undocumented error statuses) use these; everything else uses the checked ``sim``.
``am`` / ``domain``: an AM Management API client on ``sim``, and the seeded ``mcp`` domain.
"""

from __future__ import annotations

import pytest

from tests.integration.simulator.am_api import AmApi
from tests.simulator.harness import start_simulator

PROFILES = ("4.10", "4.12")


@pytest.fixture(scope="session")
def unchecked_simulators(tmp_path_factory):
    running = {}
    no_specs = str(tmp_path_factory.mktemp("no-specs") / "absent")

    def get(profile: str):
        if profile not in running:
            running[profile] = start_simulator(profile, extra_args=["--specs-dir", no_specs])
        return running[profile]

    yield get
    for simulator in running.values():
        simulator.stop()


@pytest.fixture
def am(sim) -> AmApi:
    return AmApi(sim)


@pytest.fixture
def domain(am) -> dict:
    return am.domain("mcp")
