"""``make demo``: the guide "Securing an MCP server with Gravitee", end to end, on this machine.

1. starts the Gravitee simulator (APIM and AM management APIs and gateways, and an unsecured MCP
   server) in the background;
2. runs ``playbooks/secure_mcp.yml -e @playbooks/vars/demo.yml`` (the management API connection from
   GRAVITEE_APIM_* / GRAVITEE_AM_* environment variables), and once more to show it changes nothing;
3. shows what an MCP client without a token gets: the 401 challenge that leads to AM;
4. runs a real MCP client (the MCP SDK's OAuth support, as VS Code does it: discovery, Dynamic Client
   Registration, PKCE, the demo user's login answered headlessly) through the gateway, and calls a tool;
5. stops the simulator, also on failure or Ctrl-C.

Command line: ``python -m tests.demo.run_demo [--free-ports] [--profile 4.10|4.12]``, from the
repository root with the project's virtual environment (``make demo`` does that).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.simulator.core import SERVERS
from tests.simulator.profiles import PROFILES
from tests.simulator.harness import free_ports
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS, run_mcp_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/secure_mcp.yml"
DEMO_VARS = "playbooks/vars/demo.yml"
CALLBACK_PLUGINS = REPO_ROOT / "tests" / "integration" / "callback_plugins"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

# The demo user the simulator seeds in the AM domain ``mcp``; the simulator's admin accounts.
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
CONNECTION_CREDENTIALS = {
    "GRAVITEE_APIM_USERNAME": "admin",
    "GRAVITEE_APIM_PASSWORD": "admin",
    "GRAVITEE_AM_USERNAME": "admin",
    "GRAVITEE_AM_PASSWORD": "adminadmin",
}
TOOL, TOOL_ARGUMENTS = "get_weather", {"city": "Paris"}
READY_TIMEOUT = 30
PLAYBOOK_TIMEOUT = 600


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


class Demo:
    """The demo's state: its scratch folder, the simulator process, and what to print."""

    def __init__(self, profile: str, use_free_ports: bool):
        self.profile = profile
        self.ports = self.pick_ports(use_free_ports)
        self.work = Path(tempfile.mkdtemp(prefix="mcpgate-demo-"))
        self.simulator: subprocess.Popen | None = None
        self.simulator_log = self.work / "simulator.log"
        self.demo_vars = yaml.safe_load((REPO_ROOT / DEMO_VARS).read_text())
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.mcp_url = self.urls["apim_gateway"] + self.demo_vars["secure_mcp_context_path"]
        self.runs = 0

    # --- the simulator ------------------------------------------------------------------------

    @staticmethod
    def pick_ports(use_free_ports: bool) -> dict[str, int]:
        if use_free_ports:
            return dict(zip(SERVERS, free_ports(len(SERVERS))))
        ports = {name: spec[1] for name, spec in SERVERS.items()}
        for name, port in ports.items():
            with socket.socket() as probe:
                # As the simulator's servers (uvicorn) bind: a listener fails this, the last run's TIME_WAIT does not.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    raise DemoError(
                        f"port {port} ({SERVERS[name][2]}) is in use: stop what listens there (a `make sim` still "
                        "running?), or run the demo on free ports: make demo DEMO_ARGS=--free-ports"
                    ) from None
        return ports

    def start_simulator(self) -> None:
        args = [sys.executable, "-m", "tests.simulator", "--profile", self.profile]
        for name, port in self.ports.items():
            args += [f"--{name.replace('_', '-')}-port", str(port)]
        with self.simulator_log.open("w") as log:
            self.simulator = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in stop_simulator
                args, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "\nready\n" in self.simulator_log.read_text():
                return
            if self.simulator.poll() is not None:
                break
            time.sleep(0.1)
        raise DemoError(f"the simulator did not start within {READY_TIMEOUT} s:\n{self.simulator_log.read_text()}")

    def stop_simulator(self) -> None:
        if self.simulator is None or self.simulator.poll() is not None:
            return
        self.simulator.terminate()
        try:
            self.simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.simulator.kill()
            self.simulator.wait()

    def sim_requests(self, method: str = "GET") -> Any:
        response = requests.request(method, self.urls["apim"] + "/_sim/requests", timeout=10)
        response.raise_for_status()
        return response.json()

    # --- the playbook -------------------------------------------------------------------------

    def collections_path(self) -> str:
        """A folder where this working tree is the collection mcpgate.gravitee (a symlink)."""
        link = self.work / "collections" / "ansible_collections" / "mcpgate" / "gravitee"
        if not link.exists():
            link.parent.mkdir(parents=True)
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        return str(self.work / "collections")

    def run_playbook(self) -> list[dict[str, Any]]:
        self.runs += 1
        results_file = self.work / f"results-{self.runs}.json"
        log_file = self.work / f"ansible-playbook-{self.runs}.log"
        env = {
            **os.environ,
            "GRAVITEE_APIM_URL": self.urls["apim"],
            "GRAVITEE_AM_URL": self.urls["am"],
            **CONNECTION_CREDENTIALS,
            "ANSIBLE_COLLECTIONS_PATH": self.collections_path(),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_PLUGINS),
            "ANSIBLE_CALLBACKS_ENABLED": "record_results",
            "MCPGATE_RESULTS_FILE": str(results_file),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
        }
        args = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", PLAYBOOK, "-e", "@" + DEMO_VARS]
        if self.ports["apim_gateway"] != SERVERS["apim_gateway"][1]:  # free ports: the URLs in demo.yml are not these
            args += ["-e", json.dumps({
                "secure_mcp_server_url": self.urls["mcp"] + "/mcp",
                "secure_mcp_apim_gateway_url": self.urls["apim_gateway"],
                "secure_mcp_am_gateway_url": self.urls["am_gateway"],
            })]
        with log_file.open("w") as log:
            process = subprocess.run(
                args, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=PLAYBOOK_TIMEOUT, check=False,
            )
        results = json.loads(results_file.read_text()) if results_file.exists() else []
        if process.returncode != 0:
            failed = [f"{short_name(r['task'])}: {r['result'].get('msg', '')}" for r in results if r["status"] == "failed"]
            print_results(results)
            raise DemoError(
                f"ansible-playbook failed (rc {process.returncode}): " + ("; ".join(failed) or log_file.read_text()[-2000:])
            )
        return results

    # --- what an MCP client meets ---------------------------------------------------------------

    def challenge(self) -> requests.Response:
        return requests.post(self.mcp_url, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)

    def client(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.sim_requests("DELETE")
        outcome = run_mcp_client(self.mcp_url, DEMO_USER, DEMO_PASSWORD, tool=TOOL, arguments=TOOL_ARGUMENTS)
        seen = [r for r in self.sim_requests() if r["server"] in ("apim_gateway", "am_gateway")]
        return outcome, seen


# --- printing -------------------------------------------------------------------------------------

def short_name(task: str) -> str:
    """'mcpgate.gravitee.secure_mcp : Proxy API | Create ...' -> 'Proxy API | Create ...'."""
    return task.split(" : ", 1)[-1]


def shown(result: dict[str, Any]) -> bool:
    """The guide's steps and checks; not argument validation, facts worked out, or skipped tasks."""
    return not (
        result["status"] == "skipped"
        or "ansible_facts" in result["result"]
        or short_name(result["task"]).startswith("Validating arguments")
    )


def status_mark(result: dict[str, Any]) -> str:
    if result["status"] == "failed":
        return "✗ failed "
    return "✓ changed" if result["result"].get("changed") else "✓ ok     "


def counts(results: list[dict[str, Any]]) -> str:
    changed = sum(1 for r in results if r["status"] == "ok" and r["result"].get("changed"))
    ok = sum(1 for r in results if r["status"] == "ok") - changed
    skipped = sum(1 for r in results if r["status"] == "skipped")
    return f"{changed} changed, {ok} ok, {skipped} skipped"


def print_results(results: list[dict[str, Any]]) -> None:
    """A line per task of the guide; the checks of a section that all passed (the preflight) on one line."""
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    for result in filter(shown, results):
        section = short_name(result["task"]).split(" | ", 1)[0]
        if sections and sections[-1][0] == section:
            sections[-1][1].append(result)
        else:
            sections.append((section, [result]))
    for section, tasks in sections:
        if len(tasks) > 3 and all(r["status"] == "ok" and not r["result"].get("changed") for r in tasks):
            print(f"   ✓ ok       {section} | {len(tasks)} checks passed (credentials, versions, plugins, names, URLs)")
            continue
        for result in tasks:
            print(f"   {status_mark(result)}  {short_name(result['task'])}")


def phase(record: dict[str, Any], context_path: str) -> str:
    """Which step of the MCP authorization flow a request of the client belongs to."""
    path, server = record["path"], record["server"]
    if server == "apim_gateway":
        if "/.well-known/oauth-protected-resource" in path:  # at the root (4.12) or under the API (4.10)
            return "resource metadata"
        return "401 challenge" if record["status"] == 401 else "MCP with the token"
    if "/.well-known/" in path:
        return "AM discovery"
    if path.endswith("/register"):
        return "registration (DCR)"
    if path.endswith("/token"):
        return "token"
    if path.endswith("/introspect"):
        return "MCP with the token"  # the gateway checking the token of an MCP call
    return "login (PKCE)"  # authorize, login form, consent: the browser's part


def step(record: dict[str, Any]) -> str:
    """A request in a few words: the JSON-RPC method of an MCP call, else the method and the last path segment."""
    body = record.get("body")
    if isinstance(body, dict) and body.get("method"):
        return f"{body['method']} {record['status']}"
    return f"{record['method']} {record['path'].rstrip('/').rsplit('/', 1)[-1]} {record['status']}"


def print_conversation(seen: list[dict[str, Any]], context_path: str) -> None:
    """The client's requests, one line per step of the flow (VS Code's, for an OAuth-protected MCP server)."""
    steps: list[tuple[str, list[dict[str, Any]]]] = []
    for record in seen:
        name = phase(record, context_path)
        if steps and steps[-1][0] == name:
            steps[-1][1].append(record)
        else:
            steps.append((name, [record]))
    for name, records in steps:
        found = [r for r in records if isinstance(r["status"], int) and r["status"] < 400]
        if name == "MCP with the token":
            introspections = [r for r in records if r["path"].endswith("/introspect")]
            calls = [step(r) for r in records if r not in introspections]
            detail = ", ".join(calls) + f" (the gateway introspected the token at AM {len(introspections)}x)"
        elif name == "login (PKCE)":
            detail = ", ".join(step(r) for r in records) + f" (as {DEMO_USER})"
        elif name == "AM discovery" and found:
            misses = len(records) - len(found)
            detail = f"{found[-1]['method']} {found[-1]['path']} -> {found[-1]['status']}" + (
                f" ({misses} other well-known paths tried first)" if misses else "")
        else:
            detail = ", ".join(f"{r['method']} {r['path']} -> {r['status']}" for r in records)
        print(f"   ✓ {name:<19} {detail}")


# --- the demo ---------------------------------------------------------------------------------------

def run(demo: Demo) -> None:
    started = time.monotonic()
    demo.start_simulator()
    print(f"Gravitee simulator (profile {demo.profile}) running: APIM {demo.urls['apim']}, gateway {demo.urls['apim_gateway']}, "
          f"AM {demo.urls['am']}, AM gateway {demo.urls['am_gateway']}, unsecured MCP server {demo.urls['mcp']}/mcp")

    print(f"\n1. ansible-playbook {PLAYBOOK} -e @{DEMO_VARS}   (connection from GRAVITEE_APIM_* / GRAVITEE_AM_*)")
    first = demo.run_playbook()
    print_results(first)
    print(f"   -> {counts(first)}")

    print("\n2. The same playbook again")
    second = demo.run_playbook()
    changed = [short_name(r["task"]) for r in second if r["result"].get("changed")]
    if changed:
        print_results(second)
        raise DemoError("the second run changed: " + "; ".join(changed))
    print(f"   ✓ nothing to change: {counts(second)} (the keyless test stage runs only before the OAuth2 plan)")

    print(f"\n3. An MCP client without a token: POST {demo.mcp_url} (initialize)")
    response = demo.challenge()
    probe = next((r["result"] for r in first if "authorization_servers" in r["result"] and r["result"].get("protected")), {})
    if response.status_code != 401:
        raise DemoError(f"expected 401 from {demo.mcp_url}, got {response.status_code}: {response.text[:300]}")
    print(f"   ✓ {response.status_code}, WWW-Authenticate: {response.headers.get('WWW-Authenticate', '(none)')}")
    if probe:
        print(f"   ✓ the metadata names the authorization server {', '.join(probe['authorization_servers'])}; "
              f"Dynamic Client Registration at {probe.get('registration_endpoint') or '(none)'}")

    print(f"\n4. A real MCP client (MCP SDK with OAuth, as VS Code does it) at {demo.mcp_url}, user {DEMO_USER}")
    outcome, seen = demo.client()
    print_conversation(seen, demo.demo_vars["secure_mcp_context_path"])
    print(f"   ✓ registered as client {outcome['client_id']}, token scope {outcome['scope'] or '(none)'}")
    print(f"   ✓ tools: {', '.join(outcome['tools'])}")
    call = outcome["call"]
    if call["is_error"]:
        raise DemoError(f"the tool call {TOOL} failed: {call['text']}")
    print(f"   ✓ {TOOL}({json.dumps(TOOL_ARGUMENTS)}) -> {call['text']}")

    print(f"\nDone in {time.monotonic() - started:.0f} s: the MCP server is reachable through Gravitee only with a token from AM.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo.run_demo", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--profile", choices=PROFILES, default="4.12", help="APIM/AM version behaviours to simulate")
    parser.add_argument(
        "--free-ports", action="store_true",
        help="run the simulator on free ports instead of 8082, 8083, 8092, 8093 and 3001",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(errors="replace", line_buffering=True)  # in order with stderr, also in a pipe

    def interrupted(*dummy_signal):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    demo, keep_logs = None, True  # the logs of a failed demo are kept, and their folder printed
    try:
        demo = Demo(args.profile, args.free_ports)
        run(demo)
        keep_logs = False
        return 0
    except DemoError as error:
        print(f"\n✗ {error}", file=sys.stderr)
        if demo is not None:
            print(f"  logs: {demo.work}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        keep_logs = False
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if demo is not None:
            if demo.simulator is not None:
                demo.stop_simulator()
                print("Simulator stopped.")
            if not keep_logs:
                shutil.rmtree(demo.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
