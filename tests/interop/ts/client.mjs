// Interop check: the official TypeScript MCP SDK client against `examples/server.rs`.
//
//     node client.mjs http://127.0.0.1:PORT/mcp
//
// Connects with `StreamableHTTPClientTransport`, initializes, lists tools, calls `echo`, calls
// `countdown` {"from": 3} with an `onprogress` callback, and ends the session with
// `terminateSession()` (DELETE). Prints one line per check and exits non-zero if any fails.
// `@modelcontextprotocol/sdk` is pinned in package.json / package-lock.json.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const EXPECTED_TOOLS = ["echo", "add", "countdown"];

const results = { passed: 0, failed: 0 };

function check(name, ok, detail) {
  console.log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
  ok ? results.passed++ : results.failed++;
}

const textOf = (result) =>
  result.content
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join(" ");

async function run(url) {
  // Watch the HTTP exchanges to see how the DELETE is answered.
  const exchanges = [];
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    exchanges.push({ method: init?.method ?? "GET", status: response.status });
    return response;
  };

  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch });
  const client = new Client({ name: "mcp-tower-interop-ts", version: "1.0.0" });
  try {
    await client.connect(transport); // initialize + notifications/initialized
    const server = client.getServerVersion();
    check(
      "initialize",
      server?.name === "mcp-tower-example" && Boolean(transport.sessionId),
      `protocol ${transport.protocolVersion}, server ${server?.name} ${server?.version}, ` +
        `session ${transport.sessionId}`,
    );

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    check(
      "tools/list",
      EXPECTED_TOOLS.every((n) => names.includes(n)),
      `tools ${JSON.stringify(names)}`,
    );

    const echoed = await client.callTool({ name: "echo", arguments: { text: "hello from ts" } });
    check(
      "tools/call echo",
      !echoed.isError && textOf(echoed) === "hello from ts",
      `result ${JSON.stringify(textOf(echoed))}`,
    );

    const progress = [];
    const counted = await client.callTool(
      { name: "countdown", arguments: { from: 3 } },
      undefined,
      { onprogress: (p) => progress.push([p.progress, p.total]) },
    );
    const values = progress.map(([value]) => value);
    const last = progress.at(-1) ?? [];
    check(
      "tools/call countdown with progress",
      !counted.isError &&
        progress.length >= 3 &&
        values.every((v, i) => i === 0 || values[i - 1] <= v) &&
        last[0] === 3 &&
        last[1] === 3,
      `result ${JSON.stringify(textOf(counted))}, progress ${JSON.stringify(progress)}`,
    );

    const sessionId = transport.sessionId;
    await transport.terminateSession(); // DELETE; throws on an error status
    const deletes = exchanges.filter((e) => e.method === "DELETE").map((e) => e.status);
    check(
      "DELETE ends the session",
      deletes.length === 1 && [200, 204].includes(deletes[0]) && !transport.sessionId,
      `DELETE answered ${JSON.stringify(deletes)}`,
    );

    // The ended session must be gone: the server answers 404.
    const after = await fetch(url, {
      method: "POST",
      headers: {
        "mcp-session-id": sessionId,
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "ping" }),
    });
    check(
      "ended session is gone",
      after.status === 404,
      `POST with the old session id answered ${after.status}`,
    );
  } finally {
    await client.close();
  }
}

const url = process.argv[2];
if (!url) {
  console.error("usage: node client.mjs http://127.0.0.1:PORT/mcp");
  process.exit(2);
}
try {
  await run(url);
} catch (error) {
  check("session", false, `${error?.name ?? "Error"}: ${error?.message ?? error}`);
}
console.log(`ts-sdk-interop: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed ? 1 : 0);
