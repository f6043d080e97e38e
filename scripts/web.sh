#!/usr/bin/env bash
# The dashboard (web/): build | test | e2e | bench.
#   build  npm ci when needed, then type-check and build web/dist
#   test   unit tests (vitest)
#   e2e    browser tests in headless Chromium (Debian's chromium package,
#          driven by playwright-core; no browser download): against the stub
#          API and against the real local server (cmlcm serve), which the
#          runner builds and starts itself. E2E_TARGET=stub|server narrows it.
#   bench  bundle size (gzip) and fleet-page first render with 500 workers
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
WEB="$ROOT/web"
STAMP="$WEB/node_modules/.package-lock.sha256"

need node "install Node.js 20.19+ and npm (Debian: apt-get install -y nodejs npm)"
need npm "install npm (Debian: apt-get install -y npm)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js $(node -v) is too old for Vite 7: install Node.js 20.19+ or 22.12+"

deps() { # npm ci when node_modules is missing or package-lock.json changed
  local sum
  sum="$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)"
  if [[ ! -d "$WEB/node_modules" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$sum" ]]; then
    echo "web: npm ci"
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" >"$STAMP"
  fi
}

build() {
  deps
  (cd "$WEB" && npm run --silent build)
}

chromium_ready() {
  local bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
  [[ -x "$bin" ]] && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "web: installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    [[ -x "$bin" ]] && return 0
  fi
  die "$bin is missing: install Debian's chromium (sudo apt-get update && sudo apt-get install -y chromium) or set CHROMIUM_PATH"
}

case "${1:-}" in
  build) build ;;
  test) deps; (cd "$WEB" && npx vitest run) ;;
  e2e)
    chromium_ready
    build
    need go "install Go (see go.mod) to run the local server"
    files=(e2e/stub.test.mjs e2e/server.test.mjs)
    case "${E2E_TARGET:-all}" in stub) files=(e2e/stub.test.mjs) ;; server) files=(e2e/server.test.mjs) ;; esac
    (cd "$WEB" && node --test --test-concurrency=1 --test-reporter=spec "${files[@]}")
    ;;
  bench) chromium_ready; build; (cd "$WEB" && node bench/bench.mjs) ;;
  *) echo "usage: $0 build|test|e2e|bench" >&2; exit 2 ;;
esac
