"""Shared pytest fixtures: a simulator per version profile, reset before every test that uses it."""

from __future__ import annotations

import hashlib
import os
import tempfile
import sys
from pathlib import Path

import pytest

from tests.simulator.harness import start_simulator

# Most tests run on the oldest and the newest profile; a test module that names SIMULATOR_PROFILES (the role's
# tests, the gateway's) runs on those instead, and a test marked profiles(...) on the ones it names.
DEFAULT_PROFILES = ("4.10", "4.12")

REPO_ROOT = Path(__file__).resolve().parents[1]
# Python and Ansible find the collection as ``ansible_collections.mcpgate.gravitee``: point a
# collections folder at this checkout (the same folder the integration tests give ansible-playbook).
# The folder lives outside the checkout so that no tool walking the tree follows the link into itself.
COLLECTIONS_PATH = Path(tempfile.gettempdir()) / ("mcpgate-collections-%s" % hashlib.sha1(bytes(REPO_ROOT)).hexdigest()[:10])
_LINK = COLLECTIONS_PATH / "ansible_collections" / "mcpgate" / "gravitee"
if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    try:
        _LINK.symlink_to(REPO_ROOT, target_is_directory=True)
    except FileExistsError:  # another test process made it first
        pass
if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS_PATH))


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


def pytest_configure(config):
    config.addinivalue_line("markers", "profiles(*names): the simulator profiles a test runs on")


def pytest_generate_tests(metafunc):
    if "sim_profile" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("profiles")
        profiles = marker.args if marker else getattr(metafunc.module, "SIMULATOR_PROFILES", DEFAULT_PROFILES)
        metafunc.parametrize("sim_profile", profiles, ids=lambda p: f"profile-{p}")


@pytest.fixture
def sim(sim_profile, simulators):
    """A freshly reset simulator, once for each version profile."""
    simulator = simulators(sim_profile)
    simulator.reset()
    return simulator
