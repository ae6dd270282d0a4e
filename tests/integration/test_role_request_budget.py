"""Guards the number of requests the secure_mcp role sends (tests/bench measures them fully: make bench).

The first converge and the no-op run of one MCP server, on both version profiles: management requests
by server and writes must not grow.  A change that adds a request fails here; lower the budget when a
change saves one (tests/bench/results.json has the figures and tests/bench/FLOOR.md the floor).
"""

from __future__ import annotations

import collections

from tests.integration.role_support import failures, run_role

# Management requests of one run, by server (AM 4.10 ignores q, but its answer stays one page here). Each module
# reads what it manages itself (tests/bench/FLOOR.md says which reads each step needs): a no-op run sends 16, a first
# converge 37 (the role's preflight reads, then each step's own reads and its writes).
FIRST_CONVERGE = {"apim": 25, "am": 12}
NO_OP = {"apim": 8, "am": 8}
FIRST_CONVERGE_WRITES = 11


def management_requests(sim) -> dict[str, int]:
    counts = collections.Counter(r["server"] for r in sim.requests() if r["server"] in ("apim", "am"))
    return dict(counts)


def test_first_converge_and_no_op_run_stay_within_their_request_budget(sim):
    sim.clear_requests()
    first = run_role(sim)
    assert first.rc == 0, failures(first)
    sent = management_requests(sim)
    assert all(sent.get(server, 0) <= budget for server, budget in FIRST_CONVERGE.items()), sent
    assert len(sim.writes()) <= FIRST_CONVERGE_WRITES, [(w["method"], w["path"]) for w in sim.writes()]

    sim.clear_requests()
    again = run_role(sim)
    assert again.rc == 0, failures(again)
    sent = management_requests(sim)
    assert all(sent.get(server, 0) <= budget for server, budget in NO_OP.items()), sent
    assert sim.writes() == []
    # A no-op run looks the MCP server up by its client id (q): it never reads every MCP server of the domain.
    lookups = [r["query"] for r in sim.requests() if r["method"] == "GET" and r["path"].endswith("/protected-resources")]
    assert lookups and all("q=" in query for query in lookups), lookups
