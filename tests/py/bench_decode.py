"""The Python reference side of scripts/bench_decode.sh: torchcodec (CPU) decodes the clip,
torchvision's protocol samples it (decode_reference.sample) and VideoClassification transforms
each clip, exactly as tests/py/decode_reference.py does; timed per video, median of N runs.

    bench_decode.py CLIP [--iterations N] [--preset r3d]

Prints one line per variant, then `clips_per_sec=X` for the reference variant (torchcodec's
defaults: all frames decoded and converted, one FFmpeg thread). The other variants show what
tuning the Python side can buy: FFmpeg threads, and converting only the frames the clips use.
"""

import argparse
import statistics
import time

import torch
from torchcodec.decoders import VideoDecoder
from torchvision.transforms._presets import VideoClassification

from decode_reference import PRESETS, sample


def load_clips(path, preset, threads, needed_only):
    resize, crop, mean, std, clip_len, frame_rate, clips_per_video = preset
    decoder = VideoDecoder(path, device="cpu", num_ffmpeg_threads=threads)
    num_frames = len(decoder)
    fps = decoder.metadata.average_fps_from_header
    windows = sample(num_frames, fps, clip_len, frame_rate, clips_per_video)
    transform = VideoClassification(crop_size=crop, resize_size=resize, mean=mean, std=std)
    if needed_only:
        unique = sorted({i for _, indices, _ in windows for i in indices})
        frames = decoder.get_frames_at(unique).data
        position = {f: p for p, f in enumerate(unique)}
        return torch.stack([transform(frames[torch.tensor([position[i] for i in idx])]) for _, idx, _ in windows])
    frames = decoder.get_frames_in_range(0, num_frames).data
    return torch.stack([transform(frames[torch.tensor(idx)]) for _, idx, _ in windows])


def bench(path, preset, iterations, threads, needed_only):
    clips = load_clips(path, preset, threads, needed_only)  # warm-up
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        load_clips(path, preset, threads, needed_only)
        times.append(time.perf_counter() - start)
    per_video = statistics.median(times)
    return clips.shape[0], per_video, clips.shape[0] / per_video


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="r3d")
    parser.add_argument("--needed-only", action="store_true",
                        help="only the last variant (torchcodec's exact seeking), as the reference")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    variants = [
        ("reference: all frames, 1 FFmpeg thread (torchcodec default)", 1, False),
        ("all frames, FFmpeg threads auto", 0, False),
        ("only needed frames (get_frames_at), FFmpeg threads auto", 0, True),
    ]
    if args.needed_only:
        variants = variants[-1:]
    reference = None
    for name, threads, needed_only in variants:
        n, per_video, clips_per_sec = bench(args.clip, preset, args.iterations, threads, needed_only)
        print(f"python {name}: {n} clips; median {per_video * 1e3:.1f} ms per video; {clips_per_sec:.1f} clips/s")
        if reference is None:
            reference = clips_per_sec
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"clips_per_sec={reference:.3f}")


if __name__ == "__main__":
    main()
