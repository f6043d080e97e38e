#!/usr/bin/env bash
# Runs every test: installs dependencies, starts the services the tests use
# on 127.0.0.1 (a moto server), runs them, and stops the services again.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/deps.sh"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# One moto server (DynamoDB, DynamoDB Streams, EC2, CloudWatch, EventBridge,
# STS) shared by all test packages; tests use uniquely named resources.
port="$(free_port)"
"$VENV/bin/python" "$ROOT/scripts/run_moto.py" 127.0.0.1 "$port" >"${TMPDIR:-/tmp}/cmlcm-moto-$port.log" 2>&1 &
pids+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$port"
wait_http "$MOTO_ENDPOINT/moto-api/" 60 || die "moto server did not start (log: ${TMPDIR:-/tmp}/cmlcm-moto-$port.log)"
echo "test: moto server at $MOTO_ENDPOINT"

# Keycloak is not started yet: the RBAC matrix's Keycloak subtest reports
# itself skipped (visibly) until internal/auth lands (issue 4).
export CMLCM_NO_KEYCLOAK=1
echo "test: Keycloak not started (CMLCM_NO_KEYCLOAK=1): Keycloak-token RBAC tests are skipped"

export CMLCM_PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"

# -p 2: two cores; packages that start servers share them politely.
go test -count=1 -p 2 -timeout 25m ./...

# The dashboard: unit tests, then end-to-end tests in headless Chromium.
"$ROOT/scripts/web.sh" test
"$ROOT/scripts/web.sh" e2e
