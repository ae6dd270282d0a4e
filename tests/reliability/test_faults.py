"""Faults: every write the role sends fails once, in turn; the run stops with a clear error, leaves no API open,
and a second run without faults converges to exactly the state of a clean run.

The writes come from a clean run (``WRITES``, checked by the first test). Kinds of fault:

* ``503``: the server answers 503 without applying the request;
* ``drop``: the connection is closed when the request arrives, before it is applied;
* ``drop-after``: the request is applied, then the connection is closed (the answer is lost);
* ``timeout``: the answer comes 4 s late while the modules wait 3 s (``secure_mcp_timeout: 3``); the request is
  applied when the delay is over.

The client retries GET/PUT/PATCH/DELETE (``retries: 3``), so such a write is failed 4 times in a row to make the run
fail; a POST is not retried once sent, so it is failed once. ``make test`` runs 7 chosen cases (``CASES``);
``make reliability`` (``MCPGATE_RELIABILITY=full``) runs every kind on every write (44 cases). Profile 4.12 only.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.role_support import changed, failures, run_role
from tests.reliability.support import FULL, first_failure, no_traceback, snapshot, unauthenticated_status

# (server, method, path pattern, occurrence in the run, what it does) in the order a fresh run sends them.
WRITES = [
    ("apim", "POST", r"/apis$", 0, "create the MCP proxy API"),
    ("apim", "POST", r"/apis/[^/]+/plans$", 0, "create the keyless plan"),
    ("apim", "POST", r"/apis/[^/]+/plans/[^/]+/_publish$", 0, "publish the keyless plan"),
    ("apim", "POST", r"/apis/[^/]+/_start$", 0, "start (and first deploy) the API, keyless test"),
    ("am", "POST", r"/domains/[^/]+/protected-resources$", 0, "create the AM MCP server"),
    ("am", "PATCH", r"/domains/[^/]+$", 0, "AM domain settings (DCR)"),
    ("apim", "PUT", r"/apis/[^/]+$", 0, "add the AM resource to the API"),
    ("apim", "POST", r"/apis/[^/]+/plans$", 1, "create the OAuth2 plan"),
    ("apim", "POST", r"/apis/[^/]+/plans/[^/]+/_publish$", 1, "publish the OAuth2 plan"),
    ("apim", "DELETE", r"/apis/[^/]+/plans/[^/]+$", 0, "delete the keyless plan"),
    ("apim", "POST", r"/apis/[^/]+/deployments$", 0, "deploy the API with the OAuth2 plan"),
]
KINDS = ("503", "drop", "drop-after", "timeout")
TIMEOUT, DELAY, RETRIES = 3, 4, 3

if FULL:
    CASES = [(index, kind) for index in range(len(WRITES)) for kind in KINDS]
else:
    # make test (time budget): every kind, both servers, every method, and the writes where security or a secret is
    # at stake: the keyless start landing late, the AM secret lost with its answer, the switch to OAuth2.
    CASES = [(3, "timeout"), (4, "drop-after"), (5, "503"), (6, "drop-after"), (8, "503"), (9, "drop"), (10, "drop-after")]


def matches(write, request) -> bool:
    server, method, pattern = write[:3]
    return request["server"] == server and request["method"] == method and re.search(pattern, request["path"]) is not None


def test_a_clean_run_sends_exactly_these_writes(clean_run, record):
    record.update(category="faults-baseline", writes=len(clean_run["writes"]))
    shapes = [(w["server"], w["method"], w["path"]) for w in clean_run["writes"]]
    assert len(shapes) == len(WRITES), shapes
    for index, (write, request) in enumerate(zip(WRITES, clean_run["writes"])):
        assert matches(write, request), (index, write, request["method"], request["path"])
        occurrence = sum(1 for earlier in clean_run["writes"][:index] if matches(write, earlier))
        assert occurrence == write[3], (index, write)


def inject(sim, write, kind):
    server, method, pattern, occurrence, _label = write
    count = 1 if method == "POST" else RETRIES + 1  # what it takes to make the write fail
    fault = {"method": method, "server": server, "path": pattern, "skip": occurrence, "count": count}
    if kind == "503":
        sim.inject(kind="status", status=503, **fault)
    elif kind == "drop":
        sim.inject(kind="drop", **fault)
    elif kind == "drop-after":
        sim.inject(kind="drop", after=True, **fault)
    else:
        sim.inject(kind="delay", delay=DELAY, **fault)


@pytest.mark.parametrize("index,kind", CASES, ids=[f"{i:02d}-{WRITES[i][1]}-{WRITES[i][4].replace(' ', '_')}-{k}" for i, k in CASES])
def test_a_failed_write_stops_the_run_cleanly_leaves_nothing_open_and_a_rerun_converges(sim, clean_run, record, index, kind):
    write = WRITES[index]
    record.update(category="faults", write=f"{write[1]} {write[2]} #{write[3] + 1}", label=write[4], kind=kind)
    inject(sim, write, kind)
    started = time.monotonic()
    faulted = run_role(sim, secure_mcp_timeout=TIMEOUT)
    record["faulted_run_seconds"] = round(time.monotonic() - started, 1)

    # 1. The run fails, at that call, with a sentence (no traceback).
    assert faulted.rc != 0, "the run did not fail: " + str(changed(faulted))
    failure = first_failure(faulted)
    record["message"] = failure.msg[:300]
    assert write[1] in failure.msg and re.search(write[2].replace("$", r"\b"), failure.msg), failure.msg
    assert no_traceback(faulted), faulted.stdout[-3000:]
    # A POST that reached the server is never sent twice.
    requests = sim.requests()
    if write[1] == "POST":
        assert sum(1 for r in requests if matches(write, r)) == write[3] + 1, [r["path"] for r in requests if matches(write, r)]

    # 2. Whatever the fault, the failed run left no API an MCP client reaches without a token: 401 (OAuth2 deployed)
    # or 404 (never started, or stopped by the role's rescue). A request that timed out lands later: wait for it.
    time.sleep(max(0.0, DELAY - (time.monotonic() - started)) if kind == "timeout" else 0)
    status = unauthenticated_status(sim)
    record["unauthenticated_status_after_failure"] = status
    assert status in (401, 404), f"an MCP client without a token got HTTP {status} after the failed run"

    # 3. A run without faults converges to the state of a clean run: no duplicate API, plan, resource or MCP server.
    rerun = run_role(sim)
    assert rerun.rc == 0, failures(rerun)
    after = snapshot(sim)
    assert after == clean_run["snapshot"]
    assert unauthenticated_status(sim) == 401
    record["converged"] = True
