"""The project's MCP test server (tests/simulator/mcp_server.py) on its own, for the real gateway to proxy to.

    python -m tests.real.mcp_upstream --port N
"""

from __future__ import annotations

import argparse

import uvicorn

from tests.simulator.mcp_server import build_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(None), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
