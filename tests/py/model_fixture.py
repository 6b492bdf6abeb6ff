#!/usr/bin/env python3
"""Parity fixture for one torchvision video model, or one of the CNN ImageNet models run as
a single-frame clip: seeded non-trivial weights, saved as torchvision publishes them, an
input, the reference forward and the reference scores.

Usage:
  model_fixture.py --model NAME --out DIR [--seed 0] [--batch 2] [--frames 8] [--size 112]
NAME: r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v1_b, mvit_v2_s, swin3d_t, swin3d_s, swin3d_b;
or an image model (IMAGE_MODELS: alexnet, vgg11_bn, resnet18, resnet50, wide_resnet50_2,
resnext50_32x4d, resnext101_64x4d, mobilenet_v3_small, efficientnet_v2_s), which needs
--frames 1: torchvision.models.NAME with N = 1000 classes, run on x[:, :, 0] (4-D).
Input sizes come from the flags (S3D needs frames >= 13 and size >= 209; MViT exactly 16 x 224).

Weights (all draws from the global generator seeded by --seed, in this order): the builder's
own init (weights=None); then, walking named_modules() in order, every BatchNorm gets
weight ~ U(0.5, 1.5), bias ~ N(0, 0.1), running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5),
num_batches_tracked ~ randint[1, 1e6); every LayerNorm/GroupNorm weight ~ U(0.5, 1.5), bias ~
N(0, 0.1); every other Linear/Conv bias that the builder left all zero ~ N(0, 0.02) (none of
these two exist in the ResNets); then the classifier (the first parameter with N = 400 rows that
is 2-D or a 1x1x1 conv) weight ~ N(0, 0.05), bias ~ N(0, 0.1); then the input
x = randn(batch, 3, frames, size, size).

Files written into DIR (created if missing):
  state_zip.pth            torch.save(model.state_dict())  (OrderedDict with _metadata); the
                           other formats are made from it by state_format.py when a test
                           asks for them (weights are the bulk of a fixture)
  input.npy                [B, 3, T, H, W] float32
  logits.npy               [B, N] float32   (batched no_grad forward)
  features.npy             [B, D] float32   (classifier input; S3D: its position mean)
  classifier_weight.npy    [N, D] float32   (S3D: the conv weight reshaped to 2-D)
  classifier_bias.npy      [N] float32      (absent when the classifier has no bias)
  meta.json    {"model", "seed", "input_shape", "param_names", "param_shapes", "num_params",
                "state_keys", "num_classes", "feature_dim", "classifier_param", "has_bias",
                "torch_version", "torchvision_version"}
  scores.json  scores_reference's CLI schema (samples / video / video_top5_mean_logits /
               video_top5_sum_softmax), each sample computed alone in a batch of one (its own
               forward, not the batched logits.npy rows) and carrying also
               "gradtrust_autograd_full" (GradTrust from a real backward through the whole model
               to the classifier weight's .grad).
Nothing is printed on stdout.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scores_reference as sr  # noqa: E402

MODELS = (
    "r3d_18",
    "mc3_18",
    "r2plus1d_18",
    "s3d",
    "mvit_v1_b",
    "mvit_v2_s",
    "swin3d_t",
    "swin3d_s",
    "swin3d_b",
)
IMAGE_MODELS = (
    "alexnet",
    "vgg11_bn",
    "resnet18",
    "resnet50",
    "wide_resnet50_2",
    "resnext50_32x4d",
    "resnext101_64x4d",
    "mobilenet_v3_small",
    "efficientnet_v2_s",
)
NUM_CLASSES = 400
NUM_IMAGE_CLASSES = 1000


def find_classifier(model, n):
    """(param name, module name, module) of the first parameter with n rows that is 2-D or a
    1x1x1 conv weight (the reference's "first 2-D parameter with N rows"; S3D's conv head)."""
    for name, p in model.named_parameters():
        if p.dim() >= 2 and p.shape[0] == n and all(s == 1 for s in p.shape[2:]):
            mod_name = name.rsplit(".", 1)[0]
            return name, mod_name, model.get_submodule(mod_name)
    raise RuntimeError(f"no classifier parameter with {n} rows")


@torch.no_grad()
def randomize(model, classifier_module):
    for _, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            if m.running_mean is not None:
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1_000_000, ())))
        elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
            if m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
            if m.bias is not None:
                m.bias.normal_(0.0, 0.1)
        elif isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and m is not classifier_module:
            if m.bias is not None and not bool(m.bias.any()):
                m.bias.normal_(0.0, 0.02)
    classifier_module.weight.normal_(0.0, 0.05)
    if classifier_module.bias is not None:
        classifier_module.bias.normal_(0.0, 0.1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=MODELS + IMAGE_MODELS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)

    image = a.model in IMAGE_MODELS
    if image:
        if a.frames != 1:
            ap.error("image models take --frames 1 (single-frame clips)")
        model = getattr(torchvision.models, a.model)(weights=None)
    else:
        model = getattr(torchvision.models.video, a.model)(weights=None)
    cls_param, cls_name, cls_mod = find_classifier(model, NUM_IMAGE_CLASSES if image else NUM_CLASSES)
    randomize(model, cls_mod)
    model.eval()

    sd = model.state_dict()
    torch.save(sd, os.path.join(a.out, "state_zip.pth"))

    x = torch.randn(a.batch, 3, a.frames, a.size, a.size)
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32, copy=False))
    clip_shape = list(x.shape)
    if image:
        x = x[:, :, 0]  # [B, 3, H, W]: what the Rust side gets as [B, 3, 1, H, W]

    captured = {}

    def hook(_mod, inputs, _output):
        h = inputs[0]
        if h.dim() > 2:  # S3D: 1x1x1 conv over positions, then mean -> use the position mean
            h = h.mean(dim=tuple(range(2, h.dim())))
        captured["h"] = h.detach().clone()

    handle = cls_mod.register_forward_hook(hook)

    with torch.no_grad():
        logits = model(x)
    feats = captured.pop("h")
    N = logits.shape[1]
    W2 = cls_mod.weight.detach().reshape(N, -1).clone()
    bias = None if cls_mod.bias is None else cls_mod.bias.detach().clone()
    D = W2.shape[1]
    assert feats.shape == (a.batch, D), (feats.shape, D)

    np.save(os.path.join(a.out, "logits.npy"), logits.numpy().astype(np.float32, copy=False))
    np.save(os.path.join(a.out, "features.npy"), feats.numpy().astype(np.float32, copy=False))
    np.save(os.path.join(a.out, "classifier_weight.npy"), W2.numpy().astype(np.float32, copy=False))
    if bias is not None:
        np.save(os.path.join(a.out, "classifier_bias.npy"), bias.numpy().astype(np.float32, copy=False))

    # Per sample, alone in a batch of one, all parameters requiring grad (as the reference does):
    # one forward gives z and h; one real backward gives the classifier weight's gradient.
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
        "input_shape": clip_shape,
        "param_names": [n for n, _ in params],
        "param_shapes": [list(p.shape) for _, p in params],
        "num_params": sum(p.numel() for _, p in params),
        "state_keys": list(sd.keys()),
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
