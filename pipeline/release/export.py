"""Loose-files export of a release, for people who want to browse the crops."""

from __future__ import annotations

from pathlib import Path

from pipeline.dataset import Dataset
from pipeline.fsutil import atomic_write_bytes


def export_loose(release_dir: Path, out_dir: Path) -> int:
    """Write ``<uri>/<face_id>.<ext>`` for every face and ``faces.csv`` (the manifest's flat columns)."""
    dataset = Dataset(release_dir)
    faces = dataset.faces.select(
        "face_id", "uri", "crop_path", "pts_s", "det_score", "label", "split", "license", "consent", "source"
    ).collect()
    for face_id, uri, crop_path in faces.select("face_id", "uri", "crop_path").rows():
        ext = crop_path.rsplit(".", 1)[-1]
        atomic_write_bytes(Path(out_dir) / uri / f"{face_id}.{ext}", dataset.read_crop_bytes(face_id), skip_if_same=True)
    faces.drop("crop_path").write_csv(Path(out_dir) / "faces.csv")
    return faces.height
