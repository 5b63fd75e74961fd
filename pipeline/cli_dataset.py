"""DVC-stage commands: ``snapshot``, ``detect``, ``align``, ``pack``, ``export-loose``, ``release``.

Each is one stage of dvc.yaml and reads its sections of ``params.yaml``; each
writes its metrics JSON (and ``align`` its plot CSVs) where dvc.yaml expects them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline import cli as base

METRICS_DIR = Path("data/metrics")
PLOTS_DIR = Path("data/plots")


def _metrics_option(parser: argparse.ArgumentParser, stage: str) -> None:
    parser.add_argument("--metrics", type=Path, default=METRICS_DIR / f"{stage}.json", help="where to write the stage's metrics JSON")


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    snap = sub.add_parser("snapshot", help="list and probe the corpus (the DVC probe stage)", formatter_class=base.FORMATTER)
    base.add_corpus_options(snap)
    base.add_params_option(snap, ["extract"])
    base.add_extract_options(snap)
    snap.add_argument("--snapshot-dir", type=Path, default=Path("data/snapshot"), help="where to write snapshot.json and probe.parquet")
    _metrics_option(snap, "snapshot")
    snap.set_defaults(func=_cmd_snapshot)

    for name, helptext, func in (("detect", "sample frames and detect faces (the DVC detect stage)", _cmd_detect),
                                 ("align", "align and crop from stored detections, merge manifests (the DVC align stage)", _cmd_align)):
        p = sub.add_parser(name, help=helptext, formatter_class=base.FORMATTER)
        base.add_corpus_options(p)
        base.add_params_option(p, ["extract"])
        base.add_extract_options(p)
        p.add_argument("--timeout-s", type=float, default=None, help="per-video timeout; unset: none")
        _metrics_option(p, name)
        if name == "align":
            p.add_argument("--plots-dir", type=Path, default=PLOTS_DIR, help="where to write the distribution CSVs")
        p.set_defaults(func=func)

    pk = sub.add_parser("pack", help="pack crops into WebDataset tar shards with an index (the DVC pack stage)", formatter_class=base.FORMATTER)
    pk.add_argument("dataset", type=Path, nargs="?", default=Path("data/dataset"), help="dataset folder (manifests + crops)")
    pk.add_argument("--out", type=Path, default=Path("data/release"), help="release folder")
    pk.add_argument("--shard-mb", type=float, default=256.0, help="largest shard, MB")
    base.add_params_option(pk, ["pack"])
    _metrics_option(pk, "pack")
    pk.set_defaults(func=_cmd_pack)

    ex = sub.add_parser("export-loose", help="unpack a release into browsable files: <uri>/<face_id>.<ext> plus faces.csv", formatter_class=base.FORMATTER)
    ex.add_argument("release", type=Path, nargs="?", default=Path("data/release"), help="release folder")
    ex.add_argument("--out", type=Path, default=Path("data/loose"), help="folder to export to")
    ex.set_defaults(func=_cmd_export_loose)

    rel = sub.add_parser("release", help="validate, push the data to the DVC remote, commit dvc.lock and tag", formatter_class=base.FORMATTER)
    rel.add_argument("version", help="release tag, e.g. v1.0")
    rel.add_argument("--repo", type=Path, default=Path("."), help="the git + DVC project")
    rel.add_argument("--remote", default=None, help="DVC remote to push to; unset: the default remote")
    rel.add_argument("--params-file", type=Path, default=Path("params.yaml"), help="recorded in the dataset card")
    rel.set_defaults(func=_cmd_release)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from pipeline.corpus import load_corpus
    from pipeline.snapshotprobe import write_snapshot_stage
    from pipeline.stats import write_metrics

    base.need_corpus_and_out(args)
    metrics = write_snapshot_stage(load_corpus(args.corpus), args.snapshot_dir)
    write_metrics(args.metrics, metrics)
    print(f"snapshot: {metrics['videos']} videos ({metrics['unreadable']} unreadable) in {args.snapshot_dir}")
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from pipeline.options import extract_config
    from pipeline.run import run_extract
    from pipeline.stats import write_metrics

    base.need_corpus_and_out(args)
    summary = run_extract(args.corpus, args.out, extract_config(vars(args)), timeout_s=args.timeout_s,
                          detect_root=args.detect_root or args.out, align=False)
    metrics = {
        "videos": summary.videos_ok + summary.videos_failed, "ok": summary.videos_ok, "failed": summary.videos_failed,
        "failure_ratio": round(summary.failure_ratio, 6), "detector_ran_on": summary.videos_detected,
        "frames": summary.frames_sampled, "wall_s": round(summary.wall_s, 3), "frames_per_s": round(summary.frames_per_s, 3),
    }
    write_metrics(args.metrics, metrics)
    print(f"detect: {metrics}")
    return 0


def _cmd_align(args: argparse.Namespace) -> int:
    import polars as pl

    from pipeline.options import extract_config
    from pipeline.run import missing_detections, run_extract
    from pipeline.stats import face_measures, write_metrics, write_plots

    base.need_corpus_and_out(args)
    config = extract_config(vars(args))
    detect_root = args.detect_root or args.out
    missing = missing_detections(args.corpus, config, detect_root)
    if missing:
        raise ValueError(f"no detections for {len(missing)} videos ({', '.join(missing[:5])}...): run the detect stage first")
    summary = run_extract(args.corpus, args.out, config, timeout_s=args.timeout_s, detect_root=detect_root)
    faces = pl.read_parquet(args.out / "faces.parquet")
    write_plots(args.plots_dir, face_measures(args.out, faces))
    metrics = {"faces": faces.height, "videos_aligned": summary.videos_aligned, "detector_ran_on": summary.videos_detected,
               "wall_s": round(summary.wall_s, 3)}
    write_metrics(args.metrics, metrics)
    print(f"align: {metrics}")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    from pipeline.pack import pack_dataset
    from pipeline.stats import write_metrics

    started = time.perf_counter()
    summary = pack_dataset(args.dataset, args.out, args.shard_mb)
    metrics = {"shards": summary.shards, "faces": summary.faces, "bytes": summary.bytes_written, "wall_s": round(time.perf_counter() - started, 3)}
    write_metrics(args.metrics, metrics)
    print(f"pack: {metrics} -> {args.out}")
    return 0


def _cmd_export_loose(args: argparse.Namespace) -> int:
    from pipeline.export import export_loose

    count = export_loose(args.release, args.out)
    print(f"exported {count} crops to {args.out}")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from pipeline.release import ReleaseRefused, release

    try:
        card = release(args.version, repo=args.repo, remote=args.remote, params_file=args.params_file)
    except ReleaseRefused as exc:
        print(f"facecorpus: release refused: {exc}")
        return 1
    print(f"released {args.version}: {card['counts']['faces']} faces in {card['counts']['videos_ok']} videos; card releases/{args.version}.md")
    return 0
