#!/usr/bin/env bash
# Regenerates the README's sample of `score` output and docs/eval-sample.png from the built
# binary: `score --scores all` on the committed sample clip, and `eval` on a small `batch`
# run over generated clips. With torchvision's r3d_18 weight file in models/ it uses it;
# otherwise the seeded weights of the test suite's parity fixture (tests/py/model_fixture.py),
# and the README says so. Run from anywhere; needs scripts/setup.sh's environment.
#
#   scripts/readme_assets.sh            # rewrites README.md's sample block and the PNG
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

cargo build --locked -q
bin=target/debug/gradtrust-video
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

weights=models/r3d_18-b3b3357e.pth
if [ -f "$weights" ]; then
  made_with="torchvision's published r3d_18 weights ($weights)"
else
  # The test suite's seeded r3d_18 (non-trivial random weights, seed 0): not trained, so the
  # predictions mean nothing, but every number is what the tool prints.
  "$GRADTRUST_PYTHON" tests/py/model_fixture.py --model r3d_18 --out "$work/fixture" \
    --seed 0 --batch 1 --frames 8 --size 112 >/dev/null
  weights=$work/fixture/r3d_18-seeded.pth
  cp "$work/fixture/state_zip.pth" "$weights"
  made_with="seeded, untrained r3d_18 weights (the test suite's fixture, seed 0; torchvision's file was not in models/), so the classes mean nothing"
fi

# 1. `score` on the sample clip: the header, the video and the first clip go in the README.
clip=clips/testsrc2-340x256-30fps.mp4
"$bin" score "$clip" --weights "$weights" --device cpu --scores all 2>/dev/null \
  | sed "s|$work/fixture/||" >"$work/score.txt"
awk '/^clip 1 /{exit} {print}' "$work/score.txt" >"$work/sample.txt"
echo "…  (clips 1 to 4 alike)" >>"$work/sample.txt"

# 2. A small labelled batch run and its evaluation: 16 generated clips of 1.2 s, labelled
# with the two classes the seeded model predicts most, so some predictions are right.
mkdir -p "$work/clips"
sources=(testsrc2 testsrc smptebars rgbtestsrc mandelbrot cellauto life yuvtestsrc)
printf 'path,label\n' >"$work/list.csv"
for i in $(seq 0 15); do
  src=${sources[$((i % ${#sources[@]}))]}
  ffmpeg -v error -f lavfi -i "$src=size=160x120:rate=25" -t 1.2 -vf "hue=h=$((i * 37))" \
    -c:v libx264 -pix_fmt yuv420p "$work/clips/v$i.mp4"
  if [ $((i % 2)) -eq 0 ]; then label=295; else label=108; fi
  printf 'v%s.mp4,%s\n' "$i" "$label" >>"$work/list.csv"
done
"$bin" batch --list "$work/list.csv" --root "$work/clips" --weights "$weights" --devices cpu \
  --clips-per-video 2 --out "$work/run.csv" >/dev/null 2>&1 || [ $? -eq 3 ]
"$bin" eval "$work/run.csv" --out "$work/report" --bootstrap 200 \
  --scores gradtrust,softmax,entropy,doctor >/dev/null
# The risk-coverage plot, as a 64-colour PNG (under 100 kB).
mkdir -p docs
"$GRADTRUST_PYTHON" - "$work/report" docs/eval-sample.png <<'EOF'
import sys, pathlib
from PIL import Image
src = next(pathlib.Path(sys.argv[1]).glob("*_risk_coverage.png"))
img = Image.open(src).convert("RGB")
img.thumbnail((900, 900))
img.quantize(colors=64).save(sys.argv[2], optimize=True)
EOF

# 3. The README's block between the markers.
"$GRADTRUST_PYTHON" - README.md "$work/sample.txt" "$made_with" <<'EOF'
import sys
readme, sample, made_with = sys.argv[1], open(sys.argv[2]).read().rstrip("\n"), sys.argv[3]
begin, end = "<!-- score-sample:begin -->", "<!-- score-sample:end -->"
text = open(readme).read()
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
block = (f"{begin}\n`gradtrust-video score clips/testsrc2-340x256-30fps.mp4`, made by "
         f"`scripts/readme_assets.sh` with {made_with}:\n\n```text\n{sample}\n```\n{end}")
open(readme, "w").write(head + block + tail)
EOF
echo "readme_assets: README.md sample and docs/eval-sample.png ($(stat -c %s docs/eval-sample.png) bytes) written"
