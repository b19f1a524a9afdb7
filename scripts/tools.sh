#!/usr/bin/env bash
# Installs the project's command-line tools into the git-ignored .tools/ (a Python venv), if missing:
#   cargo-lambda (the binary, plus zig through the ziglang wheel, for cross builds),
#   aws-sam-cli (sam), cfn-lint.
# Idempotent and quick when already installed. Prints the paths it put in place.
#
#   scripts/tools.sh            install if missing, print the tool paths
#   source <(scripts/tools.sh --env)   also put .tools/venv/bin on PATH in the calling shell
#
# Every other script calls this first, so nothing needs installing by hand.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
BIN="$VENV/bin"
# Bump when the list below changes so that existing installs pick it up.
STAMP="$TOOLS/.installed-v1"
PACKAGES=(cargo-lambda aws-sam-cli cfn-lint)

log() { echo "tools: $*" >&2; }

python_with_venv() {
    for py in python3 python3.12 python3.11 python3.13 python3.10; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

install_tools() {
    local py
    if ! py="$(python_with_venv)"; then
        # Debian's python3 ships venv/ensurepip separately.
        log "python3 with venv not found; installing Debian's python3-venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            (apt-get install -y -qq python3-venv python3-pip >/dev/null 2>&1) ||
                (apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv python3-pip >/dev/null)
            py="$(python_with_venv)"
        else
            log "install python3 and python3-venv, then rerun"
            exit 1
        fi
    fi
    mkdir -p "$TOOLS"
    if [ ! -x "$BIN/python" ]; then
        log "creating $VENV with $py"
        "$py" -m venv "$VENV"
    fi
    log "installing ${PACKAGES[*]} (first time only; takes a minute or two)"
    "$BIN/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
    "$BIN/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
    touch "$STAMP"
}

tools_present() {
    [ -f "$STAMP" ] && [ -x "$BIN/cargo-lambda" ] && [ -x "$BIN/sam" ] && [ -x "$BIN/cfn-lint" ]
}

if ! tools_present; then
    # Two scripts starting at once (make -j, dev + test) must not install over each other.
    mkdir -p "$TOOLS"
    exec 9>"$TOOLS/.lock"
    if command -v flock >/dev/null; then flock 9; fi
    tools_present || install_tools
fi

# zig (for `cargo lambda build` cross-compiling to arm64) comes with the ziglang wheel as
# `python -m ziglang`; cargo-lambda finds it through the venv's python. Report where it is.
ZIG="$("$BIN/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))' 2>/dev/null || true)"

if [ "${1:-}" = "--env" ]; then
    echo "export PATH=\"$BIN:\$PATH\""
    exit 0
fi

echo "cargo-lambda: $BIN/cargo-lambda"
echo "sam:          $BIN/sam"
echo "cfn-lint:     $BIN/cfn-lint"
echo "zig:          ${ZIG:-not found (cargo lambda build needs it for cross builds)}"
echo "PATH add:     $BIN"
