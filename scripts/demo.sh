#!/usr/bin/env bash
# The main job on a sample clip: set-up, build, then `score` with r3d_18. The weight file
# comes from models/ or is downloaded from torchvision (checksum checked) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
cargo build --release --locked
exec target/release/gradtrust-video score clips/testsrc2-340x256-30fps.mp4 --model r3d_18 "$@"
