#!/usr/bin/env bash
# Batch pipeline measurements on the generated Kinetics-like tree of tests/batch.rs:
#  1. throughput of the pipeline (decode workers overlapping the model) against decoding and
#     scoring the same list one video after another (--decode-workers 0), same binary;
#  2. peak RSS (/usr/bin/time -f %M) for 20 and 200 videos: flat, whatever the list length
#     (the bounded channel holds at most a few decoded videos; rows are written as they finish).
# Usage: scripts/bench_batch.sh [videos_for_throughput=40] [clips_per_video=1]
# Needs the fixture: `cargo test --test batch` creates target/tmp/fixtures/batch-tree-v2.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
N=${1:-40}
CPV=${2:-1}
FIX=target/tmp/fixtures/batch-tree-v2
[ -d "$FIX" ] || { echo "no $FIX: run cargo test --test batch first" >&2; exit 1; }
cargo build --bin gradtrust-video 2>&1 | tail -1
BIN=$PWD/target/debug/gradtrust-video
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# A space list of n distinct entries (symlinks to the tree's good videos, cycled).
make_list() {
    local n=$1 list=$WORK/list-$1.txt
    mkdir -p "$WORK/v$n"
    mapfile -t videos < <(cd "$FIX/root" && find . -name 'yt-*' -type f | sort)
    : > "$list"
    for ((i = 0; i < n; i++)); do
        local src=${videos[$((i % ${#videos[@]}))]}
        local ext=${src##*.}
        ln -sf "$PWD/$FIX/root/$src" "$WORK/v$n/v$i.$ext"
        echo "v$n/v$i.$ext $((i % 400))" >> "$list"
    done
    echo "$list"
}

run() { # name list extra-args...
    local name=$1 list=$2
    shift 2
    rm -f "$WORK/$name.csv"
    /usr/bin/time -f "$name: %e s wall, peak RSS %M KB" "$BIN" batch --list "$list" --root "$WORK" \
        --out "$WORK/$name.csv" --devices cpu --models-dir "$FIX/models" \
        --weights-url http://127.0.0.1:9/ --clips-per-video "$CPV" "$@" 2>&1 \
        | grep -E "throughput|peak RSS|videos:" || true
}

echo "== throughput: $N videos, $CPV clip(s) per video, $(nproc) cores, libtorch on every core"
L=$(make_list "$N")
run sequential "$L" --decode-workers 0 --batch-size 1
run pipeline-batch1 "$L" --decode-workers 1 --batch-size 1   # overlap alone
run pipeline "$L" --decode-workers 1                         # overlap + batching (20 clips)
echo "== the same with libtorch on one thread (the model on its own core, as a GPU would be)"
run sequential-t1 "$L" --decode-workers 0 --batch-size 1 --threads 1
run pipeline-t1 "$L" --decode-workers 1 --batch-size 1 --threads 1
echo "== decode-heavy videos (640x480, 10 s at 30 fps; 1 clip each), libtorch on one thread"
mkdir -p "$WORK/heavy"
for i in 0 1 2 3 4 5; do
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=640x480:rate=30" -t 10 \
        -vf "hue=h=$((i * 50))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$WORK/heavy/h$i.mp4"
done
for ((j = 0; j < 18; j++)); do
    ln -sf "h$((j % 6)).mp4" "$WORK/heavy/l$j.mp4"
    echo "heavy/l$j.mp4 $j"
done > "$WORK/heavy.txt"
run heavy-sequential "$WORK/heavy.txt" --decode-workers 0 --batch-size 1 --threads 1
run heavy-pipeline "$WORK/heavy.txt" --decode-workers 1 --batch-size 1 --threads 1
echo "== peak RSS: 20 vs 200 videos (--batch-size 5: both runs fill their batches)"
run rss-20 "$(make_list 20)" --batch-size 5
run rss-200 "$(make_list 200)" --batch-size 5
