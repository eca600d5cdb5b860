// The browser test: the official TypeScript MCP SDK client, bundled for the browser, in a page
// served from another loopback origin, speaking to the example server in headless Chromium.
//
//     node run.mjs --mcp http://127.0.0.1:PORT/mcp --allowed-port A --denied-port D \
//         --tools DIR --sdk DIR
//
// The server must allow exactly the origin http://127.0.0.1:A (MCP_ALLOWED_ORIGINS, with its
// `cors` feature). Two pages are served: from http://127.0.0.1:A, where initialize, a tools/call,
// one with progress (an SSE reply) and the DELETE must work; and from http://127.0.0.1:D, a
// port the server does not allow, where connecting must fail. --tools is the directory whose
// node_modules holds playwright-core and esbuild, --sdk the one holding
// @modelcontextprotocol/sdk. Chromium is Debian's, at /usr/bin/chromium (CHROMIUM overrides).
// Prints one line per check and exits non-zero if any fails.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    mcp: { type: "string" },
    "allowed-port": { type: "string" },
    "denied-port": { type: "string" },
    tools: { type: "string" },
    sdk: { type: "string" },
  },
});
for (const name of ["mcp", "allowed-port", "denied-port", "tools", "sdk"]) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(path.resolve(args.tools), "package.json"));
const esbuild = require("esbuild");
const { chromium } = require("playwright-core");

const results = { passed: 0, failed: 0 };
function check(name, ok, detail) {
  console.log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
  ok ? results.passed++ : results.failed++;
}

// 1. The client, bundled for the browser (ES module, no Node built-ins).
const bundle = await esbuild.build({
  entryPoints: [path.join(here, "page.mjs")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  write: false,
  nodePaths: [path.join(path.resolve(args.sdk), "node_modules")],
  logLevel: "warning",
});
const script = bundle.outputFiles[0].contents;
console.log(`bundled the SDK client for the browser: ${script.length} bytes`);

// 2. Two static servers, one origin each: the page and its script.
const html = `<!doctype html><meta charset="utf-8"><title>mcp-tower browser test</title>
<script type="module" src="/client.js"></script>`;
function serve(port) {
  const server = createServer((req, res) => {
    if (req.url.startsWith("/client.js")) {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(script);
    } else if (req.url === "/" || req.url.startsWith("/?")) {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port), "127.0.0.1", () => resolve(server));
  });
}
const pageServers = [await serve(args["allowed-port"]), await serve(args["denied-port"])];

// 3. Headless Chromium, as the machine notes say it runs here.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
console.log(`chromium ${browser.version()}`);

async function visit(port) {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  const pageUrl = `http://127.0.0.1:${port}/?mcp=${encodeURIComponent(args.mcp)}`;
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.mcpResult !== undefined, null, { timeout: 60_000 });
  const seen = await page.evaluate(() => window.mcpResult);
  await page.close();
  return { seen, consoleLines };
}

let status = 0;
try {
  // The allowed origin: the whole exchange works.
  const { seen, consoleLines } = await visit(args["allowed-port"]);
  console.log(`allowed page saw: ${JSON.stringify(seen)}`);
  check("allowed origin: no error", !seen.error, seen.error ?? "none");
  check(
    "allowed origin: initialize",
    seen.steps.includes("initialize") && seen.server?.name === "mcp-tower-example" && Boolean(seen.sessionId),
    `server ${seen.server?.name}, protocol ${seen.protocolVersion}, session ${seen.sessionId}`,
  );
  check(
    "allowed origin: Mcp-Session-Id readable (exposed by CORS)",
    seen.exchanges.some((e) => e.method === "POST" && e.sessionHeader === seen.sessionId),
    JSON.stringify(seen.exchanges.filter((e) => e.sessionHeader).slice(0, 1)),
  );
  check("allowed origin: tools/call echo", seen.echo === "hello from chromium", JSON.stringify(seen.echo));
  const c = seen.countdown ?? {};
  check(
    "allowed origin: tools/call countdown, an SSE reply with progress",
    (c.contentTypes ?? []).some((t) => t?.startsWith("text/event-stream")) &&
      (c.progress ?? []).length >= 3 &&
      c.progress.at(-1) === 3,
    `content types ${JSON.stringify(c.contentTypes)}, progress ${JSON.stringify(c.progress)}, text ${JSON.stringify(c.text)}`,
  );
  check("allowed origin: DELETE ends the session", seen.steps.includes("delete"), seen.steps.join(" → "));
  if (results.failed > 0) console.log(consoleLines.join("\n"));

  // Another origin: the browser refuses to give the page anything.
  const denied = await visit(args["denied-port"]);
  console.log(`denied page saw: ${JSON.stringify(denied.seen)}`);
  check(
    "other origin: connecting fails",
    Boolean(denied.seen.error) && !denied.seen.steps.includes("initialize") && !denied.seen.sessionId,
    `error ${JSON.stringify(denied.seen.error)}`,
  );
  check(
    "other origin: the browser reported a CORS block",
    denied.consoleLines.some((l) => /CORS|Access-Control-Allow-Origin/i.test(l)),
    JSON.stringify(denied.consoleLines.filter((l) => /CORS/i.test(l)).slice(0, 1)),
  );
} catch (e) {
  console.log(`FAIL browser test: ${e?.stack ?? e}`);
  status = 1;
} finally {
  await browser.close();
  for (const s of pageServers) s.close();
}

console.log(`browser: ${results.passed} passed, ${results.failed} failed`);
process.exit(status || (results.failed > 0 ? 1 : 0));
