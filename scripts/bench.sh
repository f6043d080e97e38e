#!/usr/bin/env bash
# Runs the benchmarks against the same real services the tests use and
# prints their figures. Figures are recorded in docs/performance.md.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

port="$(free_port)"
"$VENV/bin/python" "$ROOT/scripts/run_moto.py" 127.0.0.1 "$port" >"${TMPDIR:-/tmp}/cmlcm-moto-bench-$port.log" 2>&1 &
pids+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$port"
wait_http "$MOTO_ENDPOINT/moto-api/" 60 || die "moto server did not start"

go test -run '^$' -bench . -benchtime "${BENCHTIME:-1x}" -timeout 30m ./...

"$ROOT/scripts/web.sh" bench
