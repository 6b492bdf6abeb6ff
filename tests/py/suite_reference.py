#!/usr/bin/env python3
"""Independent reference for the scores that need the whole model (spec/scores.md): ODIN,
Purview, MC-Dropout, computed per sample exactly as the paper's single-image script does
(batch of one, torchvision model in eval mode), plus the video level (the clip-averaged
model over all rows of the input, treated as the clips of one video).

  suite_reference.py --model NAME --fixture DIR --out scores.json [--temperature 100]
                     [--epsilon 0.0014] [--passes 10] [--threads 2]

DIR is a model_fixture.py (or image_model_fixture.py) output (state_zip.pth, input.npy);
NAME a torchvision video model or image classifier. Writes
  {"samples": [{"odin", "purview_initial", "purview_final", "mc_dropout",
                "mc_dropout_no_dropout"}, ...],
   "video": {"odin", "purview_initial", "purview_final"},
   "num_params_tensors": P}
"mc_dropout" is K passes with the model's dropout layers in train mode (random: compare only
statistically); "mc_dropout_no_dropout" is the value with dropout off (what a model without
dropout must give).
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def odin(model, x, T, eps):
    """ODIN on one input tensor x [k, ...] treated as one sample whose logits are the mean
    over its rows (k = 1 for a clip, k clips for the clip-averaged video model)."""
    x = x.clone().requires_grad_(True)
    z = model(x).mean(0, keepdim=True)
    pred = z.argmax(1)
    loss = F.cross_entropy(z / T, pred)
    (g,) = torch.autograd.grad(loss, x)
    s = (torch.ge(g, 0).float() - 0.5) * 2
    xp = x.detach() - eps * s
    with torch.no_grad():
        zp = model(xp).mean(0, keepdim=True)
    return float(F.softmax(zp / T, dim=1).max())


def purview(model, x):
    params = [p for _, p in model.named_parameters()]
    z = model(x).mean(0, keepdim=True)
    loss = F.binary_cross_entropy_with_logits(z, torch.ones_like(z))
    grads = torch.autograd.grad(loss, params)
    s = [float((g.double() ** 2).sum()) for g in grads]
    j = len(s) - 1
    first = s[0 : j // 2]
    last = s[(j + 1) // 2 :]
    return -float(np.mean(first)), -float(np.mean(last))


def mc_dropout_score(pbar):
    # float64: a confident mean probability rounds in float32 by more than the 4th digit.
    pbar = pbar.double()
    return float((pbar * torch.log(pbar + 1e-4)).sum())


def mc_dropout(model, x, passes, dropout_on):
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and dropout_on:
            m.train()
    with torch.no_grad():
        ps = [F.softmax(model(x).double(), dim=1) for _ in range(passes)]
    model.eval()
    return mc_dropout_score(torch.stack(ps).mean(0)[0])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--temperature", type=float, default=100.0)
    ap.add_argument("--epsilon", type=float, default=0.0014)
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    video = hasattr(torchvision.models.video, a.model)
    family = torchvision.models.video if video else torchvision.models
    model = getattr(family, a.model)(weights=None)
    sd = torch.load(os.path.join(a.fixture, "state_zip.pth"), weights_only=True)
    model.load_state_dict(sd)
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(a.fixture, "input.npy")))
    if not video:
        # Image models: the fixture's single-frame clips [B, 3, 1, H, W] as images.
        x = x[:, :, 0]

    samples = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        initial, final = purview(model, xi)
        samples.append(
            {
                "odin": odin(model, xi, a.temperature, a.epsilon),
                "purview_initial": initial,
                "purview_final": final,
                "mc_dropout": mc_dropout(model, xi, a.passes, True),
                "mc_dropout_no_dropout": mc_dropout(model, xi, 1, False),
            }
        )
    initial, final = purview(model, x)
    video = {
        "odin": odin(model, x, a.temperature, a.epsilon),
        "purview_initial": initial,
        "purview_final": final,
    }
    out = {
        "samples": samples,
        "video": video,
        "num_params_tensors": len(list(model.parameters())),
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    sys.exit(main())
