#!/usr/bin/env python3
"""Fixtures for users' own models: fine-tuned torchvision architectures saved the ways
training scripts save them, TorchScript archives, and a network that is not torchvision's,
each with an independent reference for every score (spec/scores.md).

Usage:
  own_model_fixture.py finetuned --model NAME --classes N --out DIR
                       [--batch 2] [--frames 4] [--size 32] [--seed 0]
  own_model_fixture.py traced --out DIR [--batch 2] [--frames 4] [--size 32] [--seed 0]
  own_model_fixture.py custom --out DIR [--batch 2] [--frames 4] [--size 32] [--seed 0]

finetuned: torchvision NAME built with num_classes=N and seeded as model_fixture.py seeds
  it. Weight files:
    state_bare.pth       torch.save(model.state_dict())
    state_ckpt.pth       {'epoch', 'state_dict', 'optimizer' (SGD with momentum after one
                         step, so it holds tensors), 'args' (an argparse.Namespace)}
    state_ddp.pth        the state dict with DataParallel/DDP's 'module.' key prefix
    state_lightning.pth  {'epoch', 'global_step', 'state_dict': {'model.<key>': …}}
  Label files for N classes: labels.txt (one name per line), classInd.txt (UCF101's
  1-based 'index name'), labels.json (a JSON array); the names are 'action <i>'.
traced: a seeded mc3_18 (400 classes): state_zip.pth, traced.pt (torch.jit.trace of the
  model: logits only) and pair.pt (a traced wrapper returning (logits, features)).
custom: a small 3-D CNN defined here (7 classes, dropout before its head), scripted with
  torch.jit.script: scripted.pt.

Every mode writes input.npy [B, 3, T, H, W] and reference.json:
  {"samples": [{score: value}, …], "video": {score: value}, "logits": [[…]], "features": [[…]]}
per sample alone in a batch of one, the video being the clip-averaged model over all B rows.
GradTrust and GradNorm come from real backward passes through the whole model to the
classifier weight's gradient; ODIN and Purview as suite_reference.py computes them; MC-Dropout
with the dropout layers on is random, so it is given only for models without dropout (the
deterministic value) and is null otherwise. Nothing is printed on stdout.
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

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_fixture as mf  # noqa: E402
import scores_reference as sr  # noqa: E402
import suite_reference as su  # noqa: E402

T_ODIN, EPS_ODIN = 100.0, 0.0014


class Tiny(nn.Module):
    """Not a torchvision architecture: conv → BN → ReLU → pool → tanh(linear) → dropout → head."""

    def __init__(self, n: int = 7):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm3d(8)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Linear(8, 16)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(16, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)
        return self.head(self.drop(torch.tanh(self.fc1(h))))


class Pair(nn.Module):
    """A video ResNet that returns (logits, features)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        m = self.m
        h = m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(m.stem(x)))))).flatten(1)
        return m.fc(h), h


def reference(model, head, x, image, has_dropout):
    """Every score per sample (batch of one) and for the clip-averaged video; `head` is the
    classifier module (its input is h, its weight W)."""
    model.eval()
    captured = {}
    hook = head.register_forward_hook(lambda _m, i, _o: captured.__setitem__("h", i[0]))
    W = head.weight
    n = W.shape[0]
    run = (lambda t: model(t[:, :, 0])) if image else model

    def classifier_grad(z, loss_fn):
        (g,) = torch.autograd.grad(loss_fn(z), W, retain_graph=True)
        return g.detach().reshape(n, -1)

    def scores_of(z, h, xs):
        entry = sr.fast_scores(z.detach(), h.detach(), W.detach(), None if head.bias is None else head.bias.detach())
        entry["gradtrust"] = sr.gradtrust_from_grad(classifier_grad(z, sr.gradtrust_loss))
        g = classifier_grad(z, sr.grad_norm_loss)
        entry["grad_norm"] = float(-torch.linalg.vector_norm(torch.linalg.vector_norm(g, dim=1)))
        p = F.softmax(z.detach().double(), dim=0)
        entry["mc_dropout"] = None if has_dropout else su.mc_dropout_score(p)
        image_model = ImageView(model) if image else model
        entry["odin"] = su.odin(image_model, xs, T_ODIN, EPS_ODIN)
        entry["purview_initial"], entry["purview_final"] = su.purview(image_model, xs)
        return entry

    samples, zs, hs = [], [], []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        z = run(xi)[0]
        h = captured["h"][0]
        samples.append(scores_of(z, h, xi))
        zs.append(z)
        hs.append(h)
    z_video = torch.stack(zs).mean(0)
    h_video = torch.stack(hs).mean(0)
    video = scores_of(z_video, h_video, x)
    hook.remove()
    return {
        "samples": samples,
        "video": video,
        "logits": [z.detach().tolist() for z in zs],
        "features": [h.detach().tolist() for h in hs],
    }


class ImageView(nn.Module):
    """An image classifier taking the single-frame clips [B, 3, 1, H, W] the Rust side feeds."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x[:, :, 0])


def seeded(builder, n, seed):
    torch.manual_seed(seed)
    model = builder(weights=None, num_classes=n)
    _, _, head = mf.find_classifier(model, n)
    mf.randomize(model, head)
    model.eval()
    return model, head


def finetuned(a):
    image = not hasattr(torchvision.models.video, a.model)
    family = torchvision.models if image else torchvision.models.video
    model, head = seeded(getattr(family, a.model), a.classes, a.seed)
    sd = model.state_dict()
    torch.save(sd, os.path.join(a.out, "state_bare.pth"))
    # A training script's checkpoint: an optimizer that has taken a step holds tensors too.
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.save(
        {
            "epoch": 7,
            "state_dict": sd,
            "optimizer": opt.state_dict(),
            "args": argparse.Namespace(lr=0.01, epochs=30, model=a.model),
        },
        os.path.join(a.out, "state_ckpt.pth"),
    )
    torch.save({f"module.{k}": v for k, v in sd.items()}, os.path.join(a.out, "state_ddp.pth"))
    torch.save(
        {"epoch": 3, "global_step": 300, "state_dict": {f"model.{k}": v for k, v in sd.items()}},
        os.path.join(a.out, "state_lightning.pth"),
    )
    names = [f"action {i}" for i in range(a.classes)]
    with open(os.path.join(a.out, "labels.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(a.out, "classInd.txt"), "w") as f:
        f.write("".join(f"{i + 1} {n}\r\n" for i, n in enumerate(names)))
    with open(os.path.join(a.out, "labels.json"), "w") as f:
        json.dump(names, f)
    frames = 1 if image else a.frames
    x = torch.randn(a.batch, 3, frames, a.size, a.size)
    return model, head, x, image, False


def traced(a):
    model, head = seeded(torchvision.models.video.mc3_18, 400, a.seed)
    torch.save(model.state_dict(), os.path.join(a.out, "state_zip.pth"))
    x = torch.randn(a.batch, 3, a.frames, a.size, a.size)
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, x[:1]), os.path.join(a.out, "traced.pt"))
        torch.jit.save(torch.jit.trace(Pair(model), x[:1]), os.path.join(a.out, "pair.pt"))
    return model, head, x, False, False


def custom(a):
    torch.manual_seed(a.seed)
    model = Tiny(7)
    with torch.no_grad():
        model.bn.running_mean.normal_(0.0, 0.1)
        model.bn.running_var.uniform_(0.5, 1.5)
        model.head.weight.normal_(0.0, 0.5)
    model.eval()
    torch.jit.save(torch.jit.script(model), os.path.join(a.out, "scripted.pt"))
    x = torch.randn(a.batch, 3, a.frames, a.size, a.size)
    return model, model.head, x, False, True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("finetuned", "traced", "custom"))
    ap.add_argument("--model")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--size", type=int, default=32)
    a = ap.parse_args(argv)
    if a.mode == "finetuned" and (a.model is None or a.classes is None):
        ap.error("finetuned needs --model and --classes")
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    model, head, x, image, has_dropout = {"finetuned": finetuned, "traced": traced, "custom": custom}[a.mode](a)
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32, copy=False))
    sr.write_json(reference(model, head, x, image, has_dropout), os.path.join(a.out, "reference.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
