#!/usr/bin/env bash
# Seek-based decoding on a long video, in one run (issue 12's measurements):
#  1. `clips::load_clips` (decode + RGB + r3d transform of the protocol's clips) on a
#     10-minute 640x360 30 fps H.264 file (GOP 60) against a 10-second file of the same
#     stream: the decode time of the long file should stay within 1.3x of the short one's
#     (ROUNDS rounds, the median ratio reported: single rounds vary by about ±0.07 here).
#  2. The same on the 10-minute file against torchcodec (seek_mode="exact", only the frames
#     the clips use, FFmpeg threads auto) + torchvision's transform.
#  3. The old 10 s 340x256 decode benchmark (scripts/bench_decode.sh).
#
#   scripts/bench_seek.sh             # dev profile (dependencies optimized), 5 rounds of 5
#   PROFILE=release ROUNDS=8 ITERATIONS=10 scripts/bench_seek.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

ITERATIONS=${ITERATIONS:-5}
ROUNDS=${ROUNDS:-5}
PROFILE=${PROFILE:-dev}
dir=target/bench
long=$dir/h264_640x360_30fps_gop60_10min.mp4
short=$dir/h264_640x360_30fps_gop60_10s.mp4
. scripts/bench_clips.sh
gop60_long_and_cut 640x360 600 "$long" 10 "$short"

cargo build --quiet --profile "$PROFILE" --example bench_decode
case "$PROFILE" in dev) out=debug ;; *) out=$PROFILE ;; esac
bench=target/$out/examples/bench_decode
value() { sed -n "s/^$1=//p"; }

echo "== 1. 10 min vs 10 s, same stream ($ROUNDS rounds of $ITERATIONS iterations each, $(nproc) cores)"
# Rounds alternate the two files, so that a change in the machine's load falls on both;
# the ratio reported is the median of the rounds'.
ratios=()
for round in $(seq "$ROUNDS"); do
    long_out=$("$bench" "$long" "$ITERATIONS" r3d)
    short_out=$("$bench" "$short" "$ITERATIONS" r3d)
    if [ "$round" = 1 ]; then echo "$long_out" | grep -v '='; echo "$short_out" | grep -v '='; fi
    ratios+=("$(python3 -c "import sys; l, s = map(float, sys.argv[1:3]); print(f'{l / s:.3f}'); print(f'round {sys.argv[3]}: decode 10 min {l:.1f} ms vs 10 s {s:.1f} ms: ratio {l / s:.2f}', file=sys.stderr)" \
        "$(echo "$long_out" | value decode_ms)" "$(echo "$short_out" | value decode_ms)" "$round")")
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'decode ratio, 10 min vs 10 s: median {statistics.median(r):.2f} (min {r[0]:.2f}, max {r[-1]:.2f}; goal <= 1.3)')" "${ratios[@]}"

echo "== 2. 10 min: rust load_clips vs torchcodec exact seek + torchvision"
py_out=$("$GRADTRUST_PYTHON" tests/py/bench_decode.py "$long" --iterations "$ITERATIONS" --preset r3d --needed-only)
echo "$py_out" | grep -v '='
python3 -c "import sys; r, p = map(float, sys.argv[1:]); print(f'rust {r:.2f} clips/s vs torchcodec {p:.2f} clips/s: {r / p:.2f}x (goal >= 2)')" \
    "$(echo "$long_out" | value clips_per_sec)" "$(echo "$py_out" | value clips_per_sec)"

echo "== 3. the 10 s 340x256 benchmark"
PROFILE=$PROFILE ITERATIONS=$ITERATIONS scripts/bench_decode.sh
