#!/usr/bin/env python3
"""Weight files that lie, made from a good r3d_18 state dict (model_fixture.py's state_zip.pth):
each is a readable checkpoint with every key and shape right, so only the checks for what the
values are can refuse it.

Usage:
  weight_variants.py --state STATE_ZIP_PTH --out DIR

Files written into DIR (created if missing):
  nan_bias.pth   legacy format (_use_new_zipfile_serialization=False), fc.bias[7] = NaN
  int64.pth      zip format, fc.weight and layer1.0.conv1.0.weight as int64 (round(w * 1000)),
                 every other tensor as it was
  huge_fc.pth    zip format, fc.weight filled with 1e38: finite, but the logits
                 1e38 * sum(h) + b overflow to +inf for any clip whose features h (non-negative,
                 after ReLU and average pooling) sum to more than 3.4
Nothing is printed on stdout.
"""

import argparse
import collections
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    sd = torch.load(a.state, map_location="cpu", weights_only=True)

    def variant(changes):
        out = collections.OrderedDict((k, v.clone()) for k, v in sd.items())
        out._metadata = getattr(sd, "_metadata", collections.OrderedDict())
        for k, f in changes.items():
            out[k] = f(out[k])
        return out

    def nan_at_7(b):
        b[7] = float("nan")
        return b

    torch.save(
        variant({"fc.bias": nan_at_7}),
        os.path.join(a.out, "nan_bias.pth"),
        _use_new_zipfile_serialization=False,
    )
    as_int = lambda w: (w * 1000).round().to(torch.int64)  # noqa: E731
    torch.save(
        variant({"fc.weight": as_int, "layer1.0.conv1.0.weight": as_int}),
        os.path.join(a.out, "int64.pth"),
    )
    torch.save(
        variant({"fc.weight": lambda w: torch.full_like(w, 1e38)}),
        os.path.join(a.out, "huge_fc.pth"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
