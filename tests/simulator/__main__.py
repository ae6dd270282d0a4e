"""Command line: ``python -m tests.simulator`` runs the Gravitee simulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tests.simulator.am import ADMIN_PASSWORD as AM_ADMIN_PASSWORD
from tests.simulator.am import ADMIN_USERNAME as AM_ADMIN_USERNAME
from tests.simulator.am import DEMO_PASSWORD as AM_DEMO_PASSWORD
from tests.simulator.am import DEMO_USERNAME as AM_DEMO_USERNAME
from tests.simulator.am import SEEDED_DOMAIN_NAME
from tests.simulator.apim import ADMIN_USER as APIM_ADMIN
from tests.simulator.core import DEFAULT_SPECS_DIR, SERVERS, Simulator, serve
from tests.simulator.profiles import PROFILES


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator",
        description="Simulated Gravitee APIM 4.10+/AM 4.10+ (management APIs and gateways) and an upstream MCP server, "
        "for tests and the demo. Test equipment only: every behaviour is one the real servers have "
        "(see tests/simulator/FIDELITY.md).",
    )
    parser.add_argument("--profile", choices=PROFILES, default="4.12", help="version behaviours to serve (default 4.12)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    for name, (dummy_module, port, label, dummy_base) in SERVERS.items():
        parser.add_argument(f"--{name.replace('_', '-')}-port", type=int, default=port, help=f"{label} port (default {port})")
    parser.add_argument(
        "--specs-dir",
        type=Path,
        default=DEFAULT_SPECS_DIR,
        help="folder with the real OpenAPI specs to check requests and responses against (default ../shared/specs)",
    )
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    return parser.parse_args(argv)


def login_lines(sim: Simulator) -> list[str]:
    """The seeded logins, and the variables that point the collection's modules at this simulator."""
    apim_user, apim_password = APIM_ADMIN
    return [
        f"APIM Management API login: {apim_user} / {apim_password} (or the personal access token above)",
        f"AM Management API login: {AM_ADMIN_USERNAME} / {AM_ADMIN_PASSWORD}",
        f"AM domain {SEEDED_DOMAIN_NAME}, user for MCP clients: {AM_DEMO_USERNAME} / {AM_DEMO_PASSWORD}",
        "To run a playbook against it, in another terminal (from the clone's top folder):",
        f"  export GRAVITEE_APIM_URL={sim.url('apim')} GRAVITEE_APIM_USERNAME={apim_user} "
        f"GRAVITEE_APIM_PASSWORD={apim_password}",
        f"  export GRAVITEE_AM_URL={sim.url('am')} GRAVITEE_AM_USERNAME={AM_ADMIN_USERNAME} "
        f"GRAVITEE_AM_PASSWORD={AM_ADMIN_PASSWORD}",
        "  .venv/bin/ansible-playbook playbooks/secure_mcp.yml -e @playbooks/vars/demo.yml",
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    sim = Simulator(
        profile=args.profile,
        host=args.host,
        ports={name: getattr(args, f"{name}_port") for name in SERVERS},
        specs_dir=args.specs_dir if args.specs_dir and args.specs_dir.is_dir() else None,
        scheme="https" if args.tls_cert else "http",
    )
    ssl = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key} if args.tls_cert else None

    def ready(sim: Simulator) -> None:
        print(f"Gravitee simulator, profile {sim.profile}", flush=True)
        for name, (dummy_module, dummy_port, label, base) in SERVERS.items():
            print(f"{label}: {sim.url(name)}{base}", flush=True)
        print(f"APIM personal access token: {sim.state.apim_token}", flush=True)
        for line in login_lines(sim):
            print(line, flush=True)
        for notice in sim.notices:
            print(f"notice: {notice}", flush=True)
        print("ready", flush=True)

    try:
        asyncio.run(serve(sim, ssl=ssl, on_ready=ready))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
