#!/usr/bin/env bash
# The test command: set-up (idempotent), then the whole suite on CPU. Fixtures (seeded
# torchvision weights, reference outputs, generated clips) are made by the project's Python
# environment at test time and cached under target/tmp/fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
# Two cores on CI: one test binary at a time, its tests on both cores.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-2}
# The test command builds from a clean clone; incremental caches (~0.7 GB) pay off only in
# an edit-compile loop, which runs cargo itself.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
cargo test --locked --all-targets "$@"
