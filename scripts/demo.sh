#!/usr/bin/env bash
# The main job on a sample clip: set-up, build, then `score` with r3d_18. The weight file
# comes from models/ or is downloaded from torchvision (checksum checked) on first use. On a
# machine where it is neither there nor downloadable (no network), the demo says so and runs
# the same job with seeded, untrained weights (`--weights untrained:0`): the pipeline runs end
# to end and every output says its predictions are meaningless.
#
# Arguments go to `score` (e.g. `--scores fast`, `--json`); with `--weights FILE` that file is
# used and no torchvision file is looked for.
# Environment:
#   GRADTRUST_DEMO_BIN     an already built gradtrust-video: set-up and build are skipped
#                          (e.g. after scripts/install.sh: GRADTRUST_DEMO_BIN=gradtrust-video;
#                          the tests run the demo this way)
#   GRADTRUST_MODELS_DIR   where weight files are looked for and saved (default: models)
#   GRADTRUST_WEIGHTS_URL  where they are downloaded from (default: torchvision's server)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${GRADTRUST_DEMO_BIN:-}" ]; then
  bin=$GRADTRUST_DEMO_BIN
else
  bash scripts/setup.sh
  . scripts/env.sh
  cargo build --release --locked
  bin=target/release/gradtrust-video
fi

model=r3d_18
weights=()
own=no
for arg in "$@"; do
  case $arg in --weights | --weights=*) own=yes ;; esac
done
# `fetch` finds the file in the models directory (checking its checksum) or downloads it.
[ $own = yes ] || echo "demo: looking for the $model weight file (downloaded once if absent)" >&2
if [ $own = no ] && ! reason=$("$bin" fetch "$model" 2>&1 >/dev/null); then
  echo "demo: no usable $model weight file:" >&2
  printf '%s\n' "$reason" | sed 's/^error: //; s/^/  /' >&2
  echo "demo: running with untrained weights (--weights untrained:0): the pipeline runs end" \
    "to end, its predictions are meaningless" >&2
  weights=(--weights untrained:0)
fi
exec "$bin" score clips/testsrc2-340x256-30fps.mp4 --model "$model" "${weights[@]}" "$@"
