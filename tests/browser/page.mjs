// Runs in the browser (bundled by run.mjs with esbuild): the official TypeScript MCP SDK client
// against the example server named in the page's `?mcp=` query. It records what it saw in
// `window.mcpResult`, which run.mjs reads and judges; nothing is judged here.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const textOf = (result) =>
  (result.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join(" ");

async function run() {
  const seen = { origin: location.origin, steps: [], exchanges: [] };
  const url = new URL(new URLSearchParams(location.search).get("mcp"));
  // The browser's own fetch, watched: what came back, and what the page could read of it.
  const watchingFetch = async (input, init) => {
    const response = await fetch(input, init);
    seen.exchanges.push({
      method: init?.method ?? "GET",
      status: response.status,
      contentType: response.headers.get("content-type"),
      // Readable only when the server exposes it (Access-Control-Expose-Headers).
      sessionHeader: response.headers.get("mcp-session-id"),
    });
    return response;
  };
  const transport = new StreamableHTTPClientTransport(url, { fetch: watchingFetch });
  const client = new Client({ name: "mcp-tower-browser-test", version: "1.0.0" });
  try {
    await client.connect(transport);
    seen.steps.push("initialize");
    seen.server = client.getServerVersion();
    seen.sessionId = transport.sessionId ?? null;
    seen.protocolVersion = transport.protocolVersion ?? null;

    const echoed = await client.callTool({ name: "echo", arguments: { text: "hello from chromium" } });
    seen.steps.push("echo");
    seen.echo = textOf(echoed);

    const progress = [];
    const before = seen.exchanges.length;
    const counted = await client.callTool(
      { name: "countdown", arguments: { from: 3, delay_ms: 20 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    seen.steps.push("countdown");
    seen.countdown = {
      text: textOf(counted),
      progress,
      // The POST that carried the call: answered with an SSE stream.
      contentTypes: seen.exchanges.slice(before).filter((e) => e.method === "POST").map((e) => e.contentType),
    };

    await transport.terminateSession();
    seen.steps.push("delete");
    await client.close();
  } catch (e) {
    seen.error = String(e?.message ?? e);
  }
  window.mcpResult = seen;
}

run();
