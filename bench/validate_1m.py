"""Validation speed: the row-level suites on 1,000,000 face rows, the crop-file suite on real files.

    .venv/bin/python bench/validate_1m.py [--faces 1000000] [--videos 2000] [--crop-files 5000] [--partition-rows 250000]

Part 1 writes a synthetic but valid dataset (vectorised numpy/pyarrow: boxes
inside the frame, landmarks inside the box, a similarity affine, unique ids) and
times ``validate_dataset`` on the videos, faces and run suites: every row-level
check on every face row, in GX batches of ``--partition-rows``. Its crop files do
not exist, so the crops suite is left out of part 1.

Part 2 writes ``--crop-files`` real, distinct PNG crops with a faces manifest
that lists them and times the crops suite alone: each file is read, hashed and
decoded inside the GX validation. Its rate (files/s) scales to a full dataset.

Neither part builds Data Docs (that is a fixed cost of a few seconds). Prints
wall times, rows/s, and asserts every error-level check passed.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.validate.suites import validate_dataset
from schemas.manifests import FACES_MANIFEST, FACES_SCHEMA, TRACKS_MANIFEST, TRACKS_SCHEMA, VIDEOS_MANIFEST, VIDEOS_SCHEMA

FRAME_W_PX, FRAME_H_PX = 1920, 1080
CROP_PX = 112
PRESET = f"arcface:{CROP_PX}:margin=0"


def face_ids(count: int, rng: np.random.Generator) -> pa.Array:
    """``count`` distinct 32-hex-digit ids: the index, then a random tail."""
    tails = rng.integers(0, 2**62, size=count, dtype=np.int64)
    return pa.array([f"{i:016x}{t:016x}" for i, t in enumerate(tails)])


def filled(schema: pa.Schema, columns: dict[str, pa.Array], rows: int) -> pa.Table:
    """A table of ``schema``: the given columns, nulls in other nullable ones, a constant
    in other required ones (so the bench keeps working as the schema grows)."""
    arrays = []
    for field in schema:
        if field.name in columns:
            arrays.append(columns[field.name])
        elif field.nullable:
            arrays.append(pa.nulls(rows, field.type))
        elif pa.types.is_list(field.type):
            arrays.append(pa.array([[]] * rows, field.type))
        else:
            constant = "bench" if pa.types.is_string(field.type) else False if pa.types.is_boolean(field.type) else 0
            arrays.append(pa.array([constant] * rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def synthetic_faces(
    rng: np.random.Generator, faces: int, video_ids: pa.Array, video_uris: pa.Array, crop_paths: pa.Array, crop_shas: pa.Array
) -> tuple[pa.Table, np.ndarray]:
    videos = len(video_ids)
    video_of = np.sort(rng.integers(0, videos, size=faces))
    frame_index = rng.integers(0, 30, size=faces).astype(np.int32)
    side = rng.uniform(30, 400, size=faces)
    x1, y1 = rng.uniform(0, FRAME_W_PX - side), rng.uniform(0, FRAME_H_PX - side)
    bbox = np.stack([x1, y1, x1 + side, y1 + side], axis=1).astype(np.float32)
    # Five points inside the box, at the arcface template's relative places.
    rel = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]])
    landmarks = (np.stack([x1, y1], 1)[:, None, :] + side[:, None, None] * rel[None]).reshape(faces, 10).astype(np.float32)
    scale = CROP_PX / side
    affine = np.stack([scale, np.zeros(faces), -scale * x1, np.zeros(faces), scale, -scale * y1], axis=1)
    columns = {
        "face_id": face_ids(faces, rng),
        "video_id": video_ids.take(pa.array(video_of)),
        "uri": video_uris.take(pa.array(video_of)),
        "frame_index": pa.array(frame_index),
        "pts_s": pa.array(frame_index.astype(np.float64)),
        "frame_width_px": pa.array(np.full(faces, FRAME_W_PX, np.int32)),
        "frame_height_px": pa.array(np.full(faces, FRAME_H_PX, np.int32)),
        "face_index": pa.array(np.zeros(faces, np.int16)),
        "bbox_xyxy_px": pa.FixedSizeListArray.from_arrays(pa.array(bbox.ravel()), 4),
        "det_score": pa.array(rng.uniform(0.5, 1.0, size=faces).astype(np.float32)),
        "landmarks5_px": pa.FixedSizeListArray.from_arrays(pa.array(landmarks.ravel()), 10),
        "detector": pa.array(["centerface"] * faces),
        "detector_version": pa.array(["centerface-bench"] * faces),
        "sampling": pa.array(["fps:1"] * faces),
        "preset": pa.array([PRESET] * faces),
        "crop_size_px": pa.array(np.full(faces, CROP_PX, np.int32)),
        "affine_2x3": pa.FixedSizeListArray.from_arrays(pa.array(affine.ravel()), 6),
        "crop_path": crop_paths,
        "crop_sha256": crop_shas,
        # Curation: every face kept, each its own track (tracks.parquet follows).
        "status": pa.array(["ok"] * faces),
        "crop_phash": pa.array(["0" * 16] * faces),
        "face_size_px": pa.array(side.astype(np.float32)),
    }
    columns["track_id"] = columns["face_id"]
    return filled(FACES_SCHEMA, columns, faces), np.bincount(video_of, minlength=videos)


def synthetic_tracks(faces: pa.Table) -> pa.Table:
    """One track per face, as the tracks table of those faces would read."""
    count = faces.num_rows
    columns = {
        "track_id": faces["track_id"],
        "video_id": faces["video_id"],
        "uri": faces["uri"],
        "first_pts_s": faces["pts_s"],
        "last_pts_s": faces["pts_s"],
        "faces": pa.array(np.ones(count, np.int32)),
        "faces_kept": pa.array(np.ones(count, np.int32)),
        "mean_det_score": faces["det_score"],
        "min_det_score": faces["det_score"],
        "median_face_size_px": faces["face_size_px"],
        "best_face_id": faces["face_id"],
    }
    return filled(TRACKS_SCHEMA, {k: v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for k, v in columns.items()}, count)


def synthetic_videos(video_ids: pa.Array, video_uris: pa.Array, faces_per_video: np.ndarray) -> pa.Table:
    count = len(video_ids)
    columns = {
        "video_id": video_ids,
        "uri": video_uris,
        "duplicate_uris": pa.array([[]] * count, pa.list_(pa.string())),
        "status": pa.array(["ok"] * count),
        "width_px": pa.array(np.full(count, FRAME_W_PX, np.int32)),
        "height_px": pa.array(np.full(count, FRAME_H_PX, np.int32)),
        "sampling": pa.array(["fps:1"] * count),
        "frames_sampled": pa.array(np.full(count, 30, np.int32)),
        "faces_found": pa.array(faces_per_video.astype(np.int32)),
        "detector": pa.array(["centerface"] * count),
        "preset": pa.array([PRESET] * count),
    }
    return filled(VIDEOS_SCHEMA, columns, count)


def write_dataset(folder: Path, faces: int, videos: int, crop_paths: pa.Array, crop_shas: pa.Array, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    video_ids = pa.array([hashlib.sha256(f"video {i}".encode()).hexdigest() for i in range(videos)])
    video_uris = pa.array([f"videos/{i:07d}.mp4" for i in range(videos)])
    faces_table, per_video = synthetic_faces(rng, faces, video_ids, video_uris, crop_paths, crop_shas)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(faces_table, folder / FACES_MANIFEST, compression="zstd")
    pq.write_table(synthetic_tracks(faces_table), folder / TRACKS_MANIFEST, compression="zstd")
    pq.write_table(synthetic_videos(video_ids, video_uris, per_video), folder / VIDEOS_MANIFEST, compression="zstd")
    return folder


def synthetic_crop_refs(count: int) -> tuple[pa.Array, pa.Array]:
    """Well-formed crop paths and hashes for files that are not written (part 1)."""
    shas = [hashlib.sha256(f"crop {i}".encode()).hexdigest() for i in range(count)]
    return pa.array([f"crops/{s[:2]}/{s}.png" for s in shas]), pa.array(shas)


def real_crops(folder: Path, count: int) -> tuple[pa.Array, pa.Array]:
    """``count`` distinct PNG crops written at their content paths (part 2)."""
    base = np.tile(np.linspace(0, 255, CROP_PX, dtype=np.uint8), (CROP_PX, 1))
    image = np.dstack([base, base.T, np.full_like(base, 128)])
    paths, shas = [], []
    for i in range(count):
        image[0, :4, 2] = np.frombuffer(i.to_bytes(4, "little"), dtype=np.uint8)  # makes each crop distinct
        data = cv2.imencode(".png", image)[1].tobytes()
        sha = hashlib.sha256(data).hexdigest()
        path = folder / "crops" / sha[:2] / f"{sha}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(f"crops/{sha[:2]}/{sha}.png")
        shas.append(sha)
    return pa.array(paths), pa.array(shas)


def timed(dataset: Path, only: tuple[str, ...], partition_rows: int, work: Path):
    started = time.perf_counter()
    report = validate_dataset(
        dataset, reports_dir=work / f"reports-{'-'.join(only)}", build_docs=False, only=only, partition_rows=partition_rows
    )
    wall_s = time.perf_counter() - started
    if not report.passed:
        raise SystemExit(f"the synthetic dataset failed its contract:\n{report.summary()}")
    return report, wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--faces", type=int, default=1_000_000, help="face rows in part 1")
    parser.add_argument("--videos", type=int, default=2_000, help="videos in part 1")
    parser.add_argument("--crop-files", type=int, default=5_000, help="real crop files in part 2")
    parser.add_argument("--partition-rows", type=int, default=250_000, help="rows per GX batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        rows_dataset = write_dataset(work / "rows", args.faces, args.videos, *synthetic_crop_refs(args.faces))
        print(f"part 1 dataset: {args.faces} faces, {args.videos} videos written in {time.perf_counter() - started:.1f} s")
        report, wall_s = timed(rows_dataset, ("videos", "faces", "run"), args.partition_rows, work)
        for suite in report.suites:
            print(f"  {suite.suite:7s} {suite.rows:>9d} rows  {suite.partitions} partitions  {suite.wall_s:6.1f} s")
        print(
            f"part 1: row-level suites on {args.faces} face rows: {wall_s:.1f} s wall, {args.faces / wall_s:,.0f} face rows/s, "
            f"{len(report.outcomes)} checks, all passed"
        )

        files_dataset = work / "files"
        refs = real_crops(files_dataset, args.crop_files)
        write_dataset(files_dataset, args.crop_files, max(1, args.crop_files // 500), *refs)
        report, wall_s = timed(files_dataset, ("crops",), args.partition_rows, work)
        print(
            f"part 2: crops suite on {args.crop_files} real files: {wall_s:.1f} s wall, "
            f"{args.crop_files / wall_s:,.0f} files/s (read, sha256, decode), all passed"
        )


if __name__ == "__main__":
    main()
