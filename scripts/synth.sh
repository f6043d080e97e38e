#!/usr/bin/env bash
# Synthesizes the CDK app offline — no AWS credentials, no cdk CLI — into
# build/cdk.out: every environment, or the one named by ENV (make synth
# ENV=dev). The Lambda zips must exist (make build). LINT=1 also runs the
# pinned cfn-lint on the templates (the infra tests always do).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need go "install Go 1.26 (https://go.dev/doc/install)"
need node "the CDK's jsii runtime needs Node.js (20 or newer)"

envs="${ENV:-all}"
out="${CDK_OUTDIR:-$ROOT/build/cdk.out}"
rm -rf "$out"
echo "synth: environments '$envs' → $out"
CDK_OUTDIR="$out" CMLCM_ENVS="$envs" JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 go run ./infra

shopt -s nullglob
templates=("$out"/*.template.json)
((${#templates[@]})) || die "no templates synthesized in $out"
for t in "${templates[@]}"; do echo "synth: $(basename "$t")"; done

if [[ "${LINT:-0}" == 1 ]]; then
  lint="${CFN_LINT:-$VENV/bin/cfn-lint}"
  [[ -x "$lint" ]] || die "cfn-lint not found at $lint: run make deps (pinned in tools/requirements.txt) or set CFN_LINT"
  # Each template for the region it deploys to (from the cloud assembly).
  status=0
  while read -r template region; do
    # W3005 (DependsOn already implied) is how CDK orders a function after its role policy.
    "$lint" --regions "$region" --ignore-checks W3005 -- "$out/$template" || status=$((status | $?))
  done < <(python3 - "$out/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for a in m["artifacts"].values():
    if a.get("type") == "aws:cloudformation:stack":
        print(a["properties"]["templateFile"], a["environment"].rsplit("/", 1)[-1])
PY
)
  # cfn-lint exit bits: 2 = errors, 4 = warnings, 8 = informational.
  ((status & 2)) && die "cfn-lint found errors"
  echo "synth: cfn-lint clean (no errors)"
fi
