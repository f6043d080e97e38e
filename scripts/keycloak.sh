#!/usr/bin/env bash
# Runs a real Keycloak for the tests, on 127.0.0.1, with the project's test
# realm (deploy/keycloak/cmlcm-realm.json: realm cmlcm, roles admin, manager,
# user, client cmlcm, users admin/manager/user/guest with password "test").
#
#   scripts/keycloak.sh start            # prints KEYCLOAK_URL=…, writes .tools/keycloak/env
#   scripts/keycloak.sh start --no-wait  # the same, returning as soon as it is launched
#   scripts/keycloak.sh wait             # until the launched Keycloak answers
#   scripts/keycloak.sh stop
#   scripts/keycloak.sh status
#
# With --no-wait the tests overlap Keycloak's start: internal/auth/keycloaktest
# waits for the realm to answer before the first Keycloak test.
#
# The server distribution (org.keycloak:keycloak-quarkus-dist, pinned below)
# comes from Maven with Maven's default configuration and is cached under
# .tools/keycloak (git-ignored). Keycloak 26 needs Java 21 or newer; the
# script picks one from JAVA_HOME, /usr/lib/jvm or /opt.
#
# `start` reuses a Keycloak this script already runs. Tests read the URL from
# the environment: `source .tools/keycloak/env` (scripts/test.sh does).
source "$(dirname "$0")/lib.sh"

KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
TOOLS="$ROOT/.tools/keycloak"
DIST="$TOOLS/keycloak-$KEYCLOAK_VERSION"
ZIP="$TOOLS/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
RUN="$TOOLS/run"
PIDFILE="$RUN/pid"
ENVFILE="$TOOLS/env"
LOG="$RUN/keycloak.log"
REALM="$ROOT/deploy/keycloak/cmlcm-realm.json"
START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-420}" # seconds; a cold first start builds the server

# java_major JAVA: the major version of a java binary (0 if it does not run).
java_major() {
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }' || echo 0
}

# find_java: a Java 21+ home, newest first.
find_java() {
  local cands=() c best="" bestv=0 v
  [[ -n "${JAVA_HOME:-}" ]] && cands+=("$JAVA_HOME")
  for c in /usr/lib/jvm/* /opt/*jdk* /opt/*java* /opt/*/jdk*; do [[ -d "$c" ]] && cands+=("$c"); done
  for c in "${cands[@]}"; do
    [[ -x "$c/bin/java" ]] || continue
    v="$(java_major "$c/bin/java")"
    if [[ "$v" =~ ^[0-9]+$ ]] && ((v >= 21 && v > bestv)); then best="$c"; bestv="$v"; fi
  done
  if [[ -z "$best" ]] && command -v java >/dev/null; then
    v="$(java_major java)"
    if [[ "$v" =~ ^[0-9]+$ ]] && ((v >= 21)); then best="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"; fi
  fi
  [[ -n "$best" ]] || die "Keycloak $KEYCLOAK_VERSION needs Java 21 or newer (none found in JAVA_HOME, /usr/lib/jvm or /opt): apt-get install openjdk-21-jdk-headless"
  echo "$best"
}

fetch() {
  [[ -d "$DIST/bin" ]] && return 0
  mkdir -p "$TOOLS"
  if [[ ! -s "$ZIP" ]]; then
    need mvn "apt-get install maven"
    echo "keycloak: fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION with Maven" >&2
    mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$TOOLS" -Dmdep.overWriteIfNewer=true >&2 \
      || die "Maven could not fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION"
  fi
  echo "keycloak: unpacking $(basename "$ZIP")" >&2
  rm -rf "$DIST.partial" && mkdir -p "$DIST.partial"
  if command -v unzip >/dev/null; then
    unzip -q "$ZIP" -d "$DIST.partial"
  else
    python3 -m zipfile -e "$ZIP" "$DIST.partial" && chmod +x "$DIST.partial"/keycloak-*/bin/*.sh
  fi
  mv "$DIST.partial/keycloak-$KEYCLOAK_VERSION" "$DIST" && rmdir "$DIST.partial"
}

running() { [[ -s "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# wait_ready URL: until the realm's discovery document answers.
wait_ready() {
  local url=$1 t0 i
  t0=$(date +%s)
  for ((i = 0; i < START_TIMEOUT * 2; i++)); do
    if curl -sf -o /dev/null --max-time 2 "$url/realms/cmlcm/.well-known/openid-configuration"; then
      echo "keycloak: ready (waited $(($(date +%s) - t0)) s)" >&2
      return 0
    fi
    if ! running; then
      tail -n 40 "$LOG" >&2
      die "Keycloak exited during start (log: $LOG)"
    fi
    sleep 0.5
  done
  tail -n 40 "$LOG" >&2
  stop
  die "Keycloak did not answer within ${START_TIMEOUT}s (log: $LOG)"
}

start() {
  local nowait=false
  [[ "${1:-}" == "--no-wait" ]] && nowait=true
  if running && [[ -s "$ENVFILE" ]]; then
    # shellcheck disable=SC1090
    source "$ENVFILE"
    $nowait || wait_ready "$KEYCLOAK_URL"
    echo "KEYCLOAK_URL=$KEYCLOAK_URL"
    return 0
  fi
  stop
  need curl "apt-get install curl"
  fetch
  local java port
  java="$(find_java)"
  port="$(free_port)"
  mkdir -p "$RUN" "$DIST/data/import"
  cp "$REALM" "$DIST/data/import/cmlcm-realm.json"
  echo "keycloak: starting $KEYCLOAK_VERSION on 127.0.0.1:$port (Java $(java_major "$java/bin/java"); log $LOG)" >&2
  # dev mode: in-memory H2 (a fresh realm import every start), no TLS,
  # listening on loopback only. The C1-only JIT starts faster on two cores
  # than the full tiered compilation tuned for long runs. setsid: its own
  # process group, so stop ends Keycloak and nothing else.
  JAVA_HOME="$java" JAVA_OPTS_APPEND="-XX:TieredStopAtLevel=1" \
    setsid "$DIST/bin/kc.sh" start-dev \
      --http-host=127.0.0.1 --http-port="$port" --hostname-strict=false \
      --db=dev-mem --import-realm --cache=local \
      --health-enabled=false --metrics-enabled=false \
      --features-disabled=impersonation,kerberos,ciba,device-flow,par,organization,client-policies,opentelemetry,twitter-broker \
      --log-level=warn --log=file --log-file="$LOG.kc" \
      >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local url="http://127.0.0.1:$port"
  printf 'export KEYCLOAK_URL=%q\n' "$url" >"$ENVFILE"
  $nowait || wait_ready "$url"
  echo "KEYCLOAK_URL=$url"
}

stop() {
  rm -f "$ENVFILE"
  running || { rm -f "$PIDFILE"; return 0; }
  local pid i
  pid="$(cat "$PIDFILE")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "keycloak: stopped" >&2
}

case "${1:-}" in
  start) start "${2:-}" ;;
  wait)
    running && [[ -s "$ENVFILE" ]] || die "no Keycloak launched (scripts/keycloak.sh start)"
    # shellcheck disable=SC1090
    source "$ENVFILE"
    wait_ready "$KEYCLOAK_URL"
    echo "KEYCLOAK_URL=$KEYCLOAK_URL" ;;
  stop) stop ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"))"; cat "$ENVFILE" 2>/dev/null || true; else echo "stopped"; fi ;;
  *) echo "usage: $0 start [--no-wait]|wait|stop|status" >&2; exit 2 ;;
esac
