"""The ``facecorpus`` command line: the one entry point for people, dvc.yaml and flows/."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.alignment import PRESETS, AlignConfig
from pipeline.detection.base import DEFAULT_DET_MAX_SIDE, DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD, DETECTORS, DetectorConfig
from pipeline.errors import CorpusError, ModelNotFoundError
from pipeline.extract import CROP_FORMATS, ExtractConfig
from pipeline.sampling import SampleSpec

DEFAULT_MODELS_ROOT = Path("~/.insightface/models")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="facecorpus", description="Turn video corpora into face datasets.", formatter_class=fmt)
    parser.add_argument("--log-level", default="WARNING", help="logging level")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("extract", help="sample frames, detect and align faces, write manifests", formatter_class=fmt)
    ex.add_argument("corpus", type=Path, nargs="?", help="corpus folder, corpus manifest (.csv/.jsonl/.parquet) or DFDC metadata.json")
    ex.add_argument("--out", type=Path, help="dataset folder (manifests, crops, work)")
    ex.add_argument("--params", type=Path, default=None, help="YAML file whose 'extract' section sets defaults for these options (flags win)")
    ex.add_argument("--sample", default="fps:1", help="fps:N | every:N | uniform:K | keyframes")
    ex.add_argument("--max-frames", type=int, default=None, help="at most this many frames per video; unset: no limit")
    ex.add_argument("--start-s", type=float, default=0.0, help="skip frames before this time")
    ex.add_argument("--end-s", type=float, default=None, help="skip frames at or after this time; unset: to the end")
    ex.add_argument("--detector", choices=DETECTORS, default="centerface", help="face detector")
    ex.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD, help="detection score threshold")
    ex.add_argument("--nms-iou", type=float, default=DEFAULT_NMS_IOU, help="non-maximum suppression IoU")
    ex.add_argument("--det-max-side", type=int, default=DEFAULT_DET_MAX_SIDE, help="longest side of the detector input, px")
    ex.add_argument("--models-root", type=Path, default=DEFAULT_MODELS_ROOT, help="insightface model packs folder (never downloaded into)")
    ex.add_argument("--model-pack", default="buffalo_l", help="insightface model pack holding the SCRFD detector")
    ex.add_argument("--preset", choices=PRESETS, default="arcface", help="alignment template")
    ex.add_argument("--size", type=int, default=None, help="crop side, px; unset: 112 for arcface, 512 for ffhq")
    ex.add_argument("--margin", type=float, default=0.0, help="extra context around the face, fraction of the crop")
    ex.add_argument("--crop-format", choices=CROP_FORMATS, default="png", help="crop image format")
    ex.add_argument("--crop-quality", type=int, default=95, help="JPEG/WebP quality")
    ex.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ex.set_defaults(func=_cmd_extract)

    sc = sub.add_parser("sample-corpus", help="build the bundled sample corpus from images shipped in installed packages", formatter_class=fmt)
    sc.add_argument("--out", type=Path, default=Path("data/sample_corpus"), help="folder to write the sample corpus to")
    sc.add_argument("--params", type=Path, default=None, help="YAML file whose 'sample_corpus' section sets defaults (flags win)")
    sc.set_defaults(func=_cmd_sample_corpus)
    return parser


def _extract_config(args: argparse.Namespace) -> ExtractConfig:
    return ExtractConfig(
        sampling=SampleSpec.parse(args.sample, max_frames=args.max_frames, start_s=args.start_s, end_s=args.end_s),
        detector=DetectorConfig(
            name=args.detector,
            score_threshold=args.score_threshold,
            nms_iou=args.nms_iou,
            det_max_side=args.det_max_side,
            models_root=args.models_root.expanduser(),
            model_pack=args.model_pack,
        ),
        align=AlignConfig(preset=args.preset, size_px=args.size, margin=args.margin),
        crop_format=args.crop_format,
        crop_quality=args.crop_quality,
    )


def _cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.run import run_extract

    if args.corpus is None or args.out is None:
        raise ValueError("extract needs CORPUS and --out (or 'corpus' and 'out' in the --params file)")
    config = _extract_config(args)
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(items):
            return tqdm(items, desc="videos", unit="video", file=sys.stderr, disable=None)

    summary = run_extract(args.corpus, args.out, config, progress=progress)
    out = summary.out_dir
    print(
        f"videos: {summary.videos_ok} ok, {summary.videos_failed} failed ({summary.videos_skipped} already done)\n"
        f"frames sampled: {summary.frames_sampled}   faces: {summary.faces}\n"
        f"wall time: {summary.wall_s:.2f} s   frames/s: {summary.frames_per_s:.1f}\n"
        f"manifests: {out / 'videos.parquet'}, {out / 'faces.parquet'}\n"
        f"crops: {out / 'crops'}"
    )
    for failure in summary.failures:
        print(f"failed: {failure}")
    return 0


def _cmd_sample_corpus(args: argparse.Namespace) -> int:
    from pipeline.samplecorpus import build_sample_corpus

    paths = build_sample_corpus(args.out)
    print(f"sample corpus: {len(paths)} files in {args.out}")
    return 0


PARAMS_SECTION = {"extract": "extract", "sample-corpus": "sample_corpus"}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse twice when --params is given: its section becomes the defaults, flags still win."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "params", None) is None:
        return args
    section = _params_section(args.params, PARAMS_SECTION[args.command])
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001
    known = {a.dest for a in subparser._actions}  # noqa: SLF001
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{args.params}: unknown keys in '{PARAMS_SECTION[args.command]}': {', '.join(unknown)}")
    subparser.set_defaults(**{k: _typed(subparser, k, v) for k, v in section.items()})
    return parser.parse_args(argv)


def _params_section(path: Path, name: str) -> dict:
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    section = data.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: no '{name}' section")
    return section


def _typed(parser: argparse.ArgumentParser, dest: str, value: object) -> object:
    action = next(a for a in parser._actions if a.dest == dest)  # noqa: SLF001
    return action.type(value) if action.type is not None and value is not None else value


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(argv)
    except (ValueError, OSError) as exc:
        print(f"facecorpus: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, CorpusError, ModelNotFoundError) as exc:
        print(f"facecorpus: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
