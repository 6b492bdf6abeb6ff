#!/usr/bin/env python3
"""Parity fixture for one torchvision ImageNet transformer-family classifier (convnext_tiny,
swin_v2_t, vit_b_16, swin_b, maxvit_t), run as the Rust side runs it: a single-frame clip.

Usage:
  image_model_fixture.py --model NAME --out DIR [--seed 0] [--batch 1] [--size 224]

Same outputs and weight randomization as model_fixture.py (its `randomize` and
`find_classifier` are reused: BatchNorm/LayerNorm affine and statistics, all-zero Linear/Conv
biases, then the classifier with N = 1000 rows), followed by the parameters these
architectures add, drawn in named_parameters() order so they matter in the parity test:
  ConvNeXt  layer_scale ~ U(0.1, 0.6)            (builder's 1e-6 would hide every block)
  ViT       class_token ~ N(0, 0.5), pos_embedding ~ N(0, 0.1), in_proj_bias ~ N(0, 0.02)
  Swin v1   relative_position_bias_table ~ N(0, 0.5)
  Swin v2   logit_scale ~ U(1.5, 5.5) (some heads above the log(100) clamp),
            cpb_mlp.0.weight ~ N(0, 1), cpb_mlp.2.weight ~ N(0, 0.3)
  MaxViT    relative_position_bias_table ~ N(0, 0.5)
then x = randn(batch, 3, 1, size, size) (the model sees x[:, :, 0]).

Files written into DIR (created if missing):
  state_zip.pth            torch.save(model.state_dict())
  input.npy                [B, 3, 1, H, W] float32
  logits.npy               [B, 1000] float32
  features.npy             [B, D] float32 (input of the final Linear)
  classifier_weight.npy    [1000, D]; classifier_bias.npy [1000] when the classifier has one
  meta.json                as model_fixture.py
  scores.json              as model_fixture.py (samples carry "gradtrust_autograd_full")
Nothing is printed on stdout.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_fixture as mf  # noqa: E402
import scores_reference as sr  # noqa: E402

MODELS = ("convnext_tiny", "swin_v2_t", "vit_b_16", "swin_b", "maxvit_t")
NUM_CLASSES = 1000


@torch.no_grad()
def randomize_extra(model):
    assert math.log(100.0) < 5.5
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "layer_scale":
            p.uniform_(0.1, 0.6)
        elif leaf == "class_token":
            p.normal_(0.0, 0.5)
        elif leaf == "pos_embedding":
            p.normal_(0.0, 0.1)
        elif leaf == "in_proj_bias":
            p.normal_(0.0, 0.02)
        elif leaf == "relative_position_bias_table":
            p.normal_(0.0, 0.5)
        elif leaf == "logit_scale":
            p.uniform_(1.5, 5.5)
        elif name.endswith("cpb_mlp.0.weight"):
            p.normal_(0.0, 1.0)
        elif name.endswith("cpb_mlp.2.weight"):
            p.normal_(0.0, 0.3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=MODELS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)

    model = getattr(torchvision.models, a.model)(weights=None)
    cls_param, _, cls_mod = mf.find_classifier(model, NUM_CLASSES)
    mf.randomize(model, cls_mod)
    randomize_extra(model)
    model.eval()

    sd = model.state_dict()
    torch.save(sd, os.path.join(a.out, "state_zip.pth"))

    clip = torch.randn(a.batch, 3, 1, a.size, a.size)
    np.save(os.path.join(a.out, "input.npy"), clip.numpy().astype(np.float32, copy=False))
    x = clip[:, :, 0]

    captured = {}

    def hook(_mod, inputs, _output):
        captured["h"] = inputs[0].detach().clone()

    handle = cls_mod.register_forward_hook(hook)
    with torch.no_grad():
        logits = model(x)
    feats = captured.pop("h")
    N = logits.shape[1]
    W2 = cls_mod.weight.detach().clone()
    bias = None if cls_mod.bias is None else cls_mod.bias.detach().clone()
    D = W2.shape[1]
    assert feats.shape == (a.batch, D), (feats.shape, D)

    np.save(os.path.join(a.out, "logits.npy"), logits.numpy().astype(np.float32, copy=False))
    np.save(os.path.join(a.out, "features.npy"), feats.numpy().astype(np.float32, copy=False))
    np.save(os.path.join(a.out, "classifier_weight.npy"), W2.numpy().astype(np.float32, copy=False))
    if bias is not None:
        np.save(os.path.join(a.out, "classifier_bias.npy"), bias.numpy().astype(np.float32, copy=False))

    # Per sample, alone in a batch of one: a real backward through the whole model.
    weight_param = dict(model.named_parameters())[cls_param]
    samples, zs, hs = [], [], []
    for i in range(a.batch):
        model.zero_grad(set_to_none=True)
        z = model(x[i : i + 1])
        h = captured.pop("h")[0]
        sr.gradtrust_loss(z[0]).backward()
        G = weight_param.grad.detach().reshape(N, -1)
        z = z.detach()[0]
        entry = sr.sample_entry(z, h, W2, bias)
        entry["gradtrust_autograd_full"] = None if sr.h_degenerate(h) else sr.gradtrust_from_grad(G)
        samples.append(entry)
        zs.append(z)
        hs.append(h)
    model.zero_grad(set_to_none=True)
    handle.remove()

    scores = {"samples": samples}
    scores.update(sr.video_block(torch.stack(zs), torch.stack(hs), W2, bias))
    sr.write_json(scores, os.path.join(a.out, "scores.json"))

    params = list(model.named_parameters())
    meta = {
        "model": a.model,
        "seed": a.seed,
        "input_shape": list(clip.shape),
        "param_names": [n for n, _ in params],
        "param_shapes": [list(p.shape) for _, p in params],
        "num_params": sum(p.numel() for _, p in params),
        "state_keys": list(sd.keys()),
        "buffer_keys": [n for n, _ in model.named_buffers()],
        "num_classes": N,
        "feature_dim": D,
        "classifier_param": cls_param,
        "has_bias": bias is not None,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    sr.write_json(meta, os.path.join(a.out, "meta.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
