#!/usr/bin/env bash
# Installs what `make run` and `make test` need: Go modules and the pinned
# Python tools (moto server, Cisco's virl2-client) in ./.venv. Idempotent.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need go "install Go 1.26 (https://go.dev/doc/install)"
need python3 "apt-get install python3 python3-venv"
need curl "apt-get install curl"

go mod download

stamp="$VENV/.requirements.sha256"
want="$(sha256sum tools/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "deps: installing Python tools into .venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed: apt-get install python3-venv"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tools/requirements.txt \
    || die "pip install -r tools/requirements.txt failed"
  echo "$want" > "$stamp"
fi
