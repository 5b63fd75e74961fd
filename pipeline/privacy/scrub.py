"""Erasure in the working tree: work folders, crop files, run records and reports that hold the target.

A whole video (``scope = video``) loses its work folders (detect, frames, align,
curation); an erased face (``scope = face``) loses its rows in them, and the rows
that name it as a fake's original (stored masks). Crop files and difference masks
go by content hash; snapshot listings and batch plans naming an erased video go; the
snapshot stage's listing and probe table lose its rows; the HTML reports (contact
sheets hold faces) are removed, for the pack stage or ``facecorpus report`` to redo.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.alignment.crops import CROPS_DIR
from pipeline.config import REPORT_DIR, Options
from pipeline.corpus.erasures import SCOPE_VIDEO
from pipeline.corpus.plan import BATCHES_DIR, SNAPSHOTS_DIR
from pipeline.curate.masks import MASKS_DIR
from pipeline.fsutil import Publication, atomic_write_bytes, table_bytes
from pipeline.privacy.select import Selected
from pipeline.runs.snapshot import PROBE_FILE, SNAPSHOT_FILE
from pipeline.stages.workdir import CURATION_DIR, WORK_DIR

ORIGINAL_FACE = "original_face_id"


def work_roots(options: Options) -> list[Path]:
    """Folders holding per-video work: ``<out>/work``, ``<out>/curation``, ``<detect_root>/work``."""
    out = options.extract.out_dir
    return sorted({out / WORK_DIR, out / CURATION_DIR, options.extract.detect_dir / WORK_DIR})


def scrub_tree(options: Options, erased: Selected, scope: str) -> int:
    """Remove the erased target from the working tree; the number of files and folders removed or rewritten."""
    out = options.extract.out_dir
    changed = 0
    for root in work_roots(options):
        for video_id in erased.video_ids:
            folder = root / video_id
            if folder.is_dir() and scope == SCOPE_VIDEO:
                shutil.rmtree(folder)
                changed += 1
            elif folder.is_dir():
                changed += sum(_drop_rows(table, erased.face_ids) for table in sorted(folder.rglob("*.parquet")))
    for sha in erased.crop_sha256:  # crops, and the difference masks made from them (pipeline/curate/masks.py)
        for image in [*(out / CROPS_DIR / sha[:2]).glob(f"{sha}.*"), *(out / MASKS_DIR / sha[:2]).glob(f"{sha}.*")]:
            image.unlink()
            changed += 1
    changed += _drop_pair_rows(options, erased.face_ids)
    if scope == SCOPE_VIDEO:
        changed += _drop_run_records(out, erased.video_ids)
        if options.corpus.snapshot_dir:
            changed += _drop_snapshot_rows(Path(options.corpus.snapshot_dir), erased.video_ids)
    for report in (out / REPORT_DIR, *([Path(options.pack.out) / REPORT_DIR] if options.pack.out else [])):
        if report.is_dir():
            shutil.rmtree(report)
            changed += 1
    return changed


def _drop_rows(path: Path, ids: frozenset[str], column: str = "face_id") -> bool:
    """Rewrite the Parquet table at ``path`` without the rows whose ``column`` is in ``ids`` (schema kept)."""
    table = pq.read_table(path)
    if column not in table.column_names:
        return False
    kept = table.filter(pc.invert(pc.is_in(table[column], value_set=pa.array(sorted(ids), pa.string()))))
    if kept.num_rows == table.num_rows:
        return False
    atomic_write_bytes(path, table_bytes(kept))
    return True


def _drop_pair_rows(options: Options, face_ids: frozenset[str]) -> int:
    """Per-video work naming an erased face as another video's original (a fake's stored masks):
    those rows go wherever the fake's folder is; the number of tables rewritten."""
    changed = 0
    for root in work_roots(options):
        for table in sorted(root.rglob("*.parquet")) if root.is_dir() and face_ids else ():
            if ORIGINAL_FACE in pq.read_schema(table).names:
                changed += _drop_rows(table, face_ids, ORIGINAL_FACE)
    return changed


def _drop_run_records(out: Path, video_ids: frozenset[str]) -> int:
    """Snapshot listings and batch plans (run records, not data) that name an erased video."""
    removed = 0
    for listing in [*(out / SNAPSHOTS_DIR).glob("*.json"), *(out / BATCHES_DIR).glob("*.json")]:
        text = listing.read_text(encoding="utf-8")
        if any(v in text for v in video_ids):
            listing.unlink()
            shutil.rmtree(listing.with_suffix(""), ignore_errors=True)
            removed += 1
    return removed


def _drop_snapshot_rows(folder: Path, video_ids: frozenset[str]) -> int:
    changed = 0
    listing = folder / SNAPSHOT_FILE
    if listing.is_file():
        rows = json.loads(listing.read_text(encoding="utf-8"))
        kept = [r for r in rows if r.get("video_id") not in video_ids]
        if len(kept) < len(rows):
            atomic_write_bytes(listing, json.dumps(kept, indent=1).encode())
            changed += 1
    probe = folder / PROBE_FILE
    return changed + (probe.is_file() and _drop_rows(probe, video_ids, "video_id"))


def drop_erased_rows(folder: Path, erased: Selected, scope: str) -> int:
    """Every top-level Parquet table of ``folder`` (the manifests and any per-face table keyed by a
    ``*face_id*`` column: embeddings, pairs) without the rows naming an erased face (or, scope video,
    an erased video in a ``*video_id*`` column); the number of tables rewritten."""
    changed = 0
    with Publication(Path(folder)) as publication:  # the folder's tables stay one unit (manifests.json)
        for path in sorted(Path(folder).glob("*.parquet")):
            table = pq.read_table(path)
            hit = pa.array([False] * table.num_rows, pa.bool_())  # typed: an empty table's mask is no null array
            for name in table.column_names:
                ids = erased.face_ids if "face_id" in name else erased.video_ids if "video_id" in name and scope == SCOPE_VIDEO else None
                if ids and is_text(table[name].type):
                    hit = pc.or_(hit, pc.fill_null(pc.is_in(table[name], value_set=pa.array(sorted(ids), pa.string())), False))
            if pc.any(hit).as_py():
                publication.write(path.name, table_bytes(table.filter(pc.invert(hit))))
                changed += 1
    return changed


def is_text(kind: pa.DataType) -> bool:
    """Arrow's text types (polars writes large_string or string_view)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
