"""Merge per-video stage results into the dataset manifests (``videos.parquet``, ``faces.parquet``,
``tracks.parquet``), curated: every face with its scores, track, status, identity, split and
original face; and the corpus tables (``embeddings``, ``identities``, ``splits``, ``pairs``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.corpus.snapshot import VideoInput
from pipeline.curate.dataset import Curated, CurationCounts, DatasetCuration
from pipeline.curate.groups import CorpusGroups, Grouped, GroupParams, Previous
from pipeline.curate.masks import aligned_pairs
from pipeline.curate.splits import SplitRatios
from pipeline.curate.video import CuratedVideo, CurateVideos
from pipeline.embedding.registry import same_person_distance
from pipeline.fsutil import publish_tables, table_bytes
from pipeline.records import VideoRecord, to_table
from pipeline.runs.admit import Admission
from pipeline.stages.base import StageCounts
from pipeline.stages.pairing import ALIGNED
from pipeline.stages.video import VideoOutcome, VideoPass
from schemas.manifests import (
    CORPUS_FIELDS,
    CROPS_SCHEMA,
    DETECTIONS_SCHEMA,
    EMBEDDINGS_MANIFEST,
    FACES_MANIFEST,
    FACES_SCHEMA,
    IDENTITIES_MANIFEST,
    IDENTITIES_SCHEMA,
    PAIRS_MANIFEST,
    PAIRS_SCHEMA,
    QUALITY_SCHEMA,
    SPLITS_MANIFEST,
    SPLITS_SCHEMA,
    TRACK_ASSIGNMENTS_SCHEMA,
    TRACKS_MANIFEST,
    TRACKS_SCHEMA,
    VIDEOS_MANIFEST,
    VIDEOS_SCHEMA,
    embeddings_schema,
)

# Each manifest's sort order.
SORT_KEYS = {
    VIDEOS_MANIFEST: ["uri"],
    FACES_MANIFEST: ["video_id", "frame_index", "face_index"],
    TRACKS_MANIFEST: ["video_id", "first_pts_s", "track_id"],
    EMBEDDINGS_MANIFEST: ["face_id"],
    IDENTITIES_MANIFEST: ["identity_id"],
    SPLITS_MANIFEST: ["group_key"],
    PAIRS_MANIFEST: ["video_id", "stream_time_s", "face_id"],
}


def group_params(curate: CurateOptions) -> GroupParams:
    distance = curate.identity_max_distance
    if not distance and curate.embedder != "none":
        distance = same_person_distance(curate.embedder)
    return GroupParams(distance, SplitRatios(curate.split_train, curate.split_val, curate.split_test), curate.reassign_splits)


def curate_and_write(
    out_dir: Path,
    job: VideoPass,
    inputs: list[VideoInput],
    outcomes: list[VideoOutcome],
    curate: CurateOptions,
    admission: Admission | None = None,
) -> tuple[CurationCounts, dict[str, StageCounts]]:
    """Curate every video (stored work reused, missing work done), then the dataset, and write
    the manifests (with ``admission``'s excluded videos as rows, its erased faces left out);
    the curation's counts and its stages' counts."""
    per_video = CurateVideos(job, out_dir, curate)
    curated = [per_video.run_one(o) for o in outcomes]
    whole = DatasetCuration(curate)
    admission = admission or Admission(tuple(inputs))
    excluded = [job.excluded(e.item, e.reason) for e in admission.excluded]
    embedder = per_video.embed.identity.version if per_video.embed else None
    groups = CorpusGroups(group_params(curate))
    deny = admission.deny
    result = write_manifests(out_dir, inputs, outcomes, curated, whole, groups, embedder, excluded, deny.faces, deny.crops)
    return result.counts, {stage.name: stage.counts for stage in (*per_video.stages, *whole.stages)}


def write_manifests(
    out_dir: Path,
    inputs: list[VideoInput],
    outcomes: list[VideoOutcome],
    curated: list[CuratedVideo | None],
    curation: DatasetCuration,
    groups: CorpusGroups,
    embedder: str | None,
    excluded: list[VideoRecord] = (),
    erased_faces: frozenset[str] = frozenset(),
    erased_crops: frozenset[str] = frozenset(),
) -> Curated:
    """Curate, group and write the manifests; a file whose bytes would not change is not rewritten.
    ``excluded``: rows of videos the policy kept out; ``erased_faces``: face ids never to list again;
    ``erased_crops``: crop hashes never to keep (a face whose crop has those bytes, from another
    video with the same frames, say an exact copy, is erased too and its file removed)."""
    records = [o.record(i) for i, o in zip(inputs, outcomes, strict=True)]
    videos = pl.from_arrow(to_table([*records, *excluded], VIDEOS_SCHEMA))
    frames = {o.detect.video_id: o.frames for o in outcomes if o.ok and o.frames is not None}
    faces = _faces(inputs, outcomes, curated)
    embeddings = _embeddings(curated)
    erased_faces = erased_faces | _erased_bytes(Path(out_dir), faces, erased_crops)
    if erased_faces:
        faces, videos = _without_faces(faces, videos, erased_faces)
        embeddings = embeddings.filter(~pl.col("face_id").is_in(list(erased_faces)))
    # Frame-aligned fakes' exact pairs and masks first: the filter reads their difference (unchanged_pair).
    masks = aligned_pairs(Path(out_dir), faces, {o.detect.video_id: o.detect.pair_original_id for o in outcomes if _aligned(o)})
    faces = faces.join(masks.select("face_id", "mask_mean_diff"), on="face_id", how="left", maintain_order="left")
    result = curation.run(faces, videos, frames)
    grouped = groups.run(result.faces, result.videos, embeddings, embedder, Previous.read(out_dir), frames, masks)
    tables = [
        (VIDEOS_MANIFEST, result.videos, VIDEOS_SCHEMA),
        (FACES_MANIFEST, grouped.faces, FACES_SCHEMA),
        (TRACKS_MANIFEST, result.tracks, TRACKS_SCHEMA),
        (IDENTITIES_MANIFEST, grouped.identities, IDENTITIES_SCHEMA),
        (SPLITS_MANIFEST, grouped.splits, SPLITS_SCHEMA),
        (PAIRS_MANIFEST, grouped.pairs, PAIRS_SCHEMA),
        # Always published (empty with curate.embedder none): no stale vectors of an earlier run stay
        # beside new faces, and the curate stage's declared output exists.
        (EMBEDDINGS_MANIFEST, embeddings, embeddings.to_arrow().schema),
    ]
    published = {
        name: table_bytes(frame.sort(SORT_KEYS[name]).to_arrow().select(schema.names).cast(schema)) for name, frame, schema in tables
    }
    # One unit: a reader never sees a new videos beside old faces.
    publish_tables(Path(out_dir), published)
    return _with_groups(result, grouped)


def _aligned(outcome: VideoOutcome) -> bool:
    return outcome.ok and outcome.detect.pair_mode == ALIGNED and outcome.detect.pair_original_id is not None


def _erased_bytes(out_dir: Path, faces: pl.DataFrame, erased_crops: frozenset[str]) -> frozenset[str]:
    """Faces whose crop has an erased crop's bytes: their files go, their ids are returned."""
    if not erased_crops or faces.height == 0:
        return frozenset()
    hit = faces.filter(pl.col("crop_sha256").is_in(sorted(erased_crops)))
    for path in hit["crop_path"].drop_nulls().to_list():
        (out_dir / path).unlink(missing_ok=True)
    return frozenset(hit["face_id"].to_list())


def _with_groups(result: Curated, grouped: Grouped) -> Curated:
    return Curated(grouped.faces, result.videos, result.tracks, replace(result.counts, groups=grouped.counts))


def _embeddings(curated: list[CuratedVideo | None]) -> pl.DataFrame:
    """Every video's stored embeddings, one table (empty, 128-wide, when there are none)."""
    parts = [c.embeddings for c in curated if c is not None and c.embeddings is not None and c.embeddings.num_rows]
    if not parts:
        return pl.from_arrow(embeddings_schema(128).empty_table())
    return pl.from_arrow(pa.concat_tables(parts))


def _without_faces(faces: pl.DataFrame, videos: pl.DataFrame, erased: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Faces less the erased ones (still in stored detect work, or already scrubbed from it); each ok
    video's ``faces_found`` counted from the faces left (its detect record counted them all)."""
    faces = faces.filter(~pl.col("face_id").is_in(list(erased)))
    left = faces.group_by("video_id").agg(pl.len().cast(pl.Int32).alias("_left"))
    ok = pl.col("status") == "ok"
    videos = videos.join(left, on="video_id", how="left").with_columns(
        pl.when(ok).then(pl.col("_left").fill_null(0)).otherwise(pl.col("faces_found")).cast(pl.Int32).alias("faces_found")
    )
    return faces, videos.drop("_left")


def _faces(inputs: list[VideoInput], outcomes: list[VideoOutcome], curated: list[CuratedVideo | None]) -> pl.DataFrame:
    """Detections joined with their crops, quality scores, tracks and corpus fields (faces
    without a crop or curation work are left out: their video failed)."""
    parts = [
        (o.detections, o.crops, c.quality, c.tracks)
        for o, c in zip(outcomes, curated, strict=True)
        if c is not None and o.crops is not None and o.detections.num_rows
    ]
    schemas = (DETECTIONS_SCHEMA, CROPS_SCHEMA, QUALITY_SCHEMA, TRACK_ASSIGNMENTS_SCHEMA)
    tables = [pl.from_arrow(pa.concat_tables([p[k] for p in parts]).cast(s) if parts else s.empty_table()) for k, s in enumerate(schemas)]
    context = pl.DataFrame(
        [{"video_id": i.video_id, "uri": i.entry.uri, **{k: i.entry.fields.get(k) for k in CORPUS_FIELDS}} for i in inputs],
        schema={"video_id": pl.String, "uri": pl.String, **{k: pl.String for k in CORPUS_FIELDS}},
    )
    det, crop, quality, tracks = tables
    return (
        det.join(crop, on="face_id", how="inner")
        .join(quality, on="face_id")
        .join(tracks, on="face_id")
        .join(context, on="video_id", how="left")
    )
