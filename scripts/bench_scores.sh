#!/usr/bin/env bash
# Score-suite cost, Rust vs the Python reference procedure, in one run (r3d_18, CPU, one
# 16x112x112 clip, 2 threads each): fast set / forward, full suite / forward, and the full
# suite against the paper's procedure (16 forwards + 4 backwards per input).
#
#   scripts/bench_scores.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
ITERATIONS=${1:-5}
cargo build --quiet --release --benches
rust=$(cargo bench --quiet --bench scores -- --bench "$ITERATIONS")
py=$("$GRADTRUST_PYTHON" tests/py/bench_scores.py "$ITERATIONS")
echo "$rust"
echo "$py" | sed 's/^/python_/'
python3 - "$rust" "$py" <<'PY'
import sys
def parse(text):
    return {k: float(v) for k, v in (l.split("=") for l in text.split())}
r, p = parse(sys.argv[1]), parse(sys.argv[2])
print(f"fast set / rust forward:      {r['fast_secs'] / r['forward_secs']:.3f}  (goal <= 1.05)")
print(f"full suite / rust forward:    {r['full_secs'] / r['forward_secs']:.2f}   (goal <= 6)")
print(f"python forward / rust forward: {p['forward_secs'] / r['forward_secs']:.2f}")
print(f"reference procedure / rust full suite: {p['reference_secs'] / r['full_secs']:.2f}x  (goal >= 4)")
PY
