"""The upstream MCP server that the APIM MCP proxy fronts: a real server on the ``mcp`` SDK.

It is not a simulation of anything: it is the unsecured MCP server of the guide (streamable HTTP at
``/mcp``), with a few small tools (and one resource and one prompt) so tests and the demo can list and
call something.  Security is the
gateway's job, so this server has none, like the guide's "unsecured MCP server".
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

MCP_PATH = "/mcp"

# Tool names the tests and `make demo` expect to see; one resource and one prompt (for the mcp-acl tests).
TOOL_NAMES = ("echo", "add", "get_weather")
RESOURCE_URIS = ("weather://cities",)
PROMPT_NAMES = ("forecast",)

# Canned forecasts: deterministic answers for tests, no network.
_FORECASTS = {"paris": "sunny, 21°C", "london": "light rain, 15°C", "tokyo": "cloudy, 18°C"}


def seed(sim) -> None:
    """The MCP server keeps no simulator state: its tools are pure functions."""


def create_server() -> MCPServer:
    server = MCPServer(
        "simulated-upstream-mcp", instructions="Test MCP server behind the Gravitee MCP proxy.", log_level="WARNING"
    )

    @server.tool(description="Return the given text unchanged.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Current weather for a city (canned data).")
    def get_weather(city: str) -> str:
        return f"{city}: {_FORECASTS.get(city.strip().lower(), 'clear, 20°C')}"

    @server.resource("weather://cities", name="cities", description="Cities with a canned forecast.")
    def cities() -> str:
        return ", ".join(sorted(_FORECASTS))

    @server.prompt(description="Ask for the weather in a city.")
    def forecast(city: str) -> str:
        return f"What is the weather in {city}?"

    return server


def build_app(sim):
    # The SDK turns on DNS-rebinding protection (Host/Origin allow-list) when it believes it listens on
    # loopback.  Requests arrive through the APIM gateway proxy with whatever Host the proxy forwards,
    # and the simulator binds random ports, so the check is off: this server is test equipment on
    # loopback, and the real guide's upstream server sits behind the gateway in the same way.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # The returned Starlette app carries the lifespan that runs the SDK's session manager; the core runs
    # uvicorn with lifespan="auto", so sessions work.  Stateful sessions (Mcp-Session-Id), the default.
    return create_server().streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
