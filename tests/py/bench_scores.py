#!/usr/bin/env python3
"""The reference procedure's cost, for scripts/bench_scores.sh: torchvision r3d_18, CPU,
one 16x112x112 clip, every score computed the way the paper's single-image script does it
(a separate forward per score family, dropout head passes through the whole model):
softmax/entropy/margin/log-likelihood 1 forward; GradTrust forward + backward; GradNorm
forward + backward; ODIN forward + backward + forward; MC-Dropout 10 forwards; Purview
forward + backward. 16 forwards, 4 backwards. Prints forward_secs= and reference_secs=.

  bench_scores.py [ITERATIONS]
"""
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def median_secs(iterations, f):
    f()
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def reference_procedure(model, x, n=400, T=100.0, eps=0.0014, passes=10):
    with torch.no_grad():
        z = model(x)
        p = F.softmax(z, 1)
        _ = (p.max(), (p * p.log()).sum(), p.topk(2).values, z.max())
    # GradTrust: MSE against 1/N, gradients of the classifier.
    model.zero_grad()
    z = model(x)
    F.mse_loss(z, torch.full_like(z, 1.0 / n)).backward()
    g = model.fc.weight.grad
    e = (g**2).var(1)
    _ = e.max() / e.mean()
    # GradNorm: KL(uniform || softmax).
    model.zero_grad()
    z = model(x)
    F.kl_div(torch.full_like(z, 1.0 / n), F.softmax(z, 1), reduction="mean").backward()
    _ = model.fc.weight.grad.norm()
    # ODIN.
    xi = x.clone().requires_grad_(True)
    z = model(xi)
    F.cross_entropy(z / T, z.argmax(1)).backward()
    xp = xi.detach() - eps * ((xi.grad >= 0).float() * 2 - 1)
    with torch.no_grad():
        _ = F.softmax(model(xp) / T, 1).max()
    # MC-Dropout: whole-model passes.
    with torch.no_grad():
        _ = torch.stack([F.softmax(model(x), 1) for _ in range(passes)]).mean(0)
    # Purview.
    model.zero_grad()
    z = model(x)
    F.binary_cross_entropy_with_logits(z, torch.ones_like(z)).backward()
    _ = [float((q.grad**2).sum()) for q in model.parameters()]


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.video.r3d_18(weights=None).eval()
    x = torch.randn(1, 3, 16, 112, 112)

    def forward():
        with torch.no_grad():
            model(x)

    print(f"forward_secs={median_secs(iterations, forward):.4f}")
    print(f"reference_secs={median_secs(iterations, lambda: reference_procedure(model, x)):.4f}")


if __name__ == "__main__":
    main()
