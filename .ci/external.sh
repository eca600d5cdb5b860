#!/usr/bin/env bash
# External checks: the official MCP conformance suite and the official SDK clients, run against
# the crate's example servers on loopback ports.
#
#   .ci/external.sh [conformance] [interop] [browser]     (no argument: all three)
#
# 1. installs Node.js 22 from the npm registry (the `node` package; the system Node is too old
#    for the suite), the conformance suite at two pinned versions, the TypeScript SDK and, in a
#    virtual environment, the Python SDK: all under .ci/cache/ (git-ignored), reused while the
#    pinned versions match;
# 2. builds examples/conformance.rs and examples/server.rs;
# 3. runs `conformance server --suite all` (0.1.16), `--requirements 2025-11-25` and
#    `--requirements 2026-07-28` (both 0.2.0-alpha.12) against the conformance example, and
#    fails on any FAILURE, on a wrong scenario count, on a missing required scenario, or on a
#    transport WARNING not explained in .ci/conformance-expected-warnings.txt. The 2026-07-28
#    set also runs, "not scored", the tasks extension (`tasks-*`) and the pending
#    `http-header-validation`, `http-custom-header-server-validation` and `json-schema-2020-12`
#    scenarios: the suite's exit status ignores their failures, .ci/conformance_report.py does
#    not (it judges every check it finds, and fails when one of those scenarios did not run);
# 4. runs tests/interop/ts/client.mjs and tests/interop/python/client.py against the example
#    server (Streamable HTTP, /mcp, the session era); tests/interop/ts-2026/client.mjs
#    (`@modelcontextprotocol/client` 2.x, `versionNegotiation: {mode: 'auto'}`, its own
#    package-lock.json and cache dir) and tests/interop/python/client_2026.py (`Client(url)`,
#    auto by default, same venv: requirements.txt already pins mcp 2.3.0), which must land on
#    2026-07-28 and get a sampling answer through input_required (MRTR);
#    and tests/interop/ts/legacy.mjs (`SSEClientTransport`) and
#    tests/interop/python/legacy_client.py (`sse_client`) and the MCP Inspector CLI
#    (`--transport sse`, tools/list and tools/call) against its legacy HTTP+SSE
#    transport (/sse + /messages);
# 5. the browser test (tests/browser/run.mjs): installs Debian's chromium with apt when
#    /usr/bin/chromium is missing, and playwright-core and esbuild (pinned) under
#    .ci/cache/browser; starts the example server with MCP_ALLOWED_ORIGINS naming one loopback
#    origin (its `cors` feature answers CORS for it), bundles the TypeScript SDK client for the
#    browser, and checks in headless Chromium that a page on that origin initializes, calls a
#    tool, gets an SSE reply with progress and ends its session, and that a page on another
#    loopback origin cannot connect.
#
# Environment: EXTERNAL_CHECKS_PROFILE=release builds the examples in release mode (default:
# debug, which reuses what `cargo test` built). The examples are looked for under
# $CARGO_TARGET_DIR when it is set, else target/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.ci/cache"
RUN="$CACHE/run" # logs and results of this run

NODE_VERSION=22.23.3
CONFORMANCE_STABLE=0.1.16
CONFORMANCE_ALPHA=0.2.0-alpha.12
INSPECTOR_VERSION=2.12.0 # the MCP Inspector, whose CLI speaks the legacy transport too
PLAYWRIGHT_VERSION=1.65.2 # playwright-core: drives Debian's Chromium (never downloads a browser)
ESBUILD_VERSION=0.28.2    # bundles the TypeScript SDK client for the browser test
STABLE_SCENARIOS=32    # `--suite all`: 30 active + 2 pending
ALPHA_SCENARIOS=33     # `--requirements 2025-11-25`: 30 scored + 3 not scored
ALPHA_2026_SCENARIOS=50 # `--requirements 2026-07-28`: 37 scored + 10 tasks + 3 pending
# Not-scored scenarios of `--requirements 2026-07-28` that must run, and pass, all the same.
ALPHA_2026_REQUIRED=tasks-lifecycle,tasks-capability-negotiation,tasks-wire-fields,tasks-request-state-removal,tasks-mrtr-input,tasks-request-headers,tasks-dispatch-and-envelope,tasks-required-task-error,tasks-mrtr-composition,http-header-validation,http-custom-header-server-validation,json-schema-2020-12
PROFILE=${EXTERNAL_CHECKS_PROFILE:-debug}

START=$SECONDS
step() { echo "==> [$((SECONDS - START))s] $*"; }
fail() {
	echo "==> FAILED: $*" >&2
	exit 1
}

want_conformance=1
want_interop=1
want_browser=1
if (($# > 0)); then
	want_conformance=0
	want_interop=0
	want_browser=0
	for arg in "$@"; do
		case "$arg" in
		conformance) want_conformance=1 ;;
		interop) want_interop=1 ;;
		browser) want_browser=1 ;;
		*) fail "unknown argument '$arg' (expected: conformance, interop, browser)" ;;
		esac
	done
fi

for tool in npm python3 cargo sha256sum timeout; do
	command -v "$tool" >/dev/null || fail "'$tool' is needed on PATH"
done
mkdir -p "$CACHE"
rm -rf "$RUN"
mkdir -p "$RUN"
NPM=(npm --cache "$CACHE/npm" --prefer-offline --no-audit --no-fund --loglevel=error)

# --- installs ---------------------------------------------------------------------------------

NODE="$CACHE/node22/node_modules/.bin/node"
if [[ -x "$NODE" && "$("$NODE" --version)" == "v$NODE_VERSION" ]]; then
	step "node $NODE_VERSION: cached"
else
	step "installing node@$NODE_VERSION from the npm registry (system node: $(node --version 2>/dev/null || echo none))"
	rm -rf "$CACHE/node22"
	mkdir -p "$CACHE/node22"
	"${NPM[@]}" install --prefix "$CACHE/node22" "node@$NODE_VERSION" >/dev/null
	[[ "$("$NODE" --version)" == "v$NODE_VERSION" ]] || fail "node@$NODE_VERSION did not install a working node"
fi
# npm and the suite run on Node 22 from here on.
export PATH="$CACHE/node22/node_modules/.bin:$PATH"

# Installs npm package $2 at version $3 into $CACHE/$1, unless that version is already there.
install_npm_pinned() {
	local dir="$CACHE/$1" package=$2 version=$3 have
	have=$("$NODE" -p "require('$dir/node_modules/$package/package.json').version" 2>/dev/null || true)
	if [[ "$have" == "$version" ]]; then
		step "$package@$version: cached"
		return
	fi
	step "installing $package@$version"
	rm -rf "$dir"
	mkdir -p "$dir"
	echo '{"private": true}' >"$dir/package.json"
	"${NPM[@]}" install --prefix "$dir" "$package@$version" >/dev/null
}

if ((want_conformance)); then
	install_npm_pinned "conformance-$CONFORMANCE_STABLE" @modelcontextprotocol/conformance "$CONFORMANCE_STABLE"
	install_npm_pinned "conformance-$CONFORMANCE_ALPHA" @modelcontextprotocol/conformance "$CONFORMANCE_ALPHA"
fi

# Installs exactly what tests/interop/$1/package-lock.json says into $CACHE/$2 (npm ci), unless
# that lock is already installed there, and links its node_modules beside the scripts (Node
# resolves their imports from there).
install_npm_locked() {
	local src="$ROOT/tests/interop/$1" dir="$CACHE/$2" key
	key=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
	if [[ "$(cat "$dir/.key" 2>/dev/null)" == "$key" ]]; then
		step "tests/interop/$1/package-lock.json: cached"
	else
		step "installing tests/interop/$1/package-lock.json (npm ci)"
		rm -rf "$dir"
		mkdir -p "$dir"
		cp "$src/package.json" "$src/package-lock.json" "$dir/"
		"${NPM[@]}" ci --prefix "$dir" >/dev/null
		echo "$key" >"$dir/.key"
	fi
	ln -sfn "$dir/node_modules" "$src/node_modules"
}

if ((want_interop || want_browser)); then
	# The TypeScript SDK 1.x (session era; the browser test bundles it too).
	install_npm_locked ts interop-ts
fi

if ((want_browser)); then
	if [[ ! -x /usr/bin/chromium ]]; then
		step "installing Debian's chromium (apt-get)"
		sudo_cmd=()
		((EUID != 0)) && sudo_cmd=(sudo)
		"${sudo_cmd[@]}" apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q chromium >/dev/null
		[[ -x /usr/bin/chromium ]] || fail "apt-get did not install /usr/bin/chromium"
	fi
	step "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
	browser_dir="$CACHE/browser"
	browser_key="playwright-core@$PLAYWRIGHT_VERSION esbuild@$ESBUILD_VERSION"
	if [[ "$(cat "$browser_dir/.key" 2>/dev/null)" == "$browser_key" ]]; then
		step "$browser_key: cached"
	else
		step "installing $browser_key"
		rm -rf "$browser_dir"
		mkdir -p "$browser_dir"
		echo '{"private": true}' >"$browser_dir/package.json"
		"${NPM[@]}" install --prefix "$browser_dir" "playwright-core@$PLAYWRIGHT_VERSION" \
			"esbuild@$ESBUILD_VERSION" >/dev/null
		echo "$browser_key" >"$browser_dir/.key"
	fi
fi

if ((want_interop)); then
	# The 2.x client (2026-07-28), in its own dir.
	install_npm_locked ts-2026 interop-ts-2026
	install_npm_pinned "inspector-$INSPECTOR_VERSION" @modelcontextprotocol/inspector "$INSPECTOR_VERSION"

	# Python SDK: a virtual environment with tests/interop/python/requirements.txt.
	venv="$CACHE/venv"
	py_key=$({
		python3 --version
		cat "$ROOT/tests/interop/python/requirements.txt"
	} | sha256sum | cut -d' ' -f1)
	if [[ "$(cat "$venv/.key" 2>/dev/null)" == "$py_key" ]]; then
		step "Python SDK venv (tests/interop/python/requirements.txt): cached"
	else
		step "creating the Python venv with tests/interop/python/requirements.txt ($(python3 --version))"
		rm -rf "$venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check --cache-dir "$CACHE/pip" \
			-r "$ROOT/tests/interop/python/requirements.txt"
		echo "$py_key" >"$venv/.key"
	fi
fi

# --- build ------------------------------------------------------------------------------------

# --all-features, as .ci/run's `cargo test --all-features`: its build is reused.
cargo_args=(--all-features --example conformance --example server)
[[ "$PROFILE" == release ]] && cargo_args+=(--release)
step "building the examples (cargo build ${cargo_args[*]})"
(cd "$ROOT" && cargo build --quiet "${cargo_args[@]}")
# Where cargo put them: $CARGO_TARGET_DIR when set (relative to $ROOT, where cargo ran).
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
EXAMPLES="$TARGET_DIR/$PROFILE/examples"

# --- servers ----------------------------------------------------------------------------------

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# Starts example $1 with `--port $2`, logging to $RUN/$3.log (default $RUN/$1.log); waits for
# its "listening on URL" line and puts the URL in $SERVER_URL.
start_server() {
	local name=$1 port=$2 log="$RUN/${3:-$1}.log" i
	"$EXAMPLES/$name" --port "$port" >"$log" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		SERVER_URL=$(grep -o 'http://[^ ]*/mcp' "$log" 2>/dev/null | head -n1 || true)
		[[ -n "$SERVER_URL" ]] && return
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" >&2
	fail "example '$name' did not start"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- conformance ------------------------------------------------------------------------------

status=0

# Runs suite version $2 (the run named $1) with the CLI arguments after $3 and $4; then judges
# its results: $3 scenarios expected, among them the comma-separated list $4 (may be empty).
run_suite() {
	local name=$1 version=$2 expected=$3 required=$4
	shift 4
	local out="$RUN/conformance-$version-$name" log="$RUN/conformance-$version-$name.log" rc=0
	step "conformance $version ($name): conformance server --url $SERVER_URL $*"
	timeout 600 "$NODE" "$CACHE/conformance-$version/node_modules/@modelcontextprotocol/conformance/dist/index.js" \
		server --url "$SERVER_URL" "$@" -o "$out" >"$log" 2>&1 || rc=$?
	# The suite's own summary: one line per scenario, then `Total: P passed, F failed`.
	sed -n '/=== SUMMARY ===/,$p' "$log" | grep -v '^$' | grep -v '=== SUMMARY ===' || true
	if [[ ! -d "$out" ]]; then
		tail -n 30 "$log" >&2
		echo "==> conformance $version wrote no results (exit $rc)" >&2
		status=1
		return
	fi
	step "conformance $version ($name): judging checks (failures, transport warnings, scenarios)"
	python3 "$ROOT/.ci/conformance_report.py" --version "$version" --results "$out" \
		--expected-scenarios "$expected" --required-scenarios "$required" \
		--expected-warnings "$ROOT/.ci/conformance-expected-warnings.txt" || status=1
	if ((rc != 0)); then
		echo "==> conformance $version ($name) exited with status $rc (full log: $log)" >&2
		status=1
	fi
}

if ((want_conformance)); then
	step "starting examples/conformance.rs on a free port"
	start_server conformance 0
	run_suite all "$CONFORMANCE_STABLE" "$STABLE_SCENARIOS" "" --suite all
	run_suite 2025-11-25 "$CONFORMANCE_ALPHA" "$ALPHA_SCENARIOS" "" --requirements 2025-11-25
	run_suite 2026-07-28 "$CONFORMANCE_ALPHA" "$ALPHA_2026_SCENARIOS" "$ALPHA_2026_REQUIRED" \
		--requirements 2026-07-28
fi

# --- interop ----------------------------------------------------------------------------------

if ((want_interop)); then
	step "starting examples/server.rs on a free port"
	start_server server "$(free_port)"

	step "TypeScript SDK client (tests/interop/ts/client.mjs) against $SERVER_URL"
	timeout 120 "$NODE" "$ROOT/tests/interop/ts/client.mjs" "$SERVER_URL" || status=1

	step "Python SDK client (tests/interop/python/client.py) against $SERVER_URL"
	timeout 120 "$CACHE/venv/bin/python" "$ROOT/tests/interop/python/client.py" "$SERVER_URL" || status=1

	# The 2026-07-28 era on the same endpoint: both clients probe server/discover (auto mode).
	step "TypeScript client 2.x, versionNegotiation auto (tests/interop/ts-2026/client.mjs) against $SERVER_URL"
	timeout 120 "$NODE" "$ROOT/tests/interop/ts-2026/client.mjs" "$SERVER_URL" || status=1

	step "Python SDK Client(url), auto mode (tests/interop/python/client_2026.py) against $SERVER_URL"
	timeout 120 "$CACHE/venv/bin/python" "$ROOT/tests/interop/python/client_2026.py" "$SERVER_URL" || status=1

	# The same server's legacy HTTP+SSE transport (protocol 2024-11-05).
	LEGACY_URL="${SERVER_URL%/mcp}/sse"
	step "TypeScript SDK SSEClientTransport (tests/interop/ts/legacy.mjs) against $LEGACY_URL"
	timeout 120 "$NODE" "$ROOT/tests/interop/ts/legacy.mjs" "$LEGACY_URL" || status=1

	step "Python SDK sse_client (tests/interop/python/legacy_client.py) against $LEGACY_URL"
	timeout 120 "$CACHE/venv/bin/python" "$ROOT/tests/interop/python/legacy_client.py" "$LEGACY_URL" || status=1

	step "MCP Inspector $INSPECTOR_VERSION CLI, --transport sse, against $LEGACY_URL"
	inspector() {
		timeout 60 "$CACHE/inspector-$INSPECTOR_VERSION/node_modules/.bin/mcp-inspector" \
			--cli "$LEGACY_URL" --transport sse "$@" 2>&1
	}
	inspector_checks=0
	if listed=$(inspector --method tools/list) && grep -q '"name": "echo"' <<<"$listed"; then
		echo "PASS tools/list: echo listed"
		inspector_checks=$((inspector_checks + 1))
	else
		echo "FAIL tools/list: $listed"
		status=1
	fi
	if called=$(inspector --method tools/call --tool-name echo --tool-arg text=hello-from-inspector) &&
		grep -q 'hello-from-inspector' <<<"$called"; then
		echo "PASS tools/call echo: answered"
		inspector_checks=$((inspector_checks + 1))
	else
		echo "FAIL tools/call echo: $called"
		status=1
	fi
	echo "inspector-cli-legacy: $inspector_checks passed, $((2 - inspector_checks)) failed"
fi

# --- browser --------------------------------------------------------------------------------

if ((want_browser)); then
	allowed_port=$(free_port)
	denied_port=$(free_port)
	while [[ "$denied_port" == "$allowed_port" ]]; do denied_port=$(free_port); done
	step "starting examples/server.rs for the browser test (MCP_ALLOWED_ORIGINS=http://127.0.0.1:$allowed_port)"
	export MCP_ALLOWED_ORIGINS="http://127.0.0.1:$allowed_port"
	start_server server "$(free_port)" server-browser
	unset MCP_ALLOWED_ORIGINS
	step "browser test (tests/browser/run.mjs): pages on :$allowed_port (allowed) and :$denied_port (not) against $SERVER_URL"
	timeout 180 "$NODE" "$ROOT/tests/browser/run.mjs" --mcp "$SERVER_URL" \
		--allowed-port "$allowed_port" --denied-port "$denied_port" \
		--tools "$CACHE/browser" --sdk "$CACHE/interop-ts" || status=1
fi

if ((status != 0)); then
	fail "external checks (logs in ${RUN#"$ROOT"/})"
fi
step "external checks passed"
