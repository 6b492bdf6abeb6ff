#!/usr/bin/env python3
"""Forward time of a torchvision model on one random input of the given shape, CPU, 2
threads (random init; time does not depend on the values). For scripts/bench_models.sh.

  bench_models.py MODEL T H W [ITERATIONS]
"""
import sys
import time

import torch
import torchvision


def main():
    name, t, h, w = sys.argv[1], *map(int, sys.argv[2:5])
    iterations = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if hasattr(torchvision.models.video, name):
        model = getattr(torchvision.models.video, name)(weights=None).eval()
        x = torch.randn(1, 3, t, h, w)
    else:
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    times.sort()
    print(f"forward_secs={times[len(times) // 2]:.4f}")


if __name__ == "__main__":
    main()
