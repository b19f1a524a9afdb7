#!/usr/bin/env bash
# Lints template.yaml the two ways CI and a deploy care about: `sam validate --lint` (SAM's own
# transform rules) and `cfn-lint` (CloudFormation's). Both run offline. Installs them if missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sam-env.sh"
# sam needs a region to load the template but never calls AWS here.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

echo "== sam validate --lint"
sam validate --lint --template-file template.yaml
echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "template lint: ok (sam validate --lint, cfn-lint)"
