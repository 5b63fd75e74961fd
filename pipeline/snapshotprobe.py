"""The DVC probe stage: the corpus snapshot plus every video's probe fields."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from pipeline.corpus import Corpus
from pipeline.errors import MediaError
from pipeline.fsutil import atomic_write_bytes, table_bytes
from pipeline.probe import probe
from pipeline.snapshot import snapshot

PROBE_SCHEMA = pa.schema([
    pa.field("video_id", pa.string(), nullable=False), pa.field("uri", pa.string(), nullable=False),
    pa.field("size_bytes", pa.int64()), pa.field("status", pa.string(), nullable=False), pa.field("error", pa.string()),
    pa.field("container", pa.string()), pa.field("video_codec", pa.string()), pa.field("width_px", pa.int32()),
    pa.field("height_px", pa.int32()), pa.field("rotation_deg", pa.int16()), pa.field("duration_s", pa.float64()),
    pa.field("fps", pa.float64()), pa.field("is_image", pa.bool_()),
])


def write_snapshot_stage(corpus: Corpus, out_dir: Path) -> dict:
    inputs = snapshot(corpus)
    rows = []
    for item in inputs:
        row = {"video_id": item.video_id, "uri": item.entry.uri, "size_bytes": item.size_bytes, "status": "ok", "error": item.problem}
        try:
            if item.problem:
                raise MediaError(item.problem)
            info = probe(item.entry.path)
            width, height = info.display_size_px
            row.update(container=info.container, video_codec=info.video_codec, width_px=width, height_px=height,
                       rotation_deg=info.rotation_deg, duration_s=info.duration_s, fps=info.fps, is_image=info.is_image)
        except MediaError as exc:
            row.update(status="failed", error=str(exc))
        rows.append(row)
    listing = [{"video_id": i.video_id, "uri": i.entry.uri, "duplicate_uris": list(i.duplicate_uris)} for i in inputs]
    atomic_write_bytes(Path(out_dir) / "snapshot.json", json.dumps(listing, indent=1).encode(), skip_if_same=True)
    atomic_write_bytes(Path(out_dir) / "probe.parquet", table_bytes(pa.Table.from_pylist(rows, schema=PROBE_SCHEMA)), skip_if_same=True)
    return {"videos": len(inputs), "unreadable": sum(r["status"] != "ok" for r in rows),
            "duplicates": sum(len(i.duplicate_uris) for i in inputs), "bytes": sum(i.size_bytes or 0 for i in inputs)}
