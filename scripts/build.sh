#!/usr/bin/env bash
# `make build`: deployable artifacts for template.yaml, arm64 (Graviton), release.
#
#   scripts/build.sh                  sam build  -> .aws-sam/build/<Function>/bootstrap + a built template
#   BUILD_WITH=cargo-lambda scripts/build.sh
#                                     cargo lambda build --release --arm64 -> target/lambda/<name>/bootstrap
#
# Both cross-compile with cargo-lambda and zig (the ziglang wheel that `pip install cargo-lambda`
# pulls in), so neither needs Docker. The Rust standard library for aarch64 comes from rustup
# (`rustup target add aarch64-unknown-linux-gnu`, done here when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sam-env.sh"
# SAM's rust-cargolambda build method is still flagged beta; this accepts it without a prompt.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1

TARGET=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "build: adding the Rust target $TARGET" >&2
    rustup target add "$TARGET"
fi

FUNCTIONS=(calendly-webhook ghl-webhook appointment-history reconcile-scheduled migrate-batch)
case "${BUILD_WITH:-sam}" in
    sam)
        # samconfig.toml: cached, one function at a time (in parallel, the cargo-lambda processes race
        # setting up zig's caches on a first build; see there). The builds share target/, so after
        # the first the others mostly link. `sam deploy` then uploads .aws-sam/build.
        sam build "$@"
        ls -l .aws-sam/build/*/bootstrap
        ;;
    cargo-lambda)
        args=()
        for f in "${FUNCTIONS[@]}"; do args+=(--bin "$f"); done
        cargo lambda build --release --arm64 --locked "${args[@]}" "$@"
        for f in "${FUNCTIONS[@]}"; do ls -l "${CARGO_TARGET_DIR:-target}/lambda/$f/bootstrap"; done
        ;;
    *)
        echo "build: BUILD_WITH is sam or cargo-lambda" >&2
        exit 2
        ;;
esac
