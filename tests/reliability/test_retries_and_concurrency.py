"""Retries of transient errors, and runs of the role at the same time (profile 4.12)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.role_support import apim, failures, run_role
from tests.reliability.support import FULL, no_traceback, snapshot, unauthenticated_status
from tests.simulator.mcp_client import run_mcp_client

APIS = r"/management/v2/organizations/DEFAULT/environments/DEFAULT/apis"


def test_transient_errors_on_reads_and_idempotent_writes_are_retried_and_the_run_succeeds(sim, clean_run, record):
    transient = [
        # (server, method, path, status, count): each cured by the client's retries (3 by default).
        ("apim", "GET", APIS + r"/[^/]+$", 503, 2),
        ("apim", "PUT", APIS + r"/[^/]+$", 429, 2),
        ("apim", "DELETE", APIS + r"/[^/]+/plans/[^/]+$", 504, 2),
        ("am", "GET", r"/domains/_hrid/[^/]+$", 502, 2),
        ("am", "PATCH", r"/domains/[^/]+$", 503, 3),
    ]
    for server, method, path, status, count in transient:
        sim.inject(kind="status", server=server, method=method, path=path, status=status, count=count)
    sim.inject(kind="drop", server="apim", method="GET", path=r"/plugins/entrypoints/mcp-proxy$", count=1)
    run = run_role(sim)
    record.update(category="retries", injected=sum(t[4] for t in transient) + 1)
    assert run.rc == 0, failures(run)
    warnings = " ".join(str(w) for r in run.results for w in r.result.get("warnings") or [])
    assert re.search(r"HTTP 503, retrying", warnings + run.stderr), run.stderr[-2000:]
    recorded = sim.requests()
    for server, method, path, status, count in transient:
        answers = [r["status"] for r in recorded if r["server"] == server and r["method"] == method and re.search(path, r["path"])]
        assert answers[:count] == [status] * count and answers[count] != status, (method, path, answers)
    assert snapshot(sim) == clean_run["snapshot"]
    record["survived"] = record["injected"]


@pytest.mark.parametrize("race", ["as-it-comes", "both-search-first"] if FULL else ["both-search-first"])
def test_two_runs_for_the_same_mcp_server_at_once_end_with_one_of_each(sim, clean_run, record, race):
    record.update(category="concurrency", runs=2, same_server=True, race=race)
    if race == "both-search-first":
        # Both runs' first API searches are held 2 s, so both find no API and both create one: one must lose.
        sim.inject(kind="delay", server="apim", method="POST", path=APIS + r"/_search$", delay=2, count=2)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _i: run_role(sim), range(2)))
    record["outcomes"] = [run.rc for run in runs]
    for run in runs:
        assert no_traceback(run), run.stdout[-2000:]
        if run.rc != 0:
            # The role's own report (the last failure) says what happened and what to do.
            record.setdefault("loser_messages", []).append([r for r in run.results if r.failed][-1].msg[:400])
    assert any(run.rc == 0 for run in runs), [failures(run) for run in runs]
    # Whatever the interleaving, the servers hold one API, one OAuth2 plan, one resource, one MCP server ...
    state = snapshot(sim)
    assert len(state["apim_apis"]) == 1 and len(state["am_mcp_servers"]) == 1
    assert len(state["apim_apis"][0]["plans"]) == 1 and len(state["apim_apis"][0]["resources"]) == 1
    # A losing run's rescue may have stopped the API the winner deployed (404): closed either way.
    assert unauthenticated_status(sim) in (401, 404)
    # ... and a rerun converges to a clean run's state, where a real MCP client gets in (the secret in APIM is AM's).
    rerun = run_role(sim)
    assert rerun.rc == 0, failures(rerun)
    assert snapshot(sim) == clean_run["snapshot"]
    assert run_mcp_client(sim.urls["apim_gateway"] + "/weather-mcp", "demo", "demo-password")["tools"]


def test_many_runs_for_different_mcp_servers_at_once_all_succeed(sim, record):
    # Ten under make reliability; five in make test (time budget: ten role runs on two cores take ~100 s).
    paths = [f"/team-{n}-mcp" for n in range(10 if FULL else 5)]
    record.update(category="concurrency", runs=len(paths), same_server=False)
    with ThreadPoolExecutor(len(paths)) as pool:
        runs = list(pool.map(lambda path: run_role(sim, context_path=path), paths))
    record["outcomes"] = [run.rc for run in runs]
    assert [failures(run) for run in runs if run.rc != 0] == []
    state = snapshot(sim)
    assert sorted(p for api in state["apim_apis"] for p in api["paths"]) == sorted(p + "/" for p in paths)
    assert all(len(api["plans"]) == 1 and len(api["resources"]) == 1 for api in state["apim_apis"])
    assert sorted(s[1] for s in state["am_mcp_servers"]) == sorted("mcp-" + p.strip("/") for p in paths)
    assert all(unauthenticated_status(sim, path) == 401 for path in paths)
    assert len(apim(sim, "/apis/_search", method="POST", json={"query": ""}, params={"perPage": 100})["data"]) == len(paths)
