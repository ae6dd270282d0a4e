"""make bench: the secure_mcp role against the simulator, measured against its floor and a uri baseline.

Measured on this machine, in one run (tests/bench/FLOOR.md explains the floor):

* the role's first converge and a second, no-op run (one MCP server): HTTP requests by server and
  method, writes, wall time, and the requests each task sent (a request repeated inside one module
  run is reported);
* N = 1, 10, 50 MCP servers in one play, one inventory host per server (what the README recommends),
  with the time and requests per server;
* the floor: the fewest requests the job needs (FLOOR.md), and Ansible's own cost for the same number
  of tasks (trivial ``set_fact`` tasks for the role's controller-side tasks, ``when: false`` for its skipped
  tasks, and for its module tasks one trivial module per distinct module the role ran, each task mapped to
  the trivial module standing for its own), run the same way;
* that floor again with ``ansible.builtin.ping`` for every module task (``ansible_floor_wall_one_module``).
  The distinct-module floor is the fair one: Ansible builds a module's AnsiballZ payload once per distinct
  module per run (~0.1 s each), so one module N times pays that build once where the role pays it per module;
* the same guide written by hand with ``ansible.builtin.uri`` (tests/bench/baseline), measured the same way.

Wall times are the best of ``--repeat`` runs (the machine is shared: other test runs load its CPUs);
the median is recorded too.  Writes the table to stdout and the figures to tests/bench/results.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import COLLECTIONS_PATH  # noqa: E402  (links the checkout as ansible_collections/mcpgate/gravitee)
from tests.simulator.harness import start_simulator  # noqa: E402

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
ROLE_PLAYBOOK = HERE / "secure_mcp_fleet.yml"
BASELINE_PLAYBOOK = HERE / "baseline" / "secure_mcp_uri.yml"
RESULTS = HERE / "results.json"

MANAGEMENT = ("apim", "am")
# Requests counted as sent: the management APIs and the two gateways. "am_gateway" also holds the APIM gateway's own
# token introspection at AM (one per authenticated MCP request); "mcp" is the APIM gateway's upstream traffic.
SENT = ("apim", "am", "apim_gateway", "am_gateway")
# Actions that run in the controller's worker without starting a module on the target.
CONTROLLER_ACTIONS = {
    "ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.debug", "ansible.builtin.fail",
    "ansible.builtin.include_role", "ansible.builtin.include_tasks", "ansible.builtin.meta",
    "ansible.builtin.validate_argument_spec", "ansible.builtin.pause",
}

# The fewest requests the job needs, per MCP server (tests/bench/FLOOR.md gives the reasoning).
FLOOR_REQUESTS = {
    "first": {"management": 17, "gateway": 10},
    "noop": {"management": 7, "gateway": 9},
}

FLOOR_WHY = ("ansible_floor_wall runs one trivial module per distinct module the role ran (each task mapped to its own), as Ansible "
             "builds an AnsiballZ payload once per distinct module per run; ansible_floor_wall_one_module runs ansible.builtin.ping "
             "for every module task, so it pays that build once and under-counts Ansible's cost")
# A trivial new-style module: what a module costs Ansible to build, ship and run, with no work of its own.
TRIVIAL_MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

AnsibleModule(argument_spec={}).exit_json(changed=False)
"""


def log(message: str) -> None:
    print("bench: " + message, file=sys.stderr, flush=True)


def host_vars(sim, index: int, probe_retries: int = 5) -> dict[str, Any]:
    return {
        "secure_mcp_context_path": "/bench-%03d" % index,
        "secure_mcp_server_url": sim.urls["mcp"] + "/mcp",
        "secure_mcp_apim_gateway_url": sim.urls["apim_gateway"],
        "secure_mcp_am_gateway_url": sim.urls["am_gateway"],
        "secure_mcp_am_domain": "mcp",
        "secure_mcp_probe_retries": probe_retries,
        "secure_mcp_probe_delay": 1,
    }


def write_inventory(sim, servers: int, folder: Path) -> Path:
    hosts = {"mcp-%03d" % i: host_vars(sim, i) for i in range(1, servers + 1)}
    path = folder / ("inventory-%d.yml" % servers)
    path.write_text(yaml.safe_dump({"all": {"children": {"mcp_servers": {"hosts": hosts}}}}, sort_keys=False))
    return path


def ansible_env(sim, folder: Path, records: Path, pipelining: bool) -> dict[str, str]:
    return {
        **os.environ,
        **sim.env(),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        # The test harness's callback: each task's result, module, host and timing.
        "ANSIBLE_CALLBACKS_ENABLED": "record_results",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO_ROOT / "tests" / "integration" / "callback_plugins"),
        "MCPGATE_RESULTS_FILE": str(records),
        "ANSIBLE_PIPELINING": "true" if pipelining else "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_NOCOLOR": "true",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_LOCAL_TEMP": str(folder / "local"),
        "ANSIBLE_HOME": str(folder / "home"),
    }


def run_playbook(sim, playbook: Path, inventory: Path, forks: int, pipelining: bool = True) -> dict[str, Any]:
    """Run one playbook; return its wall time, its task records and the requests the simulator received."""
    with tempfile.TemporaryDirectory(prefix="mcpgate-bench-") as tmp:
        folder = Path(tmp)
        records = folder / "records.json"
        env = ansible_env(sim, folder, records, pipelining)
        sim.clear_requests()
        start = time.monotonic()
        proc = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", str(inventory), "--forks", str(forks), str(playbook)],
            env=env, capture_output=True, text=True, timeout=1200, check=False,
        )
        wall = time.monotonic() - start
        log("%s on %s: %.1f s" % (playbook.name, inventory.name, wall))
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc %s):\n%s\n%s" % (playbook.name, proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
        tasks = json.loads(records.read_text()) if records.exists() else []
    requests_seen = sim.requests()
    return {"wall": wall, "tasks": tasks, "requests": requests_seen, "writes": len(sim.writes())}


# -- figures --------------------------------------------------------------------------------------------
def request_figures(run: dict[str, Any], servers: int) -> dict[str, Any]:
    reqs = run["requests"]
    by_server = collections.Counter(r["server"] for r in reqs)
    by_method = collections.Counter(r["method"] for r in reqs if r["server"] in SENT)
    by_server_method = collections.Counter("%s %s" % (r["server"], r["method"]) for r in reqs)
    management = sum(by_server[s] for s in MANAGEMENT)
    gateway = by_server["apim_gateway"] + by_server["am_gateway"]
    return {
        "management": management,
        "gateway": gateway,
        "sent": management + gateway,
        "writes": run["writes"],
        "by_server": dict(sorted(by_server.items())),
        "by_method": dict(sorted(by_method.items())),
        "by_server_method": dict(sorted(by_server_method.items())),
        "per_server": {"management": management / servers, "gateway": gateway / servers, "writes": run["writes"] / servers},
    }


def task_kind(record: dict[str, Any]) -> str:
    """What a task record stands for in the floor: "skipped", "controller" (no module) or "module"."""
    if record["status"] == "skipped":
        return "skipped"
    return "controller" if record["action"] in CONTROLLER_ACTIONS else "module"


def host_records(run: dict[str, Any], host: str | None) -> list[dict[str, Any]]:
    return [record for record in run["tasks"] if host is None or record["host"] == host]


def task_counts(run: dict[str, Any], host: str | None = None) -> dict[str, int]:
    """Executed module tasks, controller-side tasks and skipped tasks of one host (retries count as runs)."""
    counts = collections.Counter(task_kind(record) for record in host_records(run, host))
    return {"module": len(module_actions(run, host)), "controller": counts["controller"], "skipped": counts["skipped"]}


def module_actions(run: dict[str, Any], host: str | None = None) -> list[str]:
    """The module (FQCN) of each module run (a retry is a run), in the order the role ran them."""
    actions = []
    for record in host_records(run, host):
        if task_kind(record) == "module":
            actions += [record["action"]] * int(record.get("attempts") or 1)
    return actions


def trivial_module(action: str) -> str:
    """The name of the trivial module standing for the role's module ``action`` in the floor."""
    return "bench_floor_" + action.replace(".", "_")


def requests_per_task(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One host only: each task's management requests (by time window), and the ones repeated inside it."""
    rows = []
    management = [r for r in run["requests"] if r["server"] in MANAGEMENT]
    for record in run["tasks"]:
        if record["status"] == "skipped" or record["start"] is None:
            continue
        sent = [r for r in management if record["start"] <= r["time"] <= record["end"]]
        keys = collections.Counter((r["server"], r["method"], r["path"], r["query"], json.dumps(r["body"], sort_keys=True)) for r in sent)
        repeated = ["%s %s %s" % (key[0], key[1], short_path(key[2])) for key, count in keys.items() if count > 1]
        if sent:
            rows.append({
                "task": record["task"].split(" : ", 1)[-1],
                "requests": ["%s %s %s%s" % (r["server"], r["method"], short_path(r["path"]), ("?" + r["query"]) if r["query"] else "") for r in sent],
                "repeated": repeated,
            })
    return rows


def short_path(path: str) -> str:
    for prefix in ("/management/v2/organizations/DEFAULT/environments/DEFAULT", "/management/v2/organizations/DEFAULT",
                   "/management/organizations/DEFAULT/environments/DEFAULT"):
        if path.startswith(prefix):
            return path[len(prefix):] or "/"
    return path


def floor_playbook(counts: dict[str, int], folder: Path, name: str, actions: list[str] | None = None) -> Path:
    """Ansible's own cost: the same number of trivial tasks, of the same kinds, on the same hosts.

    With ``actions`` (module_actions), module task i runs the trivial module standing for actions[i], written
    to library/ next to the playbook; without, every module task runs ansible.builtin.ping.
    """
    tasks = []
    for index in range(counts["module"]):
        module = "ansible.builtin.ping"
        if actions is not None:
            module = trivial_module(actions[index])
            (folder / "library").mkdir(exist_ok=True)
            (folder / "library" / (module + ".py")).write_text(TRIVIAL_MODULE)
        tasks.append({"name": "module task %d" % index, module: {}})
    for index in range(counts["controller"]):
        tasks.append({"name": "controller task %d" % index, "ansible.builtin.set_fact": {"bench_fact_%d" % index: index}})
    for index in range(counts["skipped"]):
        tasks.append({"name": "skipped task %d" % index, "ansible.builtin.set_fact": {"bench_skip": index}, "when": False})
    play = {
        "name": "Ansible's own cost for the role's tasks",
        "hosts": "mcp_servers",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": tasks,
    }
    path = folder / ("floor-%s.yml" % name)
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def timed(values: list[float]) -> dict[str, float]:
    return {"best": round(min(values), 2), "median": round(statistics.median(values), 2), "runs": [round(v, 2) for v in values]}


# -- scenarios ------------------------------------------------------------------------------------------
def first_and_noop(sim, playbook: Path, inventory: Path, servers: int, forks: int, repeat: int, pipelining: bool = True):
    """Fresh simulator, first converge, then the same play again; ``repeat`` times. Figures of the last."""
    firsts, noops, first, noop = [], [], None, None
    for dummy in range(repeat):
        sim.reset()
        first = run_playbook(sim, playbook, inventory, forks, pipelining)
        noop = run_playbook(sim, playbook, inventory, forks, pipelining)
        firsts.append(first["wall"])
        noops.append(noop["wall"])
    return first, noop, timed(firsts), timed(noops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="4.12", help="simulator version profile (4.10 or 4.12)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per wall-time figure (best and median kept)")
    parser.add_argument("--fleet", default="10,50", help="N > 1 measured (comma-separated)")
    parser.add_argument("--forks", type=int, default=10, help="forks for the N-server plays")
    parser.add_argument("--baseline-fleet", default="10", help="N > 1 measured for the uri baseline too")
    parser.add_argument("--fleet-noop-max", type=int, default=10, help="largest N whose no-op run is measured too")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    started = time.monotonic()
    sim = start_simulator(args.profile)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
                    "python": platform.python_version(), "profile": args.profile},
        "settings": {"repeat": args.repeat, "forks": args.forks, "pipelining": True,
                     "wall_time": "best of %d runs (median kept); the machine is shared" % args.repeat,
                     "ansible_floor": FLOOR_WHY},
        "floor_requests_per_server": FLOOR_REQUESTS,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="mcpgate-bench-") as tmp:
            folder = Path(tmp)
            one = write_inventory(sim, 1, folder)
            # One MCP server. The role, Ansible's own cost for the same tasks, and the uri baseline take turns
            # in each round, so that a load peak from another process hits them alike.
            walls = collections.defaultdict(list)
            runs, floors = {}, {}
            for dummy in range(args.repeat):
                for who, playbook in (("role", ROLE_PLAYBOOK), ("baseline", BASELINE_PLAYBOOK)):
                    sim.reset()
                    for phase in ("first", "noop"):
                        runs[who, phase] = run_playbook(sim, playbook, one, 1)
                        walls[who, phase].append(runs[who, phase]["wall"])
                for phase in ("first", "noop"):
                    if phase not in floors:
                        counts = task_counts(runs["role", phase])
                        floors[phase] = {"floor": floor_playbook(counts, folder, phase, module_actions(runs["role", phase])),
                                         "floor_one_module": floor_playbook(counts, folder, phase + "-one-module")}
                    for kind, playbook in floors[phase].items():
                        walls[kind, phase].append(run_playbook(sim, playbook, one, 1)["wall"])
            role, base = {}, {}
            for phase in ("first", "noop"):
                run = runs["role", phase]
                role[phase] = {"wall": timed(walls["role", phase]), "requests": request_figures(run, 1),
                               "tasks": task_counts(run), "modules": dict(collections.Counter(module_actions(run))),
                               "ansible_floor_wall": timed(walls["floor", phase]),
                               "ansible_floor_wall_one_module": timed(walls["floor_one_module", phase]),
                               "per_task": requests_per_task(run)}
                run = runs["baseline", phase]
                base[phase] = {"wall": timed(walls["baseline", phase]), "requests": request_figures(run, 1),
                               "tasks": task_counts(run)}
            # Without pipelining, to show what it saves (one run of each).
            dummy, dummy2, first_np, noop_np = first_and_noop(sim, ROLE_PLAYBOOK, one, 1, 1, 1, pipelining=False)
            role["without_pipelining"] = {"first": first_np, "noop": noop_np}
            results["role"], results["baseline"] = role, base

            # N servers in one play, one host per server, forks.
            fleet = {"1": fleet_row(runs["role", "first"], runs["role", "noop"], role["first"]["wall"]["best"],
                                    role["noop"]["wall"]["best"], 1)}
            for servers in [int(n) for n in args.fleet.split(",") if n]:
                inventory = write_inventory(sim, servers, folder)
                if servers <= args.fleet_noop_max:
                    f, n, ft, nt = first_and_noop(sim, ROLE_PLAYBOOK, inventory, servers, args.forks, 1)
                    fleet[str(servers)] = fleet_row(f, n, ft["best"], nt["best"], servers)
                else:  # first converge only: the time budget of make bench
                    sim.reset()
                    f = run_playbook(sim, ROLE_PLAYBOOK, inventory, args.forks)
                    fleet[str(servers)] = fleet_row(f, None, f["wall"], None, servers)
            results["fleet"] = {"forks": args.forks, "role": fleet}
            baseline_fleet = {"1": fleet_row(runs["baseline", "first"], runs["baseline", "noop"],
                                             base["first"]["wall"]["best"], base["noop"]["wall"]["best"], 1)}
            for servers in [int(n) for n in args.baseline_fleet.split(",") if n]:
                inventory = write_inventory(sim, servers, folder)
                f, n, ft, nt = first_and_noop(sim, BASELINE_PLAYBOOK, inventory, servers, args.forks, 1)
                baseline_fleet[str(servers)] = fleet_row(f, n, ft["best"], nt["best"], servers)
            results["fleet"]["baseline"] = baseline_fleet
    finally:
        sim.stop()
    results["verdict"] = verdict(results)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print("\nfigures: %s (%.0f s)" % (args.output, results["bench_seconds"]))
    return 0


def fleet_row(first, noop, first_wall, noop_wall, servers):
    fr = request_figures(first, servers)
    row = {
        "servers": servers,
        "first": {"wall": round(first_wall, 2), "wall_per_server": round(first_wall / servers, 2),
                  "management_per_server": fr["per_server"]["management"], "gateway_per_server": fr["per_server"]["gateway"],
                  "writes_per_server": fr["per_server"]["writes"]},
    }
    if noop is not None:
        nr = request_figures(noop, servers)
        row["noop"] = {"wall": round(noop_wall, 2), "wall_per_server": round(noop_wall / servers, 2),
                       "management_per_server": nr["per_server"]["management"], "gateway_per_server": nr["per_server"]["gateway"],
                       "writes": nr["writes"]}
    return row


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    role, base = results["role"], results["baseline"]
    first_mgmt = role["first"]["requests"]["management"]
    fleet = results["fleet"]["role"]
    per_server = [row["first"]["management_per_server"] for row in fleet.values()]
    return {
        "noop_writes": role["noop"]["requests"]["writes"],
        "first_management_over_floor": round(first_mgmt / FLOOR_REQUESTS["first"]["management"] - 1, 3),
        "first_sent_over_floor": round(
            role["first"]["requests"]["sent"] / sum(FLOOR_REQUESTS["first"].values()) - 1, 3),
        "noop_wall_over_ansible_cost": round(role["noop"]["wall"]["best"] / role["noop"]["ansible_floor_wall"]["best"], 3),
        "first_wall_over_ansible_cost": round(role["first"]["wall"]["best"] / role["first"]["ansible_floor_wall"]["best"], 3),
        "noop_wall_over_one_module_floor": round(role["noop"]["wall"]["best"] / role["noop"]["ansible_floor_wall_one_module"]["best"], 3),
        "first_wall_vs_baseline": round(role["first"]["wall"]["best"] / base["first"]["wall"]["best"], 3),
        "noop_wall_vs_baseline": round(role["noop"]["wall"]["best"] / base["noop"]["wall"]["best"], 3),
        "management_requests_per_server_first": per_server,
        "requests_per_server_flat": max(per_server) - min(per_server) <= 1,
        "repeats_within_a_module_run": sum(len(row["repeated"]) for row in role["first"]["per_task"] + role["noop"]["per_task"]),
    }


def table(results: dict[str, Any]) -> str:
    role, base = results["role"], results["baseline"]
    lines = []
    add = lines.append
    add("secure_mcp benchmark, simulator profile %s, %d CPUs, load %s at start; wall = best of %d runs (median)"
        % (results["machine"]["profile"], results["machine"]["cpus"], results["machine"]["load_average_at_start"],
           results["settings"]["repeat"]))
    add("")
    header = ("one MCP server", "wall s", "mgmt req", "gw req", "writes", "tasks", "(module/ctl/skip)", "by method (sent)")
    add("%-34s %9s %8s %7s %7s %6s  %-17s %s" % header)

    def row(label, wall, req, tasks):
        add("%-34s %9s %8s %7s %7s %6s  %-17s %s" % (
            label, wall, req["management"] if req else "", req["gateway"] if req else "", req["writes"] if req else "",
            sum(tasks.values()) if tasks else "", "%(module)d/%(controller)d/%(skipped)d" % tasks if tasks else "",
            " ".join("%s=%d" % kv for kv in req["by_method"].items()) if req else ""))

    def wall(t):
        return "%.2f (%.2f)" % (t["best"], t["median"])

    for phase, label in (("first", "first converge"), ("noop", "second run (no-op)")):
        row("role: " + label, wall(role[phase]["wall"]), role[phase]["requests"], role[phase]["tasks"])
        row("  floor: Ansible's cost, %d modules" % len(role[phase]["modules"]), wall(role[phase]["ansible_floor_wall"]), None, None)
        row("  floor: same tasks, ping only", wall(role[phase]["ansible_floor_wall_one_module"]), None, None)
        floor = FLOOR_REQUESTS[phase]
        floor_row = ("  floor: fewest requests (FLOOR.md)", "", floor["management"], floor["gateway"], "-" if phase == "noop" else "")
        add("%-34s %9s %8s %7s %7s" % floor_row)
        row("  role without pipelining", "%.2f" % role["without_pipelining"][phase]["best"], None, None)
        row("baseline (uri): " + label, wall(base[phase]["wall"]), base[phase]["requests"], base[phase]["tasks"])
    add("")
    add("role by server (first / no-op): %s / %s" % (role["first"]["requests"]["by_server"], role["noop"]["requests"]["by_server"]))
    add("")
    header = ("N servers, forks %d" % results["fleet"]["forks"], "first s", "s/server", "mgmt/server", "gw/server", "no-op s",
              "s/server", "mgmt/server")
    add("%-22s %8s %10s %12s %9s %10s %10s %12s" % header)
    for who in ("role", "baseline"):
        for servers, r in results["fleet"][who].items():
            noop = r.get("noop")
            add("%-22s %8.1f %10.2f %12.1f %9.1f %10s %10s %12s" % (
                "%s N=%s" % (who, servers), r["first"]["wall"], r["first"]["wall_per_server"], r["first"]["management_per_server"],
                r["first"]["gateway_per_server"], "%.1f" % noop["wall"] if noop else "-",
                "%.2f" % noop["wall_per_server"] if noop else "-", "%.1f" % noop["management_per_server"] if noop else "-"))
    add("")
    add("verdict: %s" % json.dumps(results["verdict"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
