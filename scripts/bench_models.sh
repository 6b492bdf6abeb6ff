#!/usr/bin/env bash
# Forward time per model, Rust vs torchvision, same CPU (2 threads each), same input shape
# (one clip at the model's preset size), in one run; peak memory (max RSS) of each process.
#
#   [ITERATIONS=3] scripts/bench_models.sh [MODEL ...]   # default: every registered model
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --quiet --release --benches --bins
bench=$(ls -t target/release/deps/models-* | grep -v '\.d$' | head -n 1)
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  mapfile -t models < <(target/release/gradtrust-video models | grep -E '^[a-z]' )
fi
printf '%-20s %-16s %10s %10s %7s %10s %10s\n' model input rust_s torch_s ratio rust_MiB torch_MiB
for m in "${models[@]}"; do
  r=$( { /usr/bin/time -f "rss=%M" "$bench" --bench "$m" "${ITERATIONS:-3}"; } 2>&1 )
  shape=$(echo "$r" | sed -n 's/^input=1x3x//p')
  IFS=x read -r t h w <<<"$shape"
  p=$( { /usr/bin/time -f "rss=%M" "$GRADTRUST_PYTHON" tests/py/bench_models.py "$m" "$t" "$h" "$w" "${ITERATIONS:-3}"; } 2>&1 )
  rs=$(echo "$r" | sed -n 's/^forward_secs=//p'); ps=$(echo "$p" | sed -n 's/^forward_secs=//p')
  rm_=$(echo "$r" | sed -n 's/^rss=//p'); pm=$(echo "$p" | sed -n 's/^rss=//p')
  python3 -c "import sys; m,s,rs,ps,rm,pm=sys.argv[1:]; print(f'{m:<20} {s:<16} {float(rs):10.3f} {float(ps):10.3f} {float(rs)/float(ps):7.2f} {int(rm)/1024:10.0f} {int(pm)/1024:10.0f}')" "$m" "$shape" "$rs" "$ps" "$rm_" "$pm"
done
