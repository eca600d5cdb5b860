"""Interop check: the official Python MCP SDK's high-level `Client` in auto mode (protocol
2026-07-28) against `examples/server.rs`.

    python client_2026.py http://127.0.0.1:PORT/mcp

`Client(url)` probes `server/discover` first and falls back to `initialize` only on a
session-era answer; against this server it must settle on 2026-07-28 with no session. Then it
lists tools, calls `echo`, and calls `ask_llm`, whose handler asks for sampling: in 2026-07-28
that is an `InputRequiredResult`, which the SDK answers through `sampling_callback` and retries
(MRTR). Prints one line per check and exits non-zero if any fails.

Written for `mcp` 2.3.0 (pinned in requirements.txt).
"""

import sys

import anyio
import httpx2
from mcp import Client
from mcp.types import CreateMessageResult, TextContent

# The PASS/FAIL bookkeeping of the session-era driver beside this file.
from client import Checks, describe, text_of

WANTED_VERSION = "2026-07-28"
MODEL_ANSWER = "forty-two, says the interop model"


async def run(url: str, checks: Checks) -> None:
    sampled: list[str] = []

    async def sampling(context, params) -> CreateMessageResult:
        question = " ".join(
            m.content.text for m in params.messages if getattr(m.content, "type", None) == "text"
        )
        sampled.append(question)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=MODEL_ANSWER),
            model="interop-model",
        )

    # A raw probe below watches the wire: no session id may be issued in this era.
    session_ids: list[str] = []

    async def on_response(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            session_ids.append(response.headers["mcp-session-id"])

    # Client(url) is auto mode by default; the hooks only observe.
    async with Client(url, sampling_callback=sampling) as client:
        checks.check(
            "auto mode negotiates 2026-07-28",
            client.protocol_version == WANTED_VERSION,
            f"protocol {client.protocol_version}, server "
            f"{client.server_info.name if client.server_info else None}",
        )

        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        checks.check("tools/list", {"echo", "ask_llm"} <= names, f"tools {sorted(names)}")

        echo = await client.call_tool("echo", {"text": "hello 2026"})
        got = text_of(echo)
        checks.check("tools/call echo", got == "hello 2026" and not echo.is_error, repr(got))

        asked = await client.call_tool("ask_llm", {"question": "what is six times seven?"})
        got = text_of(asked)
        checks.check(
            "tools/call ask_llm (sampling through input_required)",
            got == f"The model says: {MODEL_ANSWER}"
            and sampled == ["what is six times seven?"]
            and not asked.is_error,
            f"{got!r}, sampling callback saw {sampled!r}",
        )

    # The probe as the SDK sends it, on a raw httpx2 client that sees every header.
    http = httpx2.AsyncClient(
        timeout=httpx2.Timeout(30, read=60),
        event_hooks={"response": [on_response]},
    )
    async with http:
        discover = await http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "server/discover",
                "params": {
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": WANTED_VERSION,
                        "io.modelcontextprotocol/clientCapabilities": {},
                    }
                },
            },
            headers={
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": WANTED_VERSION,
                "mcp-method": "server/discover",
            },
        )
        body = discover.json()
        checks.check(
            "server/discover lists 2026-07-28, issues no session",
            discover.status_code == 200
            and WANTED_VERSION in body["result"]["supportedVersions"]
            and not session_ids,
            f"status {discover.status_code}, versions {body.get('result', {}).get('supportedVersions')}, "
            f"session ids {session_ids}",
        )


async def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000/mcp"
    checks = Checks()
    try:
        with anyio.fail_after(90):
            await run(url, checks)
    except Exception as exc:  # noqa: BLE001 - report whatever broke the run
        checks.check("run", False, describe(exc))
    print(f"python-sdk-2026: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
