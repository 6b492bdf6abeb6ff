"""Reference for the decoding stage (tests/decoding.rs): torchcodec decodes every frame of a
clip on the CPU, torchvision's own Kinetics protocol picks the clips, and torchvision's
VideoClassification preset transforms them.

    decode_reference.py CLIP --preset {r3d,s3d,mvit,swin3d} --out DIR

Writes to DIR:
  reference.json  frames_decoded, fps, width, height, rotation, pts_secs, and per clip its
                  window index, decoded-frame indices and padded flag
  crops.npy       uint8 [clips, T, 3, h, w]: resize + center crop, before normalization
  clips.npy       float32 [clips, 3, T, h, w]: VideoClassification's output

Written from shared/spec/models.md, independently of the Rust code: the presets are the spec's
table; the sampling is torchvision's VideoClips.compute_clips_for_video (resampling + every
window of clip_len frames) and UniformClipSampler's floor(linspace(...)); the frame rate is
the stream's avg_frame_rate as ffprobe reports it (what torchvision gets from PyAV's
average_rate), falling back to r_frame_rate.
"""

import argparse
import json
import math
import os
import subprocess
from fractions import Fraction

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchcodec.decoders import VideoDecoder
from torchvision.datasets.video_utils import VideoClips
from torchvision.transforms._presets import VideoClassification

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# name: (resize_size, crop_size, mean, std, clip_len, frame_rate, clips_per_video)
PRESETS = {
    "r3d": ((128, 171), (112, 112), KINETICS_MEAN, KINETICS_STD, 16, 15.0, 5),
    "s3d": ((256, 256), (224, 224), KINETICS_MEAN, KINETICS_STD, 128, 15.0, 1),
    "mvit": ((256,), (224, 224), (0.45, 0.45, 0.45), (0.225, 0.225, 0.225), 16, 7.5, 5),
    "swin3d": ((256,), (224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 32, 15.0, 12),
}


def stream_fps(path):
    """avg_frame_rate of the first video stream, else r_frame_rate (ffprobe)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=avg_frame_rate,r_frame_rate", "-of", "json", path],
        check=True, capture_output=True, text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = stream.get(key, "0/0").partition("/")
        if int(num) > 0 and int(den or 1) > 0:
            return float(Fraction(int(num), int(den or 1)))
    raise SystemExit(f"{path}: no frame rate")


def sample(num_frames, fps, clip_len, frame_rate, clips_per_video):
    """[(window index, [frame indices], padded)] by torchvision's protocol; one window
    padded with the last resampled frame when the video is too short."""
    video_pts = torch.arange(num_frames)
    windows, _ = VideoClips.compute_clips_for_video(video_pts, clip_len, 1, fps, frame_rate)
    if len(windows) == 0:
        idx = VideoClips._resample_video_idx(int(math.floor(num_frames * frame_rate / fps)), fps, frame_rate)
        resampled = video_pts[idx].tolist() or [0]
        frames = resampled + [resampled[-1]] * (clip_len - len(resampled))
        return [(0, frames, True)] * clips_per_video
    picks = torch.linspace(0, len(windows) - 1, steps=clips_per_video).floor().to(torch.int64)
    return [(int(p), windows[p].tolist(), False) for p in picks]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    resize, crop, mean, std, clip_len, frame_rate, clips_per_video = PRESETS[args.preset]

    decoder = VideoDecoder(args.clip, device="cpu")
    batch = decoder.get_frames_in_range(0, len(decoder))
    frames = batch.data  # uint8 (N, C, H, W)
    num_frames = frames.shape[0]
    fps = stream_fps(args.clip)
    windows = sample(num_frames, fps, clip_len, frame_rate, clips_per_video)

    transform = VideoClassification(crop_size=crop, resize_size=resize, mean=mean, std=std)
    crops, clips = [], []
    for _, indices, _ in windows:
        vid = frames[torch.tensor(indices)]  # (T, C, H, W)
        crops.append(F.center_crop(F.resize(vid, list(resize), antialias=False), list(crop)))
        clips.append(transform(vid))

    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "crops.npy"), torch.stack(crops).contiguous().numpy())
    np.save(os.path.join(args.out, "clips.npy"), torch.stack(clips).contiguous().numpy())
    reference = {
        "clip": args.clip,
        "preset": args.preset,
        "frames_decoded": num_frames,
        "fps": fps,
        "width": frames.shape[3],
        "height": frames.shape[2],
        "rotation": decoder.metadata.rotation,
        "pts_secs": batch.pts_seconds.tolist(),
        "clips": [
            {"index": index, "frame_indices": indices, "padded": padded}
            for index, indices, padded in windows
        ],
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
    print(f"{args.clip}: {num_frames} frames at {fps:.4f} fps, {len(windows)} clips")


if __name__ == "__main__":
    main()
