#!/usr/bin/env bash
# Peak memory of `score --timeline` on a 30-minute video against a 3-minute one (issue 12:
# windows stream through the model as they are decoded, so memory must not grow with the
# video; goal: peak RSS ratio <= 1.1). Both runs write every output (text on stdout, --out
# rows, --plot chart), every window at the default stride.
#
# The videos: 320x240 30 fps H.264 (testsrc2, GOP 60); the 3-minute one is the first 3
# minutes of the 30-minute stream. The model, by default, is the small scripted 3-D CNN of
# the tests (tests/py/own_model_fixture.py custom), so the 1,688 windows of 30 minutes run in
# minutes on 2 cores; MODEL=r3d_18 uses seeded r3d_18 weights instead (slow on CPU: add
# STRIDE=60 to score one window a minute while still decoding every frame).
#
#   scripts/bench_timeline_rss.sh
#   MODEL=r3d_18 STRIDE=60 scripts/bench_timeline_rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

PROFILE=${PROFILE:-dev}
MODEL=${MODEL:-scripted}
dir=target/bench
long=$dir/h264_320x240_30fps_30min.mp4
short=$dir/h264_320x240_30fps_3min.mp4
. scripts/bench_clips.sh
gop60_long_and_cut 320x240 1800 "$long" 180 "$short"

case "$MODEL" in
    scripted)
        model_dir=$dir/timeline-scripted
        if [ ! -f "$model_dir/scripted.pt" ]; then
            "$GRADTRUST_PYTHON" tests/py/own_model_fixture.py custom --out "$model_dir"
        fi
        model_args=(--model torchscript --preset r3d_18 --weights "$model_dir/scripted.pt")
        ;;
    r3d_18)
        model_dir=$dir/timeline-r3d_18
        if [ ! -f "$model_dir/state_zip.pth" ]; then
            "$GRADTRUST_PYTHON" tests/py/model_fixture.py --model r3d_18 --out "$model_dir" \
                --seed 0 --batch 1 --frames 8 --size 112
        fi
        model_args=(--model r3d_18 --weights "$model_dir/state_zip.pth")
        ;;
    *) echo "MODEL must be scripted or r3d_18" >&2; exit 2 ;;
esac
stride_args=()
if [ -n "${STRIDE:-}" ]; then stride_args=(--stride "$STRIDE"); fi

cargo build --quiet --profile "$PROFILE"
case "$PROFILE" in dev) out=debug ;; *) out=$PROFILE ;; esac
bin=target/$out/gradtrust-video

# Peak RSS (KiB) of one timeline run over $1, its outputs under $dir/timeline-$2.*.
peak_kib() {
    local video=$1 name=$2
    rm -f "$dir/timeline-$name.csv" "$dir/timeline-$name.png"
    /usr/bin/time -f '%M %e' -o "$dir/timeline-$name.time" \
        "$bin" score "$video" --timeline --device cpu "${model_args[@]}" "${stride_args[@]}" \
        --out "$dir/timeline-$name.csv" --plot "$dir/timeline-$name.png" \
        >"$dir/timeline-$name.txt" 2>"$dir/timeline-$name.log"
    local rows
    rows=$(($(wc -l <"$dir/timeline-$name.csv") - 1))
    read -r kib secs <"$dir/timeline-$name.time"
    echo "$name: $rows windows, peak RSS $((kib / 1024)) MiB, ${secs} s" >&2
    echo "$kib"
}

echo "== score --timeline, model $MODEL, $(nproc) cores, profile $PROFILE"
short_kib=$(peak_kib "$short" 3min)
long_kib=$(peak_kib "$long" 30min)
python3 -c "import sys; s, l = map(int, sys.argv[1:]); print(f'peak RSS 30 min {l / 1024:.1f} MiB vs 3 min {s / 1024:.1f} MiB: ratio {l / s:.3f} (goal <= 1.1), difference {(l - s) / 1024:+.1f} MiB')" \
    "$short_kib" "$long_kib"
