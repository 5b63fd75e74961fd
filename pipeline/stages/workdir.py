"""A stage's work folder for one video: files written atomically, the marker last."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import atomic_write_bytes, table_bytes

WORK_DIR = "work"
DONE_MARKER = "_DONE"


def work_dir(out_dir: Path, video_id: str, stage: str, fingerprint: str) -> Path:
    return Path(out_dir) / WORK_DIR / video_id / f"{stage}-{fingerprint}"


def is_done(folder: Path) -> bool:
    return (folder / DONE_MARKER).is_file()


def save(folder: Path, fingerprint: str, tables: dict[str, pa.Table], jsons: dict[str, dict]) -> None:
    """Write each table and JSON file, then the completion marker."""
    for name, table in tables.items():
        atomic_write_bytes(folder / name, table_bytes(table))
    for name, data in jsons.items():
        atomic_write_bytes(folder / name, json.dumps(data, sort_keys=True, indent=1).encode())
    atomic_write_bytes(folder / DONE_MARKER, fingerprint.encode())


def read_table(folder: Path, name: str) -> pa.Table:
    return pq.read_table(folder / name)


def read_json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text(encoding="utf-8"))
