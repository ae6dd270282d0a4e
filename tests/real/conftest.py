"""Fixtures of the real tier: real AM and open-source APIM started once per session (tests/real/servers.py).

``real`` starts PostgreSQL and every product whose artifacts Maven could fetch, or reuses running servers
described by the JSON file in ``MCPGATE_REAL_SERVERS`` (written by ``python -m tests.real.servers --state F``).
It exposes ``urls`` and ``env()`` as the simulator's ``RunningSimulator`` does, so tests run the collection's
modules with ``tests.integration.ansible_run.run_tasks(real, tasks, ...)``.

``real_am`` / ``real_apim`` skip a test when that product is not running, with the reason as recorded (for a
missing artifact: Maven's own words). Nothing stands in for a product that is not there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.real import servers as launcher
from tests.real.processes import ProcessGroup, StartFailed


class RealServers:
    """The running real servers of this session (``urls`` keys as the simulator's: am, am_gateway, apim, apim_gateway)."""

    def __init__(self, state: launcher.Servers):
        self.state = state
        self.urls = dict(state.urls)

    def env(self) -> dict[str, str]:
        return self.state.env()

    def reason(self, product: str) -> str:
        keys = ["am"] if product == "am" else ["apim-rest-api", "apim-gateway"]
        return "; ".join(self.state.unavailable[k] for k in keys if k in self.state.unavailable) or f"{product} is not running"


@pytest.fixture(scope="session")
def real():
    reuse = os.environ.get("MCPGATE_REAL_SERVERS")
    if reuse:
        yield RealServers(launcher.Servers.load(Path(reuse)))
        return
    group = ProcessGroup()
    try:
        state = launcher.start(group)
    except StartFailed as failed:
        group.stop()
        pytest.fail(f"real servers did not start: {failed}", pytrace=False)
    try:
        yield RealServers(state)
    finally:
        group.stop()


@pytest.fixture(scope="session")
def real_am(real):
    if "am" not in real.urls:
        pytest.skip(real.reason("am"))
    return real


@pytest.fixture(scope="session")
def real_apim(real):
    if "apim" not in real.urls:
        pytest.skip(real.reason("apim"))
    return real


@pytest.fixture(scope="session")
def real_both(real):
    missing = [p for p, key in (("am", "am"), ("apim", "apim")) if key not in real.urls]
    if missing:
        pytest.skip(" | ".join(real.reason(p) for p in missing))
    return real
