"""An MCP server (the Python `mcp` package's MCPServer, on stdio or Streamable HTTP) that Switchboard's tests host in a
worker: a fast tool, a slow one that notes its cancellation, a failing one, one that adds a tool
(and says so: tools/list_changed) and one that crashes its process."""
import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("switchboard-test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
async def slow(seconds: float, marker: str = "") -> str:
    """Sleeps, then answers; writes 'cancelled' to `marker` when cancelled."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if marker:
            with open(marker, "w") as f:
                f.write("cancelled")
        raise
    return f"slept {seconds}"


@server.tool()
def fail(message: str) -> str:
    """Always fails with `message` (a ToolError: its text reaches the caller)."""
    raise ToolError(message)


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds a tool `grown` and tells the client that the tool list changed."""

    def grown() -> str:
        """A tool that did not exist at start."""
        return "grown"

    server.add_tool(grown)
    await ctx.session.send_tool_list_changed()
    return "grew"


@server.tool()
def crash() -> str:
    """Exits the server's process at once."""
    sys.stdout.flush()
    os._exit(3)


if __name__ == "__main__":
    # `--http PORT`: Streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio.
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
