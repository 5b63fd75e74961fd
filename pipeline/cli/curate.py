"""``facecorpus curate`` (the DVC curate stage: curation from stored work, the manifests, metrics and
plots) and ``facecorpus select`` (the training view)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.extract import EXTRACT_FLAGS
from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags

CURATE_FLAGS = section_flags("curate")


def register(sub: argparse._SubParsersAction) -> None:
    cu = sub.add_parser(
        "curate",
        help="score, track, filter and dedupe the stored faces; write the manifests (the DVC curate stage)",
        description="Curate the stored detections and crops of every input of CORPUS (nothing is decoded): quality scores, "
        "tracks, filters with reasons, near-duplicates; write videos.parquet, faces.parquet, tracks.parquet, metrics and plots.",
        formatter_class=FORMATTER,
    )
    add_params_flags(cu, [*EXTRACT_FLAGS, *CURATE_FLAGS, Flag("dvc", "metrics_dir"), Flag("dvc", "plots_dir")])
    cu.set_defaults(func=_cmd_curate)
    se = sub.add_parser(
        "select",
        help="write the training view: at most N kept faces per track, best first, spread over the track",
        description="Select from DATASET's kept faces at most --per-track per track (quality at least --min-quality), "
        "best first and spread over each track's time; write selection.parquet into --out.",
        formatter_class=FORMATTER,
    )
    add_params_flags(se, [Flag("select", "dataset", positional=True), *section_flags("select", exclude=("dataset",))])
    se.set_defaults(func=_cmd_select)


def _cmd_curate(args: argparse.Namespace) -> int:
    import polars as pl

    from pipeline.runs.extract import run_curate
    from pipeline.runs.metrics import write_metrics, write_plots
    from schemas.manifests import FACES_MANIFEST

    options = options_from(args)
    summary = run_curate(options.extract, options.curate, options.policy)
    write_plots(Path(options.dvc.plots_dir), pl.read_parquet(options.extract.out_dir / FACES_MANIFEST))
    metrics = {**summary.curation.to_json(), "wall_s": round(summary.wall_s, 3)}
    write_metrics(Path(options.dvc.metrics_dir) / "curate.json", metrics)
    print(f"curate: {metrics}")
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    from pipeline.curate.select import write_selection
    from schemas.manifests import SELECTION_MANIFEST

    select = options_from(args).select
    view = write_selection(select)
    tracks = len(set(view.column("track_id").to_pylist()))
    print(f"selected {view.num_rows} faces from {tracks} tracks -> {Path(select.out) / SELECTION_MANIFEST}")
    return 0
