#!/usr/bin/env python3
"""Reference preprocessing of one image file, as torchvision evaluates its ImageNet models:
the file decoded by PIL (`Image.open(path).convert("RGB")`, torchvision's `pil_loader`),
then the weights' `ImageClassification` transform (`torchvision/transforms/_presets.py`):
`F.resize(img, [resize], interpolation, antialias=True)`, which on a PIL image is PIL's own
`Image.resize`; `F.center_crop`; `pil_to_tensor`; `convert_image_dtype`; `F.normalize`.

Usage:
  image_reference.py --image FILE --resize R --crop C --interpolation bilinear|bicubic --out DIR

Files written into DIR (created if missing):
  pixels.npy   [H, W, 3] uint8   the decoded pixels (PIL)
  pil.npy      [3, C, C] float32 ImageClassification on the PIL image (the reference)
  tensor.npy   [3, C, C] float32 ImageClassification on the same pixels as a uint8 tensor
               (torchvision's tensor path: libtorch's antialiased interpolate), for comparison
Nothing is printed on stdout.
"""

import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification
from torchvision.transforms.functional import pil_to_tensor

sys.dont_write_bytecode = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True)
    ap.add_argument("--resize", type=int, required=True)
    ap.add_argument("--crop", type=int, required=True)
    ap.add_argument("--interpolation", choices=("bilinear", "bicubic"), required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)

    with open(a.image, "rb") as f:
        img = Image.open(f).convert("RGB")
    transform = ImageClassification(
        crop_size=a.crop,
        resize_size=a.resize,
        interpolation=InterpolationMode(a.interpolation),
        antialias=True,
    )
    np.save(os.path.join(a.out, "pixels.npy"), np.asarray(img, dtype=np.uint8))
    np.save(os.path.join(a.out, "pil.npy"), transform(img).numpy().astype(np.float32, copy=False))
    tensor = transform(pil_to_tensor(img))
    np.save(os.path.join(a.out, "tensor.npy"), tensor.numpy().astype(np.float32, copy=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
