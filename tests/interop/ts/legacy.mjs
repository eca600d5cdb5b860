// Interop check: the official TypeScript MCP SDK's legacy client (`SSEClientTransport`, the
// HTTP+SSE transport of protocol 2024-11-05) against `examples/server.rs`.
//
//     node legacy.mjs http://127.0.0.1:PORT/sse
//
// Connects (GET, `endpoint` event), initializes, lists tools, calls `echo`, calls `countdown`
// {"from": 3} with an `onprogress` callback (progress arrives on the one SSE stream), closes,
// and checks that the session is gone (its POST URL answers 404). Prints one line per check and
// exits non-zero if any fails.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(url) {
  // Watch the POSTs to learn the endpoint URL and their statuses.
  const posts = [];
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    if ((init?.method ?? "GET") === "POST") {
      posts.push({ url: String(input), status: response.status });
    }
    return response;
  };
  const transport = new SSEClientTransport(new URL(url), { fetch: recordingFetch });
  const client = new Client({ name: "mcp-tower-legacy-ts", version: "1.0.0" });
  let endpoint;
  try {
    await client.connect(transport); // GET, endpoint event, initialize, initialized
    const server = client.getServerVersion();
    endpoint = posts[0]?.url;
    check(
      "connect + initialize",
      server?.name === "mcp-tower-example" &&
        Boolean(endpoint?.includes("/messages?sessionId=")) &&
        posts.every((p) => p.status === 202),
      `server ${server?.name} ${server?.version}, endpoint ${endpoint}, ` +
        `POST statuses ${JSON.stringify(posts.map((p) => p.status))}`,
    );

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    check("tools/list", EXPECTED_TOOLS.every((n) => names.includes(n)), `tools ${JSON.stringify(names)}`);

    const echoed = await client.callTool({ name: "echo", arguments: { text: "hello from legacy ts" } });
    check(
      "tools/call echo",
      !echoed.isError && textOf(echoed) === "hello from legacy ts",
      `result ${JSON.stringify(textOf(echoed))}`,
    );

    const progress = [];
    const counted = await client.callTool(
      { name: "countdown", arguments: { from: 3 } },
      undefined,
      { onprogress: (p) => progress.push([p.progress, p.total]) },
    );
    // The last progress event arrives just before the answer, usually in the same chunk; the
    // SDK's `SSEClientTransport` then handles the answer first (it runs notification handlers
    // a microtask later) and drops that progress, so 3 of the 4 are required here.
    const values = progress.map(([value]) => value);
    check(
      "tools/call countdown with progress",
      !counted.isError &&
        progress.length >= 3 &&
        values.every((v, i) => i === 0 || values[i - 1] < v) &&
        progress.every(([, total]) => total === 3),
      `result ${JSON.stringify(textOf(counted))}, progress ${JSON.stringify(progress)}`,
    );
  } finally {
    await client.close(); // ends the SSE stream: the server ends the session after its grace
  }

  if (endpoint) {
    // The default grace is 5 s; wait for the session to end, then expect 404.
    let status = 0;
    for (let i = 0; i < 80; i++) {
      const after = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/roots/list_changed" }),
      });
      status = after.status;
      if (status === 404) break;
      await sleep(100);
    }
    check("closing the stream ends the session", status === 404, `POST to the old endpoint answered ${status}`);
  }
}

const url = process.argv[2];
if (!url) {
  console.error("usage: node legacy.mjs http://127.0.0.1:PORT/sse");
  process.exit(2);
}
try {
  await run(url);
} catch (error) {
  check("session", false, `${error?.name ?? "Error"}: ${error?.message ?? error}`);
}
console.log(`ts-sdk-legacy-interop: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed ? 1 : 0);
