"""A stage's work folder for one video: files written atomically, the marker last."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import atomic_write_bytes, table_bytes

WORK_DIR = "work"
# The curation stages' per-video work: a folder of its own, so that the DVC align and
# curate stages own disjoint outputs (dvc.yaml).
CURATION_DIR = "curation"
DONE_MARKER = "_DONE"


def work_dir(out_dir: Path, video_id: str, stage: str, fingerprint: str, folder: str = WORK_DIR) -> Path:
    return Path(out_dir) / folder / video_id / f"{stage}-{fingerprint}"


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


class PerVideoTable:
    """For a stage (mixin) whose per-video result is one table: its work folder
    ``<work_root>/<work_folder>/<video_id>/<name>-<fingerprint>/<work_file>``, read back
    only when the completion marker is there, written table first, marker last."""

    work_file: str
    work_folder: str = WORK_DIR
    work_root: Path

    def folder(self, video_id: str) -> Path:
        return work_dir(self.work_root, video_id, self.name, self.fingerprint, self.work_folder)

    def load(self, video_id: str) -> pa.Table | None:
        folder = self.folder(video_id)
        return read_table(folder, self.work_file) if is_done(folder) else None

    def save(self, video_id: str, table: pa.Table) -> pa.Table:
        save(self.folder(video_id), self.fingerprint, {self.work_file: table}, {})
        self.count(saved=1)
        return table
