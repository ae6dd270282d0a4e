"""The upstream MCP server (mcp SDK, streamable HTTP) answers MCP clients directly and behind a proxy."""

from __future__ import annotations

import asyncio

import requests
from mcp import Client

from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS
from tests.simulator.mcp_server import TOOL_NAMES


def list_and_call(url: str, tool: str, arguments: dict) -> tuple[list[str], object]:
    async def run():
        async with Client(url, mode="legacy") as client:
            tools = await client.list_tools()
            return [t.name for t in tools.tools], await client.call_tool(tool, arguments)

    return asyncio.run(run())


def test_tools_are_listed_and_called(sim):
    names, result = list_and_call(sim.urls["mcp"] + "/mcp", "add", {"a": 2, "b": 3})
    assert names == list(TOOL_NAMES)
    assert not result.is_error and result.content[0].text == "5"


def test_weather_tool_is_deterministic(sim):
    result = list_and_call(sim.urls["mcp"] + "/mcp", "get_weather", {"city": "Paris"})[1]
    assert result.content[0].text == "Paris: sunny, 21°C"


def test_initialize_with_a_proxied_host_header(sim):
    # A proxy may forward the Host it was called with; the server must not refuse it (no DNS-rebinding check).
    headers = {**MCP_HEADERS, "Host": "apim-gateway.example.com:8082", "Origin": "https://apim-gateway.example.com"}
    response = requests.post(sim.urls["mcp"] + "/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers.get("mcp-session-id")
    assert "simulated-upstream-mcp" in response.text


def test_non_mcp_paths_are_not_found(sim):
    assert requests.get(sim.urls["mcp"] + "/other", timeout=10).status_code == 404
