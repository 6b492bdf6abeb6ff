#!/usr/bin/env bash
# Decoding stage, Rust vs the Python reference, in one run: `clips::load_clips` with the r3d
# preset (examples/bench_decode.rs) next to torchcodec + torchvision VideoClassification
# (tests/py/bench_decode.py), same clip, same protocol, same number of clips.
#
#   scripts/bench_decode.sh            # 10 iterations, release build
#   ITERATIONS=20 PROFILE=dev scripts/bench_decode.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

ITERATIONS=${ITERATIONS:-10}
PROFILE=${PROFILE:-release}
PRESET=${PRESET:-r3d}
dir=target/bench
clip=$dir/h264_340x256_30fps_10s.mp4
mkdir -p "$dir"
if [ ! -f "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=340x256:rate=30 -t 10 \
        -c:v libx264 -pix_fmt yuv420p "$clip.partial.mp4"
    mv "$clip.partial.mp4" "$clip"
fi

cargo build --quiet --profile "$PROFILE" --example bench_decode
case "$PROFILE" in dev) out=debug ;; *) out=$PROFILE ;; esac

echo "clip: $clip (10 s, 340x256, H.264, 30 fps); preset $PRESET; $ITERATIONS iterations; $(nproc) cores"
rust_out=$("target/$out/examples/bench_decode" "$clip" "$ITERATIONS" "$PRESET")
echo "$rust_out" | grep -v '^clips_per_sec='
py_out=$("$GRADTRUST_PYTHON" tests/py/bench_decode.py "$clip" --iterations "$ITERATIONS" --preset "$PRESET")
echo "$py_out" | grep -v '^clips_per_sec='

rust=$(echo "$rust_out" | sed -n 's/^clips_per_sec=//p')
py=$(echo "$py_out" | sed -n 's/^clips_per_sec=//p')
python3 -c "import sys; r, p = map(float, sys.argv[1:]); print(f'rust {r:.1f} clips/s vs python reference {p:.1f} clips/s: {r / p:.2f}x')" "$rust" "$py"
