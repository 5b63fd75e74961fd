"""The ``facecorpus`` command line: the one entry point for people, dvc.yaml, make and flows/.

This module holds the library commands (``extract``, ``sample-corpus``) and the
machinery every command shares: ``--params params.yaml`` (a command reads its own
sections as defaults; flags win) and the shared extraction options. The console
script is ``flows.cli:main``, which adds the Prefect commands (``ingest``,
``serve``, ``retry-failed``) so that ``pipeline`` never imports prefect.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.alignment import PRESETS
from pipeline.detection.base import DETECTORS
from pipeline.errors import CorpusError, ModelNotFoundError
from pipeline.options import EXTRACT_DEFAULTS, extract_config
from pipeline.stages.align import CROP_FORMATS

FORMATTER = argparse.ArgumentDefaultsHelpFormatter
Registrar = Callable[[argparse._SubParsersAction], None]  # noqa: SLF001


def add_params_option(parser: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    names = ", ".join(f"'{s}'" for s in sections)
    parser.add_argument("--params", type=Path, default=None, help=f"YAML file whose {names} section(s) set these options' defaults (flags win)")
    parser.set_defaults(params_sections=tuple(sections))


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", type=Path, nargs="?", help="corpus folder, corpus manifest (.csv/.jsonl/.parquet) or DFDC metadata.json")
    parser.add_argument("--out", type=Path, help="dataset folder (manifests, crops, work)")
    parser.add_argument("--detect-root", type=Path, default=None, help="folder for the detect stage's work; unset: the dataset folder")


def add_extract_options(parser: argparse.ArgumentParser) -> None:
    d = EXTRACT_DEFAULTS
    parser.add_argument("--sample", default=d["sample"], help="fps:N | every:N | uniform:K | keyframes")
    parser.add_argument("--max-frames", type=int, default=d["max_frames"], help="at most this many frames per video; unset: no limit")
    parser.add_argument("--start-s", type=float, default=d["start_s"], help="skip frames before this time")
    parser.add_argument("--end-s", type=float, default=d["end_s"], help="skip frames at or after this time; unset: to the end")
    parser.add_argument("--detector", choices=DETECTORS, default=d["detector"], help="face detector")
    parser.add_argument("--score-threshold", type=float, default=d["score_threshold"], help="detection score threshold")
    parser.add_argument("--nms-iou", type=float, default=d["nms_iou"], help="non-maximum suppression IoU")
    parser.add_argument("--det-max-side", type=int, default=d["det_max_side"], help="longest side of the detector input, px")
    parser.add_argument("--models-root", default=d["models_root"], help="insightface model packs folder (never downloaded into)")
    parser.add_argument("--model-pack", default=d["model_pack"], help="insightface model pack holding the SCRFD detector")
    parser.add_argument("--preset", choices=PRESETS, default=d["preset"], help="alignment template")
    parser.add_argument("--size", type=int, default=d["size"], help="crop side, px; unset: 112 for arcface, 512 for ffhq")
    parser.add_argument("--margin", type=float, default=d["margin"], help="extra context around the face, fraction of the crop")
    parser.add_argument("--crop-format", choices=CROP_FORMATS, default=d["crop_format"], help="crop image format")
    parser.add_argument("--crop-quality", type=int, default=d["crop_quality"], help="JPEG/WebP quality")


def need_corpus_and_out(args: argparse.Namespace) -> None:
    if args.corpus is None or args.out is None:
        raise ValueError(f"{args.command} needs CORPUS and --out (or 'corpus' and 'out' in the --params file)")


def _register_extract(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    ex = sub.add_parser("extract", help="sample, detect and align in this process, write manifests", formatter_class=FORMATTER)
    add_corpus_options(ex)
    add_params_option(ex, ["extract"])
    add_extract_options(ex)
    ex.add_argument("--timeout-s", type=float, default=None, help="per-video timeout; unset: none")
    ex.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ex.set_defaults(func=_cmd_extract)


def _register_sample_corpus(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    sc = sub.add_parser("sample-corpus", help="build the bundled sample corpus from images shipped in installed packages", formatter_class=FORMATTER)
    sc.add_argument("--out", type=Path, default=Path("data/sample_corpus"), help="folder to write the sample corpus to")
    add_params_option(sc, ["sample_corpus"])
    sc.set_defaults(func=_cmd_sample_corpus)


def _register_dataset(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    from pipeline import cli_dataset

    cli_dataset.register(sub)


def _register_validate(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    from pipeline import cli_validate

    cli_validate.add_parser(sub)


LIBRARY_COMMANDS: tuple[Registrar, ...] = (_register_extract, _register_sample_corpus, _register_dataset, _register_validate)


def build_parser(registrars: Sequence[Registrar] = LIBRARY_COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecorpus", description="Turn video corpora into face datasets.", formatter_class=FORMATTER)
    parser.add_argument("--log-level", default="WARNING", help="logging level")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in registrars:
        register(sub)
    return parser


def _cmd_extract(args: argparse.Namespace) -> int:
    from pipeline.run import run_extract

    need_corpus_and_out(args)
    config = extract_config(vars(args))
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(items):
            return tqdm(items, desc="videos", unit="video", file=sys.stderr, disable=None)

    summary = run_extract(args.corpus, args.out, config, progress=progress, timeout_s=args.timeout_s, detect_root=args.detect_root)
    out = summary.out_dir
    print(
        f"videos: {summary.videos_ok} ok, {summary.videos_failed} failed ({summary.videos_skipped} already done)\n"
        f"detector ran on {summary.videos_detected} videos, alignment on {summary.videos_aligned}\n"
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


def parse(argv: Sequence[str] | None, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse twice when --params is given: the command's sections become defaults, flags still win."""
    args = parser.parse_args(argv)
    if getattr(args, "params", None) is None:
        return args
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001
    actions = {a.dest: a for a in subparser._actions}  # noqa: SLF001
    defaults = {}
    for name in getattr(args, "params_sections", (args.command.replace("-", "_"),)):
        section = _params_section(args.params, name)
        unknown = sorted(set(section) - set(actions))
        if unknown:
            raise ValueError(f"{args.params}: unknown keys in '{name}': {', '.join(unknown)}")
        defaults.update({k: _typed(actions[k], v) for k, v in section.items()})
    subparser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _params_section(path: Path, name: str) -> dict:
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    section = data.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: no '{name}' section")
    return section


def _typed(action: argparse.Action, value: object) -> object:
    return action.type(value) if action.type is not None and value is not None else value


def main(argv: Sequence[str] | None = None, registrars: Sequence[Registrar] = LIBRARY_COMMANDS) -> int:
    parser = build_parser(registrars)
    try:
        args = parse(argv, parser)
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
