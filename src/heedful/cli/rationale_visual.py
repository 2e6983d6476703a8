"""``heedful rationale visual``: per-utterance CLIP features from key-frame images (argparse only, lazy imports)."""

from __future__ import annotations

import argparse
import sys


def register(commands) -> None:
    from heedful.cli.rationale_data import data_args

    p = commands.add_parser(
        "visual",
        help="CLIP features of each utterance's key frames, in the .npz layout that --visual reads",
        description="For each utterance, the mean of the L2-normalised CLIP image embeddings of its key frames "
        "(found as {utt_id}_frame_*.jpg in --frames, or listed in the sample's key_frames), with a local CLIP "
        "checkpoint folder (nothing is downloaded). Resumable: an interrupted run keeps finished utterances in "
        "OUT.parts/.",
    )
    data_args(p, "all", out=False)
    p.add_argument("--frames", required=True, help="folder of key-frame images")
    p.add_argument("--clip", required=True, help="local CLIP checkpoint folder (config.json, safetensors, processor)")
    p.add_argument("--out", dest="npz", required=True, help="the .npz file to write")
    p.add_argument("--batch-size", type=int, default=16, help="images per CLIP forward pass (default: 16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heedful.cli.rationale_data import data_config
    from heedful.errors import InputError
    from heedful.rationale.data.config import load_split
    from heedful.rationale.features.frames import compute_visual

    if args.batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {args.batch_size}")
    samples = load_split(data_config(args)).samples
    report = compute_visual(samples, args.frames, args.clip, args.npz, args.skip_invalid, args.batch_size)
    for line in report.skipped:
        print(f"heedful: skipped {line}", file=sys.stderr)
    if report.dropped:
        print(
            f"heedful: left out {len(report.dropped)} sample(s) with an utterance without frames: "
            f"{', '.join(report.dropped[:5])}",
            file=sys.stderr,
        )
    print(f"wrote {args.npz}: {report.written} utterance(s) embedded, {report.reused} reused from an earlier run")
    return 0
