#!/usr/bin/env python3
"""One more of the formats a state_dict is published in, made from model_fixture.py's
state_zip.pth, so that a fixture holds only the formats its tests load.

Usage:
  state_format.py --zip DIR/state_zip.pth --format FORMAT --out FILE
FORMAT:
  legacy          torch.save(sd, _use_new_zipfile_serialization=False)  (not a zip)
  legacy_no_nbt   the same without any num_batches_tracked key (still an OrderedDict with
                  _metadata, as a state_dict saved by an older torch)
  safetensors     the safetensors format (contiguous clones, metadata {"format": "pt"})

torch.load gives back the OrderedDict with its _metadata, so each file is what saving the
model's own state_dict in that format writes. Nothing is printed on stdout.
"""

import argparse
import collections
import sys
import zipfile

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zip", required=True)
    ap.add_argument("--format", required=True, choices=("legacy", "legacy_no_nbt", "safetensors"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    sd = torch.load(a.zip, weights_only=True)
    assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata"), a.zip
    if a.format == "legacy":
        torch.save(sd, a.out, _use_new_zipfile_serialization=False)
    elif a.format == "legacy_no_nbt":
        no_nbt = collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
        no_nbt._metadata = collections.OrderedDict((k, dict(v)) for k, v in sd._metadata.items())
        torch.save(no_nbt, a.out, _use_new_zipfile_serialization=False)
    else:
        # safetensors.numpy writes the same file format as safetensors.torch.save_file (dtypes
        # here are float32 and int64 only); safetensors.torch needs the `packaging` module,
        # which the project's environment does not install.
        import safetensors.numpy

        safetensors.numpy.save_file(
            {k: v.detach().contiguous().clone().numpy() for k, v in sd.items()},
            a.out,
            metadata={"format": "pt"},
        )
    if a.format != "safetensors":
        assert not zipfile.is_zipfile(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
