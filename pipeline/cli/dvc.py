"""DVC-stage commands: ``snapshot``, ``detect``, ``align``, ``pack``, ``export-loose``, ``release``.

Each is one stage of dvc.yaml and reads its keys of ``params.yaml``; each writes
its metrics JSON where ``dvc.metrics_dir`` says (the curate stage, in
``pipeline/cli/curate.py``, also its plot CSVs in ``dvc.plots_dir``). The metrics
are the stages' own counts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.cli.extract import CORPUS, EXTRACT_FLAGS
from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags

DETECT_KEYS = (
    "detect_root",
    "sample",
    "max_frames",
    "start_s",
    "end_s",
    "detector",
    "score_threshold",
    "nms_iou",
    "det_max_side",
    "models_root",
    "model_pack",
)
METRICS = Flag("dvc", "metrics_dir")


def _parser(sub: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=FORMATTER)


def register(sub: argparse._SubParsersAction) -> None:
    _register_stages(sub)
    _register_release(sub)


def _register_stages(sub: argparse._SubParsersAction) -> None:
    """The commands dvc.yaml runs, each with the params keys it uses."""
    stages = (
        ("snapshot", "list and probe the corpus (the DVC snapshot stage)",
         "Hash every input of CORPUS and probe it: snapshot.json and probe.parquet in the snapshot folder.",
         [CORPUS, Flag("corpus", "snapshot_dir"), METRICS], _cmd_snapshot),
        ("detect", "sample frames and detect faces (the DVC detect stage)",
         "Sample and detect every input of CORPUS; the work goes to the detect folder (else the dataset folder).",
         [CORPUS, Flag("extract", "out"), *section_flags("extract", *DETECT_KEYS), METRICS], _cmd_detect),
        ("align", "align and crop from stored detections (the DVC align stage)",
         "Align every face the detect stage found and write the crops (facecorpus curate then writes the manifests).",
         [*EXTRACT_FLAGS, METRICS], _cmd_align),
        ("pack", "pack crops into WebDataset tar shards with an index (the DVC pack stage)",
         "Pack the crops of DATASET into tar shards, with a shard index and crop locations.",
         [Flag("pack", "dataset", positional=True), Flag("pack", "out"), Flag("pack", "shard_mb"), METRICS], _cmd_pack),
    )  # fmt: skip
    for name, help, description, flags, func in stages:
        parser = _parser(sub, name, help, description)
        add_params_flags(parser, flags)
        if name in ("detect", "align"):
            parser.add_argument("--timeout-s", type=float, default=None, help="per-video timeout, s (default: none)")
        parser.set_defaults(func=func)


def _register_release(sub: argparse._SubParsersAction) -> None:
    ex = _parser(
        sub,
        "export-loose",
        "unpack a release into browsable files: <uri>/<face_id>.<ext> plus faces.csv",
        "Write every crop of the release at RELEASE as <uri>/<face_id>.<ext>, and faces.csv, into a folder.",
    )
    ex.add_argument("release", type=Path, help="release folder (required)")
    ex.add_argument("--to", type=Path, required=True, help="folder to export to (required)")
    ex.set_defaults(func=_cmd_export_loose)
    rel = _parser(
        sub,
        "release",
        "validate, push the data to the DVC remote, commit dvc.lock and tag",
        "Release the DVC project as VERSION: check it, write the dataset card, push, commit and tag.",
    )
    rel.add_argument("version", help="release tag, e.g. v1.0 (required)")
    rel.add_argument("--repo", type=Path, default=Path("."), help="the git + DVC project (default: .)")
    rel.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="the project's params file, relative to --repo (default: params.yaml)"
    )
    rel.add_argument("--remote", default=None, help="DVC remote to push to (default: the project's default remote)")
    rel.set_defaults(func=_cmd_release)


def _metrics(options, stage: str) -> Path:
    return Path(options.dvc.metrics_dir) / f"{stage}.json"


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from pipeline.corpus.erasures import read_erasures
    from pipeline.corpus.load import load_corpus
    from pipeline.runs.metrics import write_metrics
    from pipeline.runs.snapshot import write_snapshot_stage

    options = options_from(args)
    out = Path(options.corpus.snapshot_dir)
    denied = read_erasures(Path(options.policy.erasures) if options.policy.erasures else None).videos
    metrics = write_snapshot_stage(load_corpus(options.extract.corpus_path), out, denied)
    write_metrics(_metrics(options, "snapshot"), metrics)
    print(f"snapshot: {metrics['videos']} videos ({metrics['unreadable']} unreadable) in {out}")
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from pipeline.runs.extract import run_extract
    from pipeline.runs.metrics import write_metrics

    options = options_from(args)
    summary = run_extract(options.extract, timeout_s=args.timeout_s, align=False, policy=options.policy)
    metrics = {
        "videos": summary.videos_ok + summary.videos_failed,
        "ok": summary.videos_ok,
        "failed": summary.videos_failed,
        "failure_ratio": round(summary.failure_ratio, 6),
        "detector_ran_on": summary.videos_detected,
        "frames": summary.frames_sampled,
        "wall_s": round(summary.wall_s, 3),
        "frames_per_s": round(summary.frames_per_s, 3),
    }
    write_metrics(_metrics(options, "detect"), metrics)
    print(f"detect: {metrics}")
    return 0


def _cmd_align(args: argparse.Namespace) -> int:
    from pipeline.runs.extract import missing_detections, run_extract
    from pipeline.runs.metrics import write_metrics

    options = options_from(args)
    extract = options.extract
    missing = missing_detections(extract, options.policy)
    if missing:
        raise ValueError(f"no detections for {len(missing)} videos ({', '.join(missing[:5])}...): run the detect stage first")
    summary = run_extract(extract, timeout_s=args.timeout_s, merge=False, policy=options.policy)
    metrics = {
        "faces": summary.faces,
        "videos_aligned": summary.videos_aligned,
        "detector_ran_on": summary.videos_detected,
        "wall_s": round(summary.wall_s, 3),
    }
    write_metrics(_metrics(options, "align"), metrics)
    print(f"align: {metrics}")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    from pipeline.release.pack import pack_dataset
    from pipeline.runs.metrics import write_metrics

    options = options_from(args)
    started = time.perf_counter()
    summary = pack_dataset(Path(options.pack.dataset), Path(options.pack.out), options.pack.shard_mb)
    metrics = {
        "shards": summary.shards,
        "faces": summary.faces,
        "bytes": summary.bytes_written,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    write_metrics(_metrics(options, "pack"), metrics)
    print(f"pack: {metrics} -> {options.pack.out}")
    return 0


def _cmd_export_loose(args: argparse.Namespace) -> int:
    from pipeline.release.export import export_loose

    count = export_loose(args.release, args.to)
    print(f"exported {count} crops to {args.to}")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from pipeline.release.card import RELEASES_DIR
    from pipeline.release.publish import ReleaseRefused, release

    try:
        card = release(args.version, repo=args.repo, params_file=args.params, remote=args.remote)
    except ReleaseRefused as exc:
        print(f"facecorpus: release refused: {exc}")
        return 1
    print(
        f"released {args.version}: {card['counts']['faces']} faces in {card['counts']['videos_ok']} videos; "
        f"card {RELEASES_DIR}/{args.version}.md"
    )
    return 0
