"""Interop check: the official Python MCP SDK client against `examples/server.rs`.

    python client.py http://127.0.0.1:PORT/mcp

Connects over Streamable HTTP, initializes, lists tools, calls `echo`, calls `countdown`
{"from": 3} with a progress callback, and ends the session with DELETE. Prints one line per
check and exits non-zero if any fails.

Written for `mcp` 2.3.0 (pinned in requirements.txt): `streamable_http_client` and
`ClientSession`; the session's `initialize()` performs the classic handshake.
"""

import sys

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {"echo", "add", "countdown"}


class Checks:
    """Counts and prints PASS/FAIL lines."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def describe(exc: BaseException) -> str:
    """The leaf exceptions of an exception (group), as `Type: message`."""
    inner = getattr(exc, "exceptions", None)  # an ExceptionGroup from a task group
    if inner:
        return "; ".join(describe(e) for e in inner)
    return f"{type(exc).__name__}: {exc}"


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def run(url: str, checks: Checks) -> None:
    # Watch the HTTP exchanges to learn the session id and see the DELETE answered.
    seen: list[tuple[str, int, str | None]] = []

    async def on_response(response: httpx2.Response) -> None:
        seen.append(
            (response.request.method, response.status_code, response.headers.get("mcp-session-id"))
        )

    http = httpx2.AsyncClient(
        timeout=httpx2.Timeout(30, read=60), event_hooks={"response": [on_response]}
    )
    async with http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                checks.check(
                    "initialize",
                    bool(init.protocol_version) and init.server_info.name == "mcp-tower-example",
                    f"protocol {init.protocol_version}, server {init.server_info.name} "
                    f"{init.server_info.version}",
                )

                tools = await session.list_tools()
                names = {tool.name for tool in tools.tools}
                checks.check(
                    "tools/list",
                    EXPECTED_TOOLS <= names,
                    f"tools {sorted(names)}",
                )

                echoed = await session.call_tool("echo", {"text": "hello from python"})
                checks.check(
                    "tools/call echo",
                    not echoed.is_error and text_of(echoed) == "hello from python",
                    f"result {text_of(echoed)!r}",
                )

                progress: list[tuple[float, float | None]] = []

                async def on_progress(value: float, total: float | None, message: str | None):
                    progress.append((value, total))

                counted = await session.call_tool(
                    "countdown", {"from": 3}, progress_callback=on_progress
                )
                values = [value for value, _ in progress]
                checks.check(
                    "tools/call countdown with progress",
                    not counted.is_error
                    and len(progress) >= 3
                    and values == sorted(values)
                    and progress[-1] == (3, 3),
                    f"result {text_of(counted)!r}, progress {progress}",
                )

        session_ids = {sid for _, _, sid in seen if sid}
        deletes = [status for method, status, _ in seen if method == "DELETE"]
        checks.check(
            "DELETE ends the session",
            len(session_ids) == 1 and deletes[-1:] in ([200], [204]),
            f"session ids {sorted(session_ids)}, DELETE answered {deletes}",
        )
        if len(session_ids) == 1:
            # The ended session must be gone: the server answers 404.
            after = await http.post(
                url,
                headers={
                    "mcp-session-id": session_ids.pop(),
                    "accept": "application/json, text/event-stream",
                    "content-type": "application/json",
                },
                json={"jsonrpc": "2.0", "id": 99, "method": "ping"},
            )
            checks.check(
                "ended session is gone",
                after.status_code == 404,
                f"POST with the old session id answered {after.status_code}",
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
    print(f"python-sdk-interop: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
