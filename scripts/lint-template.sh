#!/usr/bin/env bash
# Lints template.yaml the two ways CI and a deploy care about: `sam validate --lint` (SAM's own
# transform rules) and `cfn-lint` (CloudFormation's). Both run offline. Installs them if missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh" >/dev/null
export PATH="$ROOT/.tools/venv/bin:$PATH"
# sam needs a region to load the template but never calls AWS here; no telemetry from CI.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
export SAM_CLI_TELEMETRY=0

echo "== sam validate --lint"
sam validate --lint --template-file template.yaml
echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "template lint: ok (sam validate --lint, cfn-lint)"
