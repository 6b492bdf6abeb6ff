#!/usr/bin/env bash
# The GPU check, in one go (about 8 minutes on one GPU with 16 cores, the build included):
#   1. build (dev profile: dependencies optimized; the binary and examples/gpu_check.rs);
#   2. every model on CUDA against the CPU, same seeded weights and input, every score
#      (`--scores all`: logits and each score of 2 clips and their video within 1e-3
#      relative), TF32 off (NVIDIA_TF32_OVERRIDE=0: cuDNN and cuBLAS compute in FP32);
#   3. throughput, one table: decode-only clips/s with W workers; forward-only clips/s of our
#      model stage against PyTorch's torchvision forward on the same batch shape in the same
#      run; end-to-end `batch` clips/s; the GPU's utilisation during that run (nvidia-smi).
# The tables go to stdout and to OUT (default target/gpu_check.md) as markdown.
# On a machine without CUDA it says so and exits 0 before building anything.
#
#   scripts/gpu_check.sh [OUT]
#   GPU_CHECK_MODELS="r3d_18 swin3d_t"   only these models in step 2 (default: every model)
#   GPU_CHECK_VIDEOS=400                 list length of the end-to-end run
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
OUT=${1:-target/gpu_check.md}

# CUDA first, as the project's PyTorch sees it (the binary links the same libtorch).
if [ ! -x "$GRADTRUST_PYTHON" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "gpu_check: a GPU is present but no Python environment at $GRADTRUST_VENV: run scripts/setup.sh first" >&2
        exit 1
    fi
    echo "gpu_check: no CUDA device (and no Python environment): nothing to check"
    exit 0
fi
read -r HAS_CUDA TORCH < <("$GRADTRUST_PYTHON" -c \
    'import torch; print(int(torch.cuda.is_available()), torch.__version__)' 2>/dev/null || echo "0 ?")
if [ "$HAS_CUDA" != 1 ]; then
    echo "gpu_check: no CUDA device (torch $TORCH sees none): nothing to check"
    exit 0
fi

export NVIDIA_TF32_OVERRIDE=0
START=$(date +%s)
phase() { echo "== $* ($(($(date +%s) - START)) s)"; }
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d)
UTIL_PID=
trap '[ -n "$UTIL_PID" ] && kill "$UTIL_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
CORES=$(nproc)
GPU=$("$GRADTRUST_PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))')

phase "build (dev profile, $CORES cores)"
cargo build --locked --quiet --bin gradtrust-video --example gpu_check
BIN=$PWD/target/debug/gradtrust-video
CHECK=$PWD/target/debug/examples/gpu_check

phase "every model, CUDA against CPU (all scores, TF32 off)"
# A model out of tolerance fails the check at the end, after the throughput table.
set +e
# shellcheck disable=SC2086
"$CHECK" parity "$WORK/weights" ${GPU_CHECK_MODELS:-} | tee "$WORK/parity.md"
PARITY=${PIPESTATUS[0]}
set -e

phase "throughput: r3d_18 on $GPU"
# Kinetics-like videos: 340x256, 10 s at 30 fps, H.264; the list cycles through them.
mkdir -p "$WORK/videos"
for i in $(seq 0 11); do
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=340x256:rate=30" -t 10 \
        -vf "hue=h=$((i * 30))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
        "$WORK/videos/v$i.mp4" &
done
wait
N=${GPU_CHECK_VIDEOS:-400}
for ((j = 0; j < N; j++)); do
    ln -sf "v$((j % 12)).mp4" "$WORK/videos/l$j.mp4"
    echo "videos/l$j.mp4 $((j % 400))"
done > "$WORK/list.txt"
head -n 96 "$WORK/list.txt" > "$WORK/decode.txt"
W=$((CORES > 1 ? CORES - 1 : 1))
DECODE=$("$CHECK" decode "$WORK/decode.txt" "$W" | sed -n 's/^clips_per_s=//p')

# Forward only: our stage's forward (and the fast set through the engine) against
# torchvision's, the same batch shape, random weights, no grad, synchronized timing.
cat > "$WORK/torch_forward.py" <<'EOF'
import sys, time, torch, torchvision
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
name, b, t, h, w, it = sys.argv[1], *map(int, sys.argv[2:7])
model = getattr(torchvision.models.video, name)(weights=None).eval().cuda()
x = torch.randn(b, 3, t, h, w, device="cuda")
with torch.no_grad():
    for _ in range(3):
        model(x)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(it):
        model(x)
    torch.cuda.synchronize()
print(f"clips_per_s={b * it / (time.perf_counter() - start):.1f}")
EOF
FORWARD_ROWS=""
for spec in "r3d_18 20 16 112 112 20" "swin3d_t 8 32 224 224 5" "mvit_v2_s 8 16 224 224 5"; do
    read -r m b t h w it <<<"$spec"
    [ -f "$WORK/weights/$m.safetensors" ] || "$CHECK" parity "$WORK/weights" "$m" >/dev/null
    ours=$("$CHECK" forward "$m" "$WORK/weights/$m.safetensors" "$b" "$t" "$h" "$w" "$it")
    torch=$("$GRADTRUST_PYTHON" "$WORK/torch_forward.py" "$m" "$b" "$t" "$h" "$w" "$it" | sed -n 's/^clips_per_s=//p')
    fwd=$(echo "$ours" | sed -n 's/^clips_per_s=//p')
    fast=$(echo "$ours" | sed -n 's/^fast_clips_per_s=//p')
    FORWARD_ROWS+="| forward only, $m, batch $b×3×$t×$h×$w | $fwd (fast set: $fast) | PyTorch $torch |"$'\n'
done

# End to end: `batch` over the list, the GPU's utilisation sampled meanwhile.
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -i 0 -lms 200 \
        > "$WORK/util.txt" 2>/dev/null &
    UTIL_PID=$!
fi
"$BIN" batch --list "$WORK/list.txt" --root "$WORK" --model r3d_18 \
    --weights "$WORK/weights/r3d_18.safetensors" --devices cuda:0 --out "$WORK/rows.csv" \
    > "$WORK/batch.txt" 2> "$WORK/batch.err" || { cat "$WORK/batch.err" >&2; exit 1; }
if [ -n "$UTIL_PID" ]; then
    kill "$UTIL_PID" 2>/dev/null || true
    wait "$UTIL_PID" 2>/dev/null || true
    UTIL_PID=
    UTIL=$(awk '{ s += $1; n++ } END { if (n) printf "%.0f%% (mean of %d samples)", s / n, n; else print "n/a" }' "$WORK/util.txt")
else
    UTIL="n/a (no nvidia-smi)"
fi
E2E=$(sed -n 's/^throughput: .*, \([0-9.]*\) clips\/s.*/\1/p' "$WORK/batch.txt")

{
    echo "# GPU check: $GPU, $CORES cores, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "## CUDA against CPU (TF32 off, tolerance 1e-3 relative)"
    echo
    cat "$WORK/parity.md"
    echo
    echo "## Throughput (r3d_18 unless named; clips/s)"
    echo
    echo "| measure | ours | reference |"
    echo "|---|---|---|"
    echo "| decode only, $W workers (340×256, 10 s H.264, r3d_18 preset) | $DECODE | |"
    printf '%s' "$FORWARD_ROWS"
    echo "| end to end \`batch\`, $N videos × 5 clips, default workers and batch | $E2E | |"
    echo "| GPU utilisation during \`batch\` | $UTIL | |"
    echo
    echo '```'
    cat "$WORK/batch.txt"
    echo '```'
} > "$OUT"
phase "done: $OUT"
cat "$OUT"
exit "$PARITY"
