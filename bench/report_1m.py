"""The dataset report on 1,000,000 face rows: wall time and size, against a 10,000-row baseline in the same run.

    .venv/bin/python bench/report_1m.py [--faces 1000000] [--baseline-faces 10000] [--videos 2000] [--crop-files 5000]

Writes a synthetic dataset with ``bench/validate_1m.py``'s generator (valid boxes,
landmarks, ids) whose rows point at ``--crop-files`` real PNG crops (tiled: many rows
share a file, which the report cannot tell), then marks 8% of the faces filtered
(the filter rules in turn) and 5% duplicate, and gives each face an ``identity_id``
(500 identities) so every section is drawn. No source videos exist, so the video pages
draw boxes on blank frames (decoding a frame costs about 0.1 s per frame drawn, at
most report.video_pages x 6). Prints wall time, files and size for both datasets and
the ratio; asserts the caps hold (size under SIZE_CAP_MB).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.validate_1m import real_crops, write_dataset  # noqa: E402
from pipeline.report.build import ReportRequest, build_report  # noqa: E402
from schemas.manifests import FACES_MANIFEST, FILTER_REASONS  # noqa: E402

SIZE_CAP_MB = 60.0  # the stated cap for the default caps (100 video pages, 48 crops per sheet)
IDENTITIES = 500


def dataset(folder: Path, faces: int, videos: int, crops: tuple[pa.Array, pa.Array]) -> Path:
    paths, shas = crops
    reps = -(-faces // len(paths))
    tiled = pa.concat_arrays([paths] * reps)[:faces], pa.concat_arrays([shas] * reps)[:faces]
    write_dataset(folder, faces, videos, *tiled)
    table = pq.read_table(folder / FACES_MANIFEST)
    rng = np.random.default_rng(1)
    draw = rng.random(faces)
    status = np.where(draw < 0.08, "filtered", np.where(draw < 0.13, "duplicate", "ok"))
    reasons = np.array(FILTER_REASONS)[rng.integers(0, len(FILTER_REASONS), faces)]
    first = pa.array(np.where(status == "filtered", reasons, None).tolist(), pa.string())
    every = pa.array([[r] if s == "filtered" else [] for s, r in zip(status, reasons)], pa.list_(pa.string()))
    table = table.set_column(table.schema.get_field_index("status"), "status", pa.array(status))
    table = table.set_column(table.schema.get_field_index("filter_reason"), "filter_reason", first)
    table = table.set_column(table.schema.get_field_index("filter_reasons"), "filter_reasons", every)
    table = table.append_column("identity_id", pa.array([f"id-{i:04d}" for i in rng.integers(0, IDENTITIES, faces)]))
    pq.write_table(table, folder / FACES_MANIFEST, compression="zstd")
    return folder


def timed_report(folder: Path) -> tuple[float, int, float]:
    result = build_report(ReportRequest(dataset=folder, out=folder / "report", reports_dir=folder / "reports"))
    return result.wall_s, result.files, result.size_bytes / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--baseline-faces", type=int, default=10_000)
    parser.add_argument("--videos", type=int, default=2_000)
    parser.add_argument("--crop-files", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        work = Path(tmp)
        crops = real_crops(work / "big", args.crop_files)
        base_crops = real_crops(work / "base", min(args.crop_files, args.baseline_faces))
        started = time.perf_counter()
        dataset(work / "big", args.faces, args.videos, crops)
        dataset(work / "base", args.baseline_faces, max(1, args.videos * args.baseline_faces // args.faces), base_crops)
        print(f"datasets written in {time.perf_counter() - started:.1f} s")
        base = timed_report(work / "base")
        big = timed_report(work / "big")
        for name, faces, (wall_s, files, size_mb) in (("baseline", args.baseline_faces, base), ("full", args.faces, big)):
            print(f"{name:8s} {faces:>9,d} faces: {wall_s:6.1f} s wall, {files:5d} files, {size_mb:6.1f} MB")
        print(f"ratio full/baseline: {big[0] / base[0]:.2f}x time for {args.faces / args.baseline_faces:.0f}x rows")
        if big[2] > SIZE_CAP_MB:
            raise SystemExit(f"the report is {big[2]:.1f} MB, over the stated cap of {SIZE_CAP_MB} MB")


if __name__ == "__main__":
    main()
