"""``facecorpus gc``: crops and work folders that nothing references any more (``--dry-run`` lists them).

Kept: every crop a manifest row names; every per-video work folder whose stage
and fingerprint the manifests name for its video (``detect_fingerprint``,
``align_fingerprint``) or that the current options' stages would use for a video
of the current corpus (a run in progress: detect, frames, align, quality, tracks,
and any later per-video stage listed in :func:`current_stages`), with the crops
its align work lists; every folder of a stage this module does not know. Orphans:
work of a video no longer in the corpus or no longer admitted, work under an old
fingerprint (after a preset change), crops only such work named, and difference
masks that neither ``pairs.parquet`` nor kept work names.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.alignment.crops import CROPS_DIR
from pipeline.config import Options
from pipeline.curate.masks import MASKS_DIR
from pipeline.curate.video import CurateVideos
from pipeline.privacy.scrub import work_roots
from pipeline.runs.admit import admit
from pipeline.runs.lock import folders_lock
from pipeline.stages.video import VideoPass
from schemas.manifests import FACES_MANIFEST, PAIRS_MANIFEST, VIDEOS_MANIFEST

CROPS_FILE = "crops.parquet"
MASK_PATH = "mask_path"


@dataclass(frozen=True)
class Orphans:
    work: tuple[Path, ...]
    crops: tuple[Path, ...]
    masks: tuple[Path, ...] = ()  # difference masks no pair and no kept work names

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.work, *self.crops, *self.masks)


def current_stages(options: Options) -> dict[str, str]:
    """{stage name: fingerprint} of every per-video stage the current options run."""
    job = VideoPass.build(options.extract)
    stages = (*job.stages[1:], *CurateVideos(job, options.extract.out_dir, options.curate).stages)
    return {stage.name: stage.fingerprint for stage in stages}


def find_orphans(options: Options) -> Orphans:
    out = options.extract.out_dir
    videos = pl.read_parquet(out / VIDEOS_MANIFEST) if (out / VIDEOS_MANIFEST).is_file() else None
    if videos is None:
        raise ValueError(f"{out}: no {VIDEOS_MANIFEST}; gc needs the manifests to know what is referenced")
    current = current_stages(options)
    corpus = {i.video_id for i in admit(options.extract, options.policy).admitted}
    named = {(v, f"{stage}-{fp}") for v, d, a in videos.select("video_id", "detect_fingerprint", "align_fingerprint").rows()
             for stage, fp in (("detect", d), ("frames", None), ("align", a)) if fp}  # fmt: skip
    orphan_work, kept_work = [], []
    for root in work_roots(options):
        for folder in sorted(p for p in root.glob("*/*") if p.is_dir()):
            video_id, name = folder.parent.name, folder.name
            stage, _, fp = name.rpartition("-")
            keep = stage not in current or (video_id, name) in named or (video_id in corpus and current[stage] == fp)
            (kept_work if keep else orphan_work).append(folder)
    referenced = set(pl.read_parquet(out / FACES_MANIFEST, columns=["crop_path"])["crop_path"].to_list())
    for folder in kept_work:
        if (folder / CROPS_FILE).is_file():
            referenced |= set(pl.read_parquet(folder / CROPS_FILE, columns=["crop_path"])["crop_path"].to_list())
    crops = sorted(p for p in (out / CROPS_DIR).rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in referenced)
    return Orphans(tuple(orphan_work), tuple(crops), _orphan_masks(out, kept_work))


def _orphan_masks(out: Path, kept_work: list[Path]) -> tuple[Path, ...]:
    """Mask files that neither pairs.parquet nor a kept work folder's table (a fake's stored masks) names."""
    tables = [out / PAIRS_MANIFEST] if (out / PAIRS_MANIFEST).is_file() else []
    tables += [t for folder in kept_work for t in folder.glob("*.parquet")]
    referenced: set[str] = set()
    for table in tables:
        if MASK_PATH in pq.read_schema(table).names:
            referenced |= set(pl.read_parquet(table, columns=[MASK_PATH])[MASK_PATH].drop_nulls().to_list())
    return tuple(sorted(p for p in (out / MASKS_DIR).rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in referenced))


def collect(options: Options, dry_run: bool = False) -> Orphans:
    """Find the orphans and, unless ``dry_run``, remove them (then the emptied video folders),
    holding the dataset's lock: a run in progress is never swept from under it."""
    if dry_run:
        return find_orphans(options)
    with folders_lock([options.extract.detect_dir, options.extract.out_dir]):
        return _remove(find_orphans(options))


def _remove(orphans: Orphans) -> Orphans:
    for folder in orphans.work:
        shutil.rmtree(folder)
        if folder.parent.is_dir() and not any(folder.parent.iterdir()):
            folder.parent.rmdir()
    for image in (*orphans.crops, *orphans.masks):
        image.unlink()
    return orphans
