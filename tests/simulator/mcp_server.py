"""Placeholder until the real server module lands (being written now)."""
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


def seed(sim):
    sim.state.apim_token = getattr(sim.state, "apim_token", "placeholder")


def build_app(sim):
    async def hello(request):
        return JSONResponse({"server": "mcp_server", "path": request.url.path})

    return Starlette(routes=[Route("/{p:path}", hello, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
