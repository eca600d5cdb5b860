"""Interop check: the official Python MCP SDK's legacy client (`sse_client`, the HTTP+SSE
transport of protocol 2024-11-05) against `examples/server.rs`.

    python legacy_client.py http://127.0.0.1:PORT/sse

Connects (GET, `endpoint` event), initializes, lists tools, calls `echo`, calls `countdown`
{"from": 3} with a progress callback (progress arrives on the one SSE stream), disconnects, and
checks that the session is gone (its POST URL answers 404). Prints one line per check and exits
non-zero if any fails.

Written for `mcp` 2.3.0 (pinned in requirements.txt): `mcp.client.sse.sse_client` and
`ClientSession`.
"""

import sys
from urllib.parse import urljoin

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

from client import EXPECTED_TOOLS, Checks, describe, text_of


async def run(url: str, checks: Checks) -> None:
    session_ids: list[str] = []
    async with sse_client(url, on_session_created=session_ids.append) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            checks.check(
                "connect + initialize",
                init.server_info.name == "mcp-tower-example" and len(session_ids) == 1,
                f"protocol {init.protocol_version}, server {init.server_info.name}, "
                f"session ids {session_ids}",
            )

            tools = await session.list_tools()
            names = {tool.name for tool in tools.tools}
            checks.check("tools/list", EXPECTED_TOOLS <= names, f"tools {sorted(names)}")

            echoed = await session.call_tool("echo", {"text": "hello from legacy python"})
            checks.check(
                "tools/call echo",
                not echoed.is_error and text_of(echoed) == "hello from legacy python",
                f"result {text_of(echoed)!r}",
            )

            progress: list[tuple[float, float | None]] = []

            async def on_progress(value: float, total: float | None, message: str | None):
                progress.append((value, total))

            counted = await session.call_tool(
                "countdown", {"from": 3}, progress_callback=on_progress
            )
            checks.check(
                "tools/call countdown with progress",
                not counted.is_error and len(progress) >= 3 and progress[-1] == (3, 3),
                f"result {text_of(counted)!r}, progress {progress}",
            )

    if len(session_ids) == 1:
        # The stream is closed: after the server's grace (5 s by default) the session is gone.
        endpoint = urljoin(url, f"/messages?sessionId={session_ids[0]}")
        status = 0
        async with httpx2.AsyncClient(timeout=10) as http:
            for _ in range(80):
                after = await http.post(
                    endpoint,
                    json={"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
                )
                status = after.status_code
                if status == 404:
                    break
                await anyio.sleep(0.1)
        checks.check(
            "closing the stream ends the session",
            status == 404,
            f"POST to the old endpoint answered {status}",
        )


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    checks = Checks()
    try:
        anyio.run(run, sys.argv[1], checks)
    except Exception as exc:  # the SDK raised: report it as a failed check
        checks.check("session", False, describe(exc))
    print(f"python-sdk-legacy-interop: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
