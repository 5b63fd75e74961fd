"""Merge per-video stage results into the dataset manifests (``videos.parquet``, ``faces.parquet``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.corpus.snapshot import VideoInput
from pipeline.fsutil import atomic_write_bytes, table_bytes
from pipeline.records import to_table
from pipeline.stages.video import VideoOutcome
from schemas.manifests import CORPUS_FIELDS, CROPS_SCHEMA, DETECTIONS_SCHEMA, FACES_MANIFEST, FACES_SCHEMA, VIDEOS_MANIFEST, VIDEOS_SCHEMA


def write_manifests(out_dir: Path, inputs: list[VideoInput], outcomes: list[VideoOutcome]) -> dict[str, bool]:
    """Write videos.parquet and faces.parquet; a file whose bytes would not change is not rewritten."""
    videos = pl.from_arrow(to_table([o.record(i) for i, o in zip(inputs, outcomes, strict=True)], VIDEOS_SCHEMA))
    faces = _faces(inputs, outcomes)
    written = {}
    for name, frame, schema, keys in (
        (VIDEOS_MANIFEST, videos, VIDEOS_SCHEMA, ["uri"]),
        (FACES_MANIFEST, faces, FACES_SCHEMA, ["video_id", "frame_index", "face_index"]),
    ):
        table = frame.sort(keys).to_arrow().select(schema.names).cast(schema)
        written[name] = atomic_write_bytes(Path(out_dir) / name, table_bytes(table), skip_if_same=True)
    return written


def _faces(inputs: list[VideoInput], outcomes: list[VideoOutcome]) -> pl.DataFrame:
    detections = [o.detections for o in outcomes if o.detections.num_rows]
    crops = [o.crops for o in outcomes if o.crops is not None and o.crops.num_rows]
    if not detections:
        return pl.from_arrow(FACES_SCHEMA.empty_table())
    det = pl.from_arrow(pa.concat_tables(detections).cast(DETECTIONS_SCHEMA))
    crop = pl.from_arrow(pa.concat_tables(crops).cast(CROPS_SCHEMA) if crops else CROPS_SCHEMA.empty_table())
    context = pl.DataFrame(
        [{"video_id": i.video_id, "uri": i.entry.uri, **{k: i.entry.fields.get(k) for k in CORPUS_FIELDS}} for i in inputs],
        schema={"video_id": pl.String, "uri": pl.String, **{k: pl.String for k in CORPUS_FIELDS}},
    )
    return det.join(crop, on="face_id", how="inner").join(context, on="video_id", how="left")
