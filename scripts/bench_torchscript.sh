#!/usr/bin/env bash
# Cost of the TorchScript gradient path against the native closed form, same run: r3d_18
# with seeded weights, `score --scores fast` on a video exactly one r3d clip long (16 frames
# at 15 fps, so the protocol's clips are all the same window), the native model from its
# state dict vs the same weights traced (logits only: GradTrust and GradNorm from real
# gradients). Reports the median wall time of ITERATIONS runs of each and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
ITERATIONS=${ITERATIONS:-5}
# The dev profile builds dependencies at opt-level 3 (Cargo.toml); libtorch does the work.
cargo build --quiet
bin=target/debug/gradtrust-video
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=171x128:rate=15:duration=1.07 \
  -pix_fmt yuv420p "$work/clip.mp4"
"$GRADTRUST_PYTHON" - "$work" <<'PY'
import sys, torch, torchvision
out = sys.argv[1]
torch.manual_seed(0)
m = torchvision.models.video.r3d_18(weights=None).eval()
torch.save(m.state_dict(), f"{out}/r3d_18.pth")
with torch.no_grad():
    torch.jit.save(torch.jit.trace(m, torch.randn(1, 3, 16, 112, 112)), f"{out}/r3d_18.pt")
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() {
  for _ in $(seq "$ITERATIONS"); do
    s=$(date +%s.%N); "$bin" score "$work/clip.mp4" --scores fast --device cpu "$@" >/dev/null
    e=$(date +%s.%N); echo "$e - $s" | bc
  done | median
}
native=$(time_of --model r3d_18 --weights "$work/r3d_18.pth")
scripted=$(time_of --model torchscript --preset r3d_18 --weights "$work/r3d_18.pt")
echo "native closed form:      ${native} s (median of $ITERATIONS, whole score command)"
echo "torchscript gradients:   ${scripted} s"
echo "ratio scripted/native:   $(echo "scale=3; $scripted / $native" | bc)"
