"""Shared pytest fixtures: a simulator per version profile, reset before every test that uses it."""

from __future__ import annotations

import pytest

from tests.simulator.harness import start_simulator

PROFILES = ("4.10", "4.12")


@pytest.fixture(scope="session")
def simulators():
    """Started lazily, once per profile per test session; stopped at the end."""
    running = {}

    def get(profile: str):
        if profile not in running:
            running[profile] = start_simulator(profile)
        return running[profile]

    yield get
    for simulator in running.values():
        simulator.stop()


@pytest.fixture(params=PROFILES, ids=lambda p: f"profile-{p}")
def sim(request, simulators):
    """A freshly reset simulator, once for each version profile."""
    simulator = simulators(request.param)
    simulator.reset()
    return simulator
