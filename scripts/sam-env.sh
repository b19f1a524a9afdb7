# Sourced (not run) by the scripts that call SAM or cfn-lint: works from the repository root, with
# the pinned tools installed (scripts/tools.sh) and first on PATH, and no SAM telemetry unless asked.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh" >/dev/null
export PATH="$ROOT/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"
