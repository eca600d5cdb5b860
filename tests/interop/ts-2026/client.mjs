// Interop check: the official TypeScript MCP client 2.x (`@modelcontextprotocol/client`) in
// auto version negotiation (protocol 2026-07-28) against `examples/server.rs`.
//
//     node client.mjs http://127.0.0.1:PORT/mcp
//
// With `versionNegotiation: { mode: "auto" }` the client probes `server/discover` first and
// falls back to `initialize` only on a session-era answer; against this server it must settle
// on 2026-07-28, with no session id on the wire. Then it lists tools, calls `echo`, and calls
// `ask_llm`, whose handler asks for sampling: in 2026-07-28 that is an `input_required`
// result, which the client fulfils through its `sampling/createMessage` handler and retries
// (MRTR). Prints one line per check and exits non-zero if any fails.
// `@modelcontextprotocol/client` is pinned in package.json / package-lock.json.

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const WANTED_VERSION = "2026-07-28";
const MODEL_ANSWER = "forty-two, says the interop model";

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
  // Watch the wire: which methods were POSTed, and whether a session id ever came back.
  const exchanges = [];
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    const headers = new Headers(init?.headers);
    exchanges.push({
      method: headers.get("mcp-method") ?? init?.method ?? "GET",
      version: headers.get("mcp-protocol-version"),
      status: response.status,
      session: response.headers.get("mcp-session-id"),
    });
    return response;
  };

  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch });
  const client = new Client(
    { name: "mcp-tower-interop-ts-2026", version: "1.0.0" },
    { capabilities: { sampling: {} }, versionNegotiation: { mode: "auto" } },
  );
  const sampled = [];
  client.setRequestHandler("sampling/createMessage", async (request) => {
    sampled.push(
      request.params.messages
        .map((m) => (m.content?.type === "text" ? m.content.text : ""))
        .join(" "),
    );
    return {
      model: "interop-model",
      role: "assistant",
      content: { type: "text", text: MODEL_ANSWER },
    };
  });
  try {
    await client.connect(transport);
    const version = client.getNegotiatedProtocolVersion();
    const server = client.getServerVersion();
    check(
      "auto mode negotiates 2026-07-28",
      version === WANTED_VERSION && exchanges[0]?.method === "server/discover",
      `protocol ${version}, server ${server?.name}, first request ${exchanges[0]?.method}`,
    );

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    check(
      "tools/list",
      ["echo", "ask_llm"].every((n) => names.includes(n)),
      `tools ${JSON.stringify(names)}`,
    );

    const echoed = await client.callTool({ name: "echo", arguments: { text: "hello 2026" } });
    check(
      "tools/call echo",
      !echoed.isError && textOf(echoed) === "hello 2026",
      `result ${JSON.stringify(textOf(echoed))}`,
    );

    const asked = await client.callTool({
      name: "ask_llm",
      arguments: { question: "what is six times seven?" },
    });
    const said = textOf(asked);
    check(
      "tools/call ask_llm (sampling through input_required)",
      !asked.isError &&
        said === `The model says: ${MODEL_ANSWER}` &&
        sampled.length === 1 &&
        sampled[0] === "what is six times seven?",
      `result ${JSON.stringify(said)}, sampling handler saw ${JSON.stringify(sampled)}`,
    );

    const sessions = exchanges.filter((e) => e.session);
    const initializes = exchanges.filter((e) => e.method === "initialize");
    const versions = [...new Set(exchanges.map((e) => e.version))];
    check(
      "stateless on the wire",
      sessions.length === 0 && initializes.length === 0 && versions.join() === WANTED_VERSION,
      `${exchanges.length} POSTs (${exchanges.map((e) => e.method).join(", ")}), ` +
        `versions ${JSON.stringify(versions)}, session ids ${sessions.length}`,
    );
  } catch (error) {
    check("run", false, `${error?.name}: ${error?.message}`);
  } finally {
    await client.close().catch(() => {});
  }
}

const url = process.argv[2] ?? "http://127.0.0.1:3000/mcp";
const timer = setTimeout(() => {
  check("run", false, "timed out after 90 s");
  console.log(`ts-client-2026: ${results.passed} passed, ${results.failed} failed`);
  process.exit(1);
}, 90_000);
await run(url);
clearTimeout(timer);
console.log(`ts-client-2026: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed === 0 && results.passed > 0 ? 0 : 1);
