#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo fuzz (libFuzzer): every target in fuzz/ runs for
# FUZZ_SECONDS (default 30) from its corpus in fuzz/corpus/<target>. New inputs go to a
# temporary directory, so the committed corpus only changes by hand; a crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run (turn it into a regression test).
#
# cargo fuzz needs a nightly toolchain. Without one this says so plainly and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-30}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
	echo "fuzzing SKIPPED: no nightly toolchain on this machine ('rustup toolchain list' shows none)"
	exit 0
fi
if ! command -v cargo-fuzz >/dev/null; then
	# Installing cargo-fuzz takes minutes on two cores: a CI run already late (RUN_ELAPSED, in
	# seconds, from .ci/run) skips it rather than pass its 25-minute budget.
	if ((${RUN_ELAPSED:-0} > 720)); then
		echo "fuzzing SKIPPED: cargo-fuzz is not installed, and this run is ${RUN_ELAPSED}s in (installing it would take it past its time budget)"
		exit 0
	fi
	echo "installing cargo-fuzz"
	cargo install cargo-fuzz --locked --quiet
fi

targets=$(cargo +nightly fuzz list)
echo "building fuzz targets: $(echo "$targets" | tr '\n' ' ')"
cargo +nightly fuzz build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $targets; do
	mkdir -p "$work/$target"
	echo "==> fuzz $target for ${SECONDS_EACH}s"
	cargo +nightly fuzz run "$target" "$work/$target" "fuzz/corpus/$target" -- \
		-max_total_time="$SECONDS_EACH" -print_final_stats=1 2>&1 |
		grep -E '^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY|Done)' || true
	if [ -d "fuzz/artifacts/$target" ] && [ -n "$(ls -A "fuzz/artifacts/$target")" ]; then
		echo "==> FAILED: fuzz target $target found a crash: fuzz/artifacts/$target" >&2
		exit 1
	fi
done
echo "fuzzing passed: $(echo "$targets" | wc -l) targets, ${SECONDS_EACH}s each"
